"""What was read from a trail copy, ready to be judged: digests, log files, trail changes.

The loaders fill these in (:mod:`loaders.integrity.read`); the verdict
(:mod:`graphtrail.queries.integrity`) and the coverage (:mod:`graphtrail.queries.coverage`)
only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphtrail.families import LOGGING_CHANGE
from graphtrail.integrity.digest import Digest

__all__ = ["TRAIL_CHANGES", "TrailChange", "SeenLog", "DataEvents", "TrailEvidence"]

# Calls that start, stop or narrow what a trail records (cloudtrail.amazonaws.com).
TRAIL_CHANGES = LOGGING_CHANGE.events


@dataclass(frozen=True, slots=True)
class TrailChange:
    """One successful call that changed what a trail logs; the evidence is ``event_id``."""

    event_id: str
    event_name: str
    time: str
    account: str
    region: str
    trail: str
    parameters: dict = field(default_factory=dict, compare=False)
    source: str = ""


@dataclass(slots=True)
class DataEvents:
    """Data events seen for one resource (an S3 bucket, a Lambda function)."""

    account: str
    kind: str
    resource: str
    count: int = 0
    first: str = ""
    last: str = ""

    def add(self, moment: str) -> None:
        self.count += 1
        self.first = min(self.first or moment, moment)
        self.last = max(self.last, moment)


@dataclass(frozen=True, slots=True)
class SeenLog:
    """One log file found in the copy: its hash (of the uncompressed bytes) or a problem.

    ``delivered`` is the epoch second in the file name (minute precision).
    """

    key: str
    uri: str
    account: str
    region: str
    delivered: float | None
    sha256: str | None
    problem: str | None = None
    changes: tuple[TrailChange, ...] = ()
    data_events: tuple[DataEvents, ...] = ()


@dataclass(slots=True)
class TrailEvidence:
    """Everything read from one copy (a folder or a bucket prefix)."""

    label: str
    bucket: str | None
    digests: list[Digest] = field(default_factory=list)
    logs: dict[str, SeenLog] = field(default_factory=dict)
    unreadable_digests: list[dict] = field(default_factory=list)
    bytes_read: int = 0

    def changes(self) -> list[TrailChange]:
        """Every trail change found in the log files, oldest first."""
        return sorted({c for log in self.logs.values() for c in log.changes},
                      key=lambda c: (c.time, c.event_id))
