"""Read one object's bytes within :class:`loaders.limits.Limits`: never more than the limit held.

:func:`read_bounded` opens a local file without following it into a device or a FIFO
(only regular files are read), gunzips as it reads, and returns at most
``max_object_bytes``. An object within the limit costs what it did before (one read, one
decompression); a bigger one is streamed through :class:`FieldCutter`, which truncates every
JSON string longer than ``max_field_bytes`` on the way, so a record holding a 1 GiB user
agent is kept, with its user agent cut and marked.

>>> import gzip
>>> got = read_bounded(None, gzip.compress(b'{"a": "' + b"x" * 100 + b'"}'),
...                    Limits(max_object_bytes=64, max_field_bytes=8))
>>> got.data, got.note
(b'{"a": "xxxxxxxx...[truncated by graphtrail: 100 bytes]"}', '1 text fields over 8 bytes kept truncated (--max-field-kb)')
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zlib
from collections.abc import Iterable, Iterator

from loaders.limits import INPUT_FACTOR, Limits, truncation_marker
from loaders.sources.files import special_kind

try:  # python-isal: ~3x faster gunzip than zlib
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - zlib fallback
    _zlib = zlib  # type: ignore[assignment]

__all__ = ["read_bounded", "Content", "FieldCutter"]

_STEP = 1 << 20  # bytes read, and decompressed, at a time once an object is over its limit
_OUT_STEP = 16 << 20
_IN_STEP = 1 << 16
_QUOTE_OR_ESCAPE = re.compile(rb'["\\]')


def read_bounded(path: str | None, raw: bytes | None, limits: Limits) -> Content:
    """The decompressed content of a file (``path``) or fetched bytes (``raw``).

    Raises :class:`OSError` when the file cannot be opened, or is not a regular file.
    """
    if raw is not None:
        return _whole(raw, limits) or _decode((raw,), raw[:2] == b"\x1f\x8b", limits,
                                              hashlib.sha256(raw), len(raw))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb", buffering=0) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{special_kind(st.st_mode)}, not a regular file: skipped")
        if st.st_size <= limits.max_object_bytes:
            data = _read_all(fh, limits.max_object_bytes + 1)
            whole = _whole(data, limits) if len(data) <= limits.max_object_bytes else None
            if whole is not None:
                return whole
            first = data
        else:
            first = fh.read(_STEP)
        digest = hashlib.sha256()
        counted = _Counted(digest)
        chunks = counted.wrap(_chain(first, iter(lambda: fh.read(_STEP), b"")))
        out = _decode(chunks, first[:2] == b"\x1f\x8b", limits, digest, 0)
        out.raw_size = counted.n
        return out


class Content:
    """What :func:`read_bounded` read: ``data`` (decompressed, within the limits), ``note``
    (what was cut, or why the stream ended early), the sha256 and size of the raw bytes read."""

    __slots__ = ("data", "note", "sha256", "raw_size")

    def __init__(self, data: bytes, note: str | None, sha256: str, raw_size: int) -> None:
        self.data, self.note, self.sha256, self.raw_size = data, note, sha256, raw_size


class _Counted:
    def __init__(self, digest) -> None:
        self.digest, self.n = digest, 0

    def wrap(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for c in chunks:
            self.digest.update(c)
            self.n += len(c)
            yield c


def _whole(raw: bytes, limits: Limits) -> Content | None:
    """The common case in one step: plain text, or one gzip member that unpacks within the
    limit in one bounded call. None sends the object to the streaming path, which also
    salvages what a corrupt stream held before the damage."""
    if raw[:2] != b"\x1f\x8b":
        return Content(raw, None, hashlib.sha256(raw).hexdigest(), len(raw))
    d = _zlib.decompressobj(wbits=47)
    try:
        data = d.decompress(raw, limits.max_object_bytes + 1)
    except (zlib.error, _zlib.error):
        return None
    if not d.eof or d.unused_data or d.unconsumed_tail or len(data) > limits.max_object_bytes:
        return None
    return Content(data, None, hashlib.sha256(raw).hexdigest(), len(raw))


def _read_all(fh, most: int) -> bytes:
    parts, n = [], 0
    while n < most:
        b = fh.read(most - n)
        if not b:
            break
        parts.append(b)
        n += len(b)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


class _Status:
    __slots__ = ("note", "out")

    def __init__(self) -> None:
        self.note: str | None = None
        self.out = 0


def _decode(chunks: Iterable[bytes], gz: bool, limits: Limits, digest, raw_size: int) -> Content:
    status = _Status()
    pieces = _gunzip(chunks, status) if gz else chunks
    limit = limits.max_object_bytes
    held: list[bytes] = []
    n = 0
    cutter: FieldCutter | None = None
    read_in = 0
    for piece in pieces:
        read_in += len(piece)
        if cutter is None:
            if n + len(piece) <= limit:
                held.append(piece)
                n += len(piece)
                continue
            cutter = FieldCutter(limits.max_field_bytes)
            held.reverse()
            while held:  # handed over one piece at a time: never held twice
                cutter.feed(held.pop())
        cutter.feed(piece)
        del piece
        if cutter.size > limit:
            status.note = (f"over {_mib(limit)} decompressed even with long fields cut "
                           f"(--max-object-mb); cut there, the complete records before kept")
            break
        if read_in > INPUT_FACTOR * limit:
            status.note = (f"over {_mib(INPUT_FACTOR * limit)} decompressed (a gzip bomb?); "
                           "reading stopped there, the complete records before kept")
            break
    if cutter is not None:
        data = cutter.value(limit)
        if status.note is None and cutter.cut:
            status.note = (f"{cutter.cut} text fields over {limits.max_field_bytes:,} bytes "
                           "kept truncated (--max-field-kb)")
    else:
        data = held[0] if len(held) == 1 else b"".join(held)
    return Content(data, status.note, digest.hexdigest(), raw_size)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _gunzip(chunks: Iterable[bytes], status: _Status) -> Iterator[bytes]:
    """Decompress gzip members as they arrive; a truncated or corrupt stream ends with a note."""
    d = _zlib.decompressobj(wbits=47)
    out = 0
    try:
        for data in _pieces(chunks):
            while data:
                piece = d.decompress(data, _OUT_STEP)
                out += len(piece)
                if piece:
                    yield piece
                if d.eof:
                    data = d.unused_data.lstrip(b"\x00")
                    if data:
                        d = _zlib.decompressobj(wbits=47)
                    continue
                data = d.unconsumed_tail
                while not data and len(piece) == _OUT_STEP and not d.eof:
                    piece = d.decompress(b"", _OUT_STEP)  # output still buffered
                    out += len(piece)
                    if piece:
                        yield piece
        if not d.eof:
            tail = d.flush()
            out += len(tail)
            if tail:
                yield tail
            status.note = f"truncated gzip: stream ends after {out} decompressed bytes"
    except (zlib.error, _zlib.error) as exc:
        status.note = f"corrupt gzip after {out} decompressed bytes: {exc}"


def _pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compressed input in small steps: a corrupt stream keeps what decoded before the damage."""
    for chunk in chunks:
        for i in range(0, len(chunk), _IN_STEP):
            yield chunk[i:i + _IN_STEP]


