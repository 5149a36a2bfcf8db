"""Answers as plain values: what ``dataclasses.asdict`` gives, without its deep copies.

An answer holds lists and dicts of strings and numbers (a blast radius cites thousands of
eventIDs); :func:`asdict` copies each value through ``copy.deepcopy``, which costs a large
answer a second. :func:`plain` builds the same structure, copying containers only.

>>> from dataclasses import dataclass, asdict
>>> @dataclass
... class A:
...     x: list
...     y: dict
...     z: tuple = (1, "a")
>>> a = A([1, {"b": [2.5, None]}], {"k": True})
>>> plain(a) == asdict(a) and plain(a)["x"] is not a.x
True
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

__all__ = ["plain"]

_ATOMS = (str, int, float, bool, type(None))


def plain(obj: Any) -> Any:
    """``obj`` as :func:`dataclasses.asdict` makes it (dataclasses to dicts, containers copied)."""
    t = type(obj)
    if t in _ATOMS:
        return obj
    # atoms are their own copy: not a call each (an answer holds hundreds of thousands)
    if t is list:
        return [v if type(v) in _ATOMS else plain(v) for v in obj]
    if t is dict:
        return {k if type(k) in _ATOMS else plain(k): v if type(v) in _ATOMS else plain(v)
                for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if t is tuple:
        return tuple(plain(v) for v in obj)
    return copy.deepcopy(obj)  # anything else, as asdict does (a namedtuple, a set...)
