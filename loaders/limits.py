"""How much of one input graphtrail will hold: the bounds that keep hostile input cheap.

A CloudTrail file is small (S3 delivery objects are a few MB); an input that is not is an
export, a mistake or an attack. Every bound is configurable, from the CLI (``graphtrail
ingest --max-object-mb ...``) or the environment (``GRAPHTRAIL_MAX_OBJECT_MB``,
``GRAPHTRAIL_MAX_FIELD_KB``).

* ``max_object_bytes``: decompressed bytes of one object held for parsing. A bigger object is
  streamed first with every text longer than ``max_field_bytes`` cut on the way; if it is
  still too big it is cut there and the complete records before the cut are kept.
  Reading stops after ``INPUT_FACTOR`` times that much decompressed input (a gzip bomb).
* ``max_field_bytes``: one text field (user agent, ARN, a request's parameters...). A longer
  one is kept truncated, with a marker that says so and gives its original size.

Nesting needs no limit of its own: a record nested deeper than the JSON parser goes (about a
thousand levels) is rejected and reported with its file and position, and the complete
records before it are kept.

>>> Limits().max_field_bytes
65536
>>> Limits.from_env({"GRAPHTRAIL_MAX_OBJECT_MB": "8"}).max_object_bytes
8388608
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Limits", "INPUT_FACTOR", "truncation_marker"]

INPUT_FACTOR = 16  # decompressed input read per object, in multiples of max_object_bytes

_ENV = {
    "max_object_bytes": ("GRAPHTRAIL_MAX_OBJECT_MB", 1 << 20),
    "max_field_bytes": ("GRAPHTRAIL_MAX_FIELD_KB", 1 << 10),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one object and one field (see the module docstring)."""

    max_object_bytes: int = 128 << 20
    max_field_bytes: int = 64 << 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: int | None) -> Limits:
        """Defaults, overridden by the environment, overridden by ``given`` (CLI options,
        already in bytes); a value that is not a positive integer is a :class:`ValueError`."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for name, (var, unit) in _ENV.items():
            raw = env.get(var)
            if raw is not None and raw.strip():
                try:
                    values[name] = int(raw) * unit
                except ValueError as exc:
                    raise ValueError(f"{var}={raw!r}: expected a whole number") from exc
            if given.get(name) is not None:
                values[name] = int(given[name])  # type: ignore[arg-type]
        for name, v in values.items():
            if v <= 0:
                raise ValueError(f"limit {name} must be positive, got {v}")
        return cls(**values)


def truncation_marker(original_bytes: int) -> str:
    """What ends a truncated field.

    >>> truncation_marker(1073741824)
    '...[truncated by graphtrail: 1073741824 bytes]'
    """
    return f"...[truncated by graphtrail: {original_bytes} bytes]"