class FieldCutter:
    """Stream JSON text through, truncating every string longer than ``limit`` bytes.

    Works on any bytes (not only valid JSON): it only tracks whether it is inside a string.
    A truncated string keeps its first ``limit`` bytes (never half an escape or half a
    UTF-8 character) and ends with :func:`loaders.limits.truncation_marker`.

    >>> c = FieldCutter(4)
    >>> for part in (b'{"ua": "abc', b'defgh\\\\"ij", "n": 1}'):
    ...     c.feed(part)
    >>> c.value(), c.cut
    (b'{"ua": "abcd...[truncated by graphtrail: 12 bytes]", "n": 1}', 1)
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.out: list[bytes] = []
        self.size = 0
        self.cut = 0
        self._in_string = False
        self._escape = False  # the previous chunk ended inside an escape
        self._str: list[bytes] = []  # the string being read, up to limit + a few bytes
        self._str_kept = 0
        self._str_len = 0

    def _emit(self, b: bytes) -> None:
        if b:
            self.out.append(b)
            self.size += len(b)

    def _string_part(self, b: bytes) -> None:
        self._str_len += len(b)
        room = self.limit + 8 - self._str_kept  # a few bytes more: an escape may straddle
        if room > 0:
            part = b[:room]
            self._str.append(part)
            self._str_kept += len(part)

    def _close_string(self) -> None:
        text = b"".join(self._str)
        if self._str_len > self.limit:
            text = _clean_cut(text[: self.limit]) + truncation_marker(self._str_len).encode()
            self.cut += 1
        self._emit(text + b'"')
        self._str, self._str_kept, self._str_len = [], 0, 0
        self._in_string = False

    def feed(self, chunk: bytes) -> None:
        i, n = 0, len(chunk)
        if self._escape and n:
            self._string_part(chunk[:1])
            self._escape = False
            i = 1
        while i < n:
            if not self._in_string:
                j = chunk.find(b'"', i)
                if j < 0:
                    self._emit(chunk[i:])
                    return
                self._emit(chunk[i:j + 1])
                self._in_string = True
                i = j + 1
                continue
            m = _QUOTE_OR_ESCAPE.search(chunk, i)
            if m is None:
                self._string_part(chunk[i:])
                return
            j = m.start()
            if chunk[j] == 0x5C:  # a backslash: it and the next byte belong to the string
                self._string_part(chunk[i:j + 2])
                if j + 1 >= n:
                    self._escape = True
                i = j + 2
            else:
                self._string_part(chunk[i:j])
                self._close_string()
                i = j + 1

    def value(self, most: int | None = None) -> bytes:
        """Everything fed so far (its first ``most`` bytes); a string still open is given as
        far as it was kept. The pieces are released as they are joined."""
        if self._in_string:
            self.out.append(b"".join(self._str)[: self.limit])
            self._str, self._in_string = [], False
        if most is not None:
            n, keep = 0, 0
            for keep, b in enumerate(self.out, 1):  # noqa: B007
                n += len(b)
                if n >= most:
                    break
            del self.out[keep:]
            if n > most:
                self.out[-1] = self.out[-1][: len(self.out[-1]) - (n - most)]
        data = b"".join(self.out)
        self.out, self.size = [data], len(data)
        return data


def _clean_cut(b: bytes) -> bytes:
    """Drop a half escape or a half UTF-8 character at the end of a cut string."""
    k = b.rfind(b"\\", max(0, len(b) - 6))
    if k >= 0:
        run = len(b[:k + 1]) - len(b[:k + 1].rstrip(b"\\"))
        if run % 2 == 1:  # an unfinished escape starts at k
            esc = b[k:]
            if len(esc) < 2 or (esc[1:2] == b"u" and len(esc) < 6):
                b = b[:k]
    i = len(b)
    while i > 0 and len(b) - i < 4 and (b[i - 1] & 0xC0) == 0x80:
        i -= 1
    if i > 0 and b[i - 1] >= 0xC0:  # a lead byte: complete only if all its continuations are here
        need = 2 if b[i - 1] < 0xE0 else 3 if b[i - 1] < 0xF0 else 4
        if len(b) - (i - 1) < need:
            b = b[: i - 1]
    return b
