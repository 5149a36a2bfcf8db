"""AWS's published address ranges: is an address inside AWS?

The package ships a small dated snapshot (``aws_ip_ranges.json``, a documented subset);
``refresh`` downloads the whole list to the user's cache, which is preferred when present,
and ``--aws-ip-ranges FILE`` overrides both. Only a complete list may call an address
*outside* AWS; with the subset, :attr:`AwsRanges.complete` is False and rules say so.
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AwsRanges", "load_aws_ranges", "refresh", "URL", "cache_path", "ranges_file",
           "ranges_digest"]

URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
_SNAPSHOT = Path(__file__).with_name("aws_ip_ranges.json")


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "graphtrail" / "ip-ranges.json"


@dataclass
class AwsRanges:
    source: str
    date: str
    complete: bool
    _v4: list[tuple[int, int, str]]  # (first, last, "region service"), sorted

    def where(self, ip: str) -> str | None:
        """``"us-east-1 EC2"`` for an AWS address, None otherwise (or not an address)."""
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if a.version != 4:
            return None
        n = int(a)
        i = bisect.bisect_right(self._v4, (n, 2**32, "")) - 1
        if i >= 0 and self._v4[i][0] <= n <= self._v4[i][1]:
            return self._v4[i][2]
        return None


def ranges_file(path: str | Path | None = None) -> Path:
    """The file :func:`load_aws_ranges` reads: ``path``, else the refreshed cache, else the
    shipped snapshot."""
    return Path(path) if path else (cache_path() if cache_path().is_file() else _SNAPSHOT)


def ranges_digest(path: str | Path | None = None) -> str:
    """A hash of the bytes of the ranges in use (``"unreadable"`` when they cannot be read:
    the rules then say so themselves)."""
    try:
        return hashlib.sha256(ranges_file(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def load_aws_ranges(path: str | Path | None = None) -> AwsRanges:
    """The ranges of ``path``, else the refreshed cache, else the shipped snapshot.

    Raises ``ValueError`` naming the file when it is not an ip-ranges.json.
    """
    p = ranges_file(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        prefixes = doc["prefixes"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{p}: not an AWS ip-ranges.json ({e})") from e
    v4 = []
    for n, pre in enumerate(prefixes):
        try:
            net = ipaddress.ip_network(pre["ip_prefix"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{p}: prefix #{n + 1} is not an IPv4 network ({e})") from e
        if net.version == 4:
            v4.append((int(net.network_address), int(net.broadcast_address),
                       f"{pre.get('region', '?')} {pre.get('service', '?')}"))
    v4 = _disjoint(v4)
    source = ("graphtrail's shipped snapshot" if p == _SNAPSHOT
              else "the refreshed copy (--refresh-aws-ip-ranges)" if not path else str(path))
    return AwsRanges(source, str(doc.get("createDate", "?")), bool(doc.get("complete", True)), v4)


def refresh(url: str = URL, dest: Path | None = None, timeout: float = 30) -> Path:
    """Download the published list to the cache (atomically); returns where it went."""
    dest = dest or cache_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (fixed https URL)
        data = r.read()
    doc = json.loads(data)
    if "prefixes" not in doc:
        raise ValueError(f"{url}: not an AWS ip-ranges.json")
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return dest


def _disjoint(ranges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping prefixes (AMAZON holds EC2's) merged, so one bisect answers."""
    out: list[tuple[int, int, str]] = []
    for lo, hi, what in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            plo, phi, pwhat = out[-1]
            out[-1] = (plo, max(phi, hi), pwhat)
        else:
            out.append((lo, hi, what))
    return out
