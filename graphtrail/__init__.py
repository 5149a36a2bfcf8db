"""graphtrail: session-precise attack-path analysis for AWS CloudTrail.

>>> import graphtrail
>>> callable(graphtrail.open_case)
True
"""

__version__ = "0.1.0"

__all__ = ["open_case", "__version__"]


def open_case(path=None, *, create: bool = False):
    """Open a case for questions from Python (see :mod:`graphtrail.api`); ``./graphtrail-case``
    when no path is given."""
    from graphtrail.api import open_case as _open

    return _open(create=create) if path is None else _open(path, create=create)
