"""Findings kept beside the graph build they were computed from.

Running the catalogue over a case reads every call (a few seconds at a million calls); an
investigator runs it again and again: ``graphtrail findings``, then a ``report`` for each
key of the incident, each time with the same case and the same tuning. The findings of one
run are kept in the folder of the graph build they read (``<case>/.graph-<n>-<id>/findings/``),
named by a hash of everything that decides them:

* graphtrail's source (the catalogue's code, whatever the version number says);
* the window (``since``, ``until``) and the rules asked for;
* the config's thresholds and severities, and the organization's accounts given;
* the bytes of AWS's address ranges in use (a file given, the refreshed copy, the snapshot).

A new graph build is a new folder, so findings of older events are never read back. What
changes from one day to the next (a suppression's expiry) and what only filters
(``--min-severity``) are applied after reading. Runs with Sigma rules are not kept (their
rules are files that can change under the same name). A folder that cannot be written (a
case on read-only media) only means the next run computes again.

>>> key = cache_key({"since": None, "until": None})
>>> len(key), key == cache_key({"until": None, "since": None})
(32, True)
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, fields
from functools import cache
from pathlib import Path

import msgspec

from graphtrail.queries.findings.base import Finding

__all__ = ["cache_key", "load_findings", "save_findings", "code_digest", "FOLDER", "can_keep",
           "is_kept"]

FOLDER = "findings"
_FIELDS = frozenset(f.name for f in fields(Finding))


def cache_key(parts: dict) -> str:
    """A hash of ``parts`` (JSON-able; key order does not count)."""
    text = json.dumps(parts, sort_keys=True, default=sorted)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _folder(store) -> Path | None:
    """The graph build's folder of an embedded store; None for a server (or no case)."""
    case = getattr(store, "case", None)
    if getattr(store, "backend", None) != "memory" or case is None:
        return None
    return case.graph_dir() / FOLDER


def is_kept(store, key: str) -> bool:
    """Findings are kept under ``key`` (readable or not)."""
    folder = _folder(store)
    return folder is not None and (folder / f"{key}.json").is_file()


def can_keep(store) -> bool:
    """The store keeps findings and its build's folder can be written."""
    folder = _folder(store)
    if folder is None:
        return False
    target = folder if folder.is_dir() else folder.parent
    return os.access(target, os.W_OK | os.X_OK)


def load_findings(store, key: str) -> list[Finding] | None:
    """The findings kept under ``key``, new objects each call; None when there are none
    (or they cannot be read: then they are computed again)."""
    folder = _folder(store)
    if folder is None:
        return None
    try:
        rows = msgspec.json.decode((folder / f"{key}.json").read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and r.keys() == _FIELDS for r in rows):
        return None  # not what this version writes: computed again
    return [Finding(**row) for row in rows]


def save_findings(store, key: str, found: list[Finding]) -> None:
    """Keep ``found`` under ``key``: written whole to a temporary file, then renamed, so a
    reader sees all of it or nothing."""
    folder = _folder(store)
    if folder is None:
        return
    tmp = folder / f".{key}-{uuid.uuid4().hex}.tmp"  # the case's own file mode (umask)
    try:
        folder.mkdir(exist_ok=True)
        try:
            with open(tmp, "xb") as fh:
                fh.write(msgspec.json.encode([asdict(f) for f in found]))
            os.replace(tmp, folder / f"{key}.json")
        finally:
            tmp.unlink(missing_ok=True)
    except OSError:
        return  # read-only media, or the build replaced meanwhile: computed again next time


@cache
def code_digest() -> str:
    """A hash of graphtrail's own source: findings kept by another version, or by a checkout
    whose code changed since (a rule edited), are not read back."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[2]  # the graphtrail package
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()
