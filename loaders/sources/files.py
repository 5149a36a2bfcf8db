"""Local files and folders (recursively), and ``-`` for standard input."""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from loaders.sources.base import SourceError, SourceObject

__all__ = ["list_files", "kind_of", "special_kind"]

# Suffixes read when walking a folder (.parquet: Security Lake); a file named explicitly is
# always read. Files with no
# extension at all are read too: Kinesis Firehose names its S3 objects without one, and a
# file that turns out not to be JSON is reported, never silently passed over.
_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".log",
             ".log.gz", ".gz", ".txt", ".parquet")


def kind_of(path: str) -> str:
    """``digest`` for CloudTrail-Digest files, ``insights`` for Insights, else ``trail``.

    >>> kind_of("AWSLogs/o-1/111122223333/CloudTrail-Digest/us-east-1/2024/01/01/x.json.gz")
    'digest'
    >>> kind_of("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/01/x.json.gz")
    'trail'
    """
    p = path.replace("\\", "/")
    if "/CloudTrail-Digest/" in p or "_CloudTrail-Digest_" in p:
        return "digest"
    if "/CloudTrail-Insight/" in p or "_CloudTrail-Insight_" in p:
        return "insights"
    return "trail"


def list_files(paths: Iterable[str]) -> Iterator[SourceObject]:
    """Yield every file under ``paths`` in a stable (sorted) order.

    Symbolic links to folders are followed, each real folder once (a loop is reported, not
    walked forever). What must not be read is yielded with a ``problem`` and reported as a
    failed object: a dangling link, a FIFO, a device, a socket, a folder that cannot be listed.
    Raises :class:`SourceError` for a path that does not exist.
    """
    for p in paths:
        if p == "-":
            yield SourceObject(uri="<stdin>", fetch=sys.stdin.buffer.read)
            continue
        path = Path(p)
        if path.is_dir():
            yield from _walk(path, set(), frozenset())
        elif path.exists() or path.is_symlink():
            yield _object(path)
        else:
            raise SourceError(f"{p}: no such file or folder")


def _walk(folder: Path, seen: set[tuple[int, int]],
          above: frozenset[tuple[int, int]]) -> Iterator[SourceObject]:
    """Walk ``folder``; ``seen`` are the folders already read, ``above`` those it is inside."""
    try:
        st = folder.stat()
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield _problem(folder, f"cannot list this folder: {exc.strerror or exc}")
        return
    ident = (st.st_dev, st.st_ino)
    if ident in above:
        yield _problem(folder, "a symbolic link loop (a link to a folder it is in): skipped")
        return
    if ident in seen:
        return  # reached again through another link: its files are read once
    seen.add(ident)
    above = above | {ident}
    for e in entries:
        if e.name.startswith("."):
            continue
        sub = Path(e.path)
        try:
            is_dir = e.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk(sub, seen, above)
        elif _wanted(e.name):
            yield _object(sub)


def _problem(path: Path, why: str) -> SourceObject:
    return SourceObject(uri=str(path), problem=why, kind=kind_of(str(path)))


def _wanted(name: str) -> bool:
    """Whether a file met while walking a folder is read.

    A digest's ``.metadata.json`` sidecar (its S3 metadata, for ``graphtrail verify``) is not
    a log file.

    >>> [_wanted(n) for n in ("x.json.gz", "X.JSONL", "stream-1-2024-08-01-13-45-00-ab12", "notes.md")]
    [True, True, True, False]
    >>> [_wanted(n) for n in ("logs-insights-results (3).csv", "data.csv", "part-0.zstd.parquet")]
    [True, False, True]
    >>> _wanted("1_CloudTrail-Digest_us-east-1_t_us-east-1_20240601T010000Z.json.gz.metadata.json")
    False
    """
    lower = name.lower()
    if lower.endswith(".metadata.json") and "_cloudtrail-digest_" in lower:
        return False
    if lower.startswith("logs-insights-results") and lower.endswith(".csv"):
        return True  # the console's Logs Insights export, by its default name; other CSV is not
    return lower.endswith(_SUFFIXES) or "." not in name


def _object(path: Path) -> SourceObject:
    s = str(path)
    try:
        st = path.stat()
    except OSError as exc:
        if path.is_symlink():
            why = ("a symbolic link loop" if exc.errno == errno.ELOOP
                   else f"a dangling symbolic link (to {os.readlink(path)})")
            return _problem(path, f"{why}: skipped")
        return _problem(path, f"cannot read: {exc.strerror or exc}")
    if not stat.S_ISREG(st.st_mode):
        return _problem(path, f"{special_kind(st.st_mode)}, not a regular file: skipped")
    return SourceObject(uri=s, size=st.st_size, path=s, kind=kind_of(s))


def special_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a file"
