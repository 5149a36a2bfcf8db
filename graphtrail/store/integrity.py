"""The integrity and coverage verdict kept beside a case: ``integrity.json``.

``graphtrail verify --case`` writes it; ``case info``, the report and the coverage question
read it. It sits beside the case's manifest, never inside it, so the case format is
unchanged and a case without it simply has not been verified. The file maps each source
object of the manifest (by uri) to its integrity status, and keeps the summaries, the
problems found, and the hours CloudTrail delivered something.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> load_integrity(d) is None
True
>>> save_integrity(d, {"objects": {"a.json.gz": "verified"}})["format"]
1
>>> integrity_line(load_integrity(d), [{"uri": "a.json.gz", "kind": "trail"}])
'1 of 1 files verified against signed digests, 0 hours unlogged'
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["INTEGRITY_FILE", "save_integrity", "load_integrity", "integrity_line",
           "object_status"]

INTEGRITY_FILE = "integrity.json"
FORMAT = 1


def save_integrity(case_path: str | os.PathLike[str], payload: dict) -> dict:
    """Write ``payload`` (objects, sources, problems, coverage) atomically; returns it."""
    payload = {"format": FORMAT, "verified_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               **payload}
    path = Path(case_path) / INTEGRITY_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return payload


def load_integrity(case_path: str | os.PathLike[str]) -> dict | None:
    """The stored verdict, or ``None`` when the case was never verified."""
    path = Path(case_path) / INTEGRITY_FILE
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return {"format": FORMAT, "error": f"{path}: unreadable"}
    return obj if isinstance(obj, dict) else None


def object_status(stored: dict | None, uri: str) -> str:
    """The integrity status of one source object: ``verified``, ``modified``..., or
    ``not verified`` when the case was never verified or the object was not checked."""
    if not stored:
        return "not verified"
    return (stored.get("objects") or {}).get(uri, "not verified")


def integrity_line(stored: dict | None, manifest: list[dict]) -> str:
    """"N of M files verified against signed digests, K hours unlogged" for ``case info``."""
    if stored is None:
        return "not verified (run `graphtrail verify --case DIR`)"
    if stored.get("error"):
        return stored["error"]
    logs = [m["uri"] for m in manifest if m.get("kind", "trail") == "trail"]
    verified = sum(1 for uri in logs if object_status(stored, uri) == "verified")
    hours = (stored.get("coverage") or {}).get("unlogged_hours", 0)
    return f"{verified} of {len(logs)} files verified against signed digests, {hours} hours unlogged"
