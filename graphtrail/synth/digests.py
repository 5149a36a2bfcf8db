"""Signed CloudTrail digest chains for test trails, in the real layout and fields.

:func:`write_signed_digests` writes, for every account and region of a set of log files,
one digest file an hour listing the files delivered in that hour (an hour with none gets a
digest with empty ``logFiles``, as CloudTrail writes), each signed with an RSA key of the
caller's and chained to the previous digest. Hours when logging was stopped get no digest,
and the first digest after them starts a new chain (null ``previousDigest*`` fields). The
signatures are returned for S3 object metadata and, with ``sidecars=True``, written beside
each digest as ``<name>.metadata.json`` in the shape ``aws s3api head-object`` prints.
:func:`public_keys_json` is the matching ``aws cloudtrail list-public-keys`` output.

>>> import tempfile
>>> from graphtrail.synth.delivery import write_log_file
>>> key = signing_key()
>>> with tempfile.TemporaryDirectory() as root:
...     log = write_log_file(root, "AWSLogs/111122223333/CloudTrail/us-east-1/2024/06/01/"
...         "111122223333_CloudTrail_us-east-1_20240601T0010Z_abc.json.gz",
...         [{"eventTime": "2024-06-01T00:04:00Z"}])
...     signed = write_signed_digests(root, [log], key)
>>> [s.key.rsplit("_", 1)[-1] for s in signed]
['20240601T010000Z.json.gz']
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from graphtrail.integrity.digest import SIGNATURE_ALGORITHM, parse_digest, sign_digest
from graphtrail.synth import records as R
from graphtrail.synth.delivery import BUCKET, TRAIL_NAME, LogFile, log_object_key, write_log_file

try:  # python-isal: faster gzip
    from isal.igzip import compress as _gzip
except ImportError:  # pragma: no cover
    from gzip import compress as _gzip

__all__ = ["SignedDigest", "signing_key", "fingerprint", "public_keys_json",
           "write_signed_digests", "deliver_records", "HOUR"]

HOUR = 3600
_STAMP = re.compile(r"_(\d{8}T\d{4})Z_")


@dataclass(frozen=True, slots=True)
class SignedDigest:
    """A digest file written: its key, account, region and the metadata S3 would hold."""

    key: str
    account: str
    region: str
    end: str
    signature: str
    log_files: tuple[str, ...]

    @property
    def metadata(self) -> dict[str, str]:
        return {"signature": self.signature, "signature-algorithm": SIGNATURE_ALGORITHM}


def signing_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key, the size CloudTrail's keys have."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _der(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.PKCS1)


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    """The hex fingerprint test keys are listed under (MD5 of the DER public key)."""
    return hashlib.md5(_der(key)).hexdigest()


def public_keys_json(key: rsa.RSAPrivateKey, valid_from: int, valid_to: int, *,
                     cli: int = 2) -> dict:
    """What ``aws cloudtrail list-public-keys`` prints for ``key`` (CLI v1 or v2 times)."""
    import base64

    def stamp(t: int):
        return float(t) if cli == 1 else time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))

    return {"PublicKeyList": [{"Value": base64.b64encode(_der(key)).decode(),
                               "ValidityStartTime": stamp(valid_from),
                               "ValidityEndTime": stamp(valid_to),
                               "Fingerprint": fingerprint(key)}]}


def delivered_at(key: str) -> int:
    """The delivery time (epoch) in a log file's name."""
    match = _STAMP.search(key.rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"{key}: no delivery time in the file name")
    return calendar.timegm(time.strptime(match.group(1), "%Y%m%dT%H%M"))


def write_signed_digests(
    root: str | os.PathLike[str],
    files: Sequence[LogFile],
    private_key: rsa.RSAPrivateKey,
    *,
    org_id: str | None = None,
    bucket: str = BUCKET,
    trail: str = TRAIL_NAME,
    home_region: str = "us-east-1",
    start: int | None = None,
    end: int | None = None,
    stopped: Iterable[tuple[int, int]] = (),
    sidecars: bool = True,
) -> list[SignedDigest]:
    """Write the hourly signed digest chain of ``files``; see the module docstring.

    ``start``/``end`` (epoch, whole hours) bound the hours digested (default: the hours of
    the files); ``stopped`` holds (from, to) epoch windows when logging was off.
    """
    by_pair: dict[tuple[str, str], dict[int, list[LogFile]]] = defaultdict(lambda: defaultdict(list))
    for f in files:
        t = delivered_at(f.key)
        by_pair[(f.account, f.region)][t - t % HOUR].append(f)
    hours = [h for per in by_pair.values() for h in per]
    first = start if start is not None else min(hours, default=0)
    last = end if end is not None else max(hours, default=-HOUR) + HOUR
    off = [(lo, hi) for lo, hi in stopped]
    written = []
    for (acct, region), per_hour in sorted(by_pair.items()):
        previous: tuple[str, str, str, str] | None = None  # key, sha256, signature, end
        for hour in range(first, last, HOUR):
            if any(lo <= hour < hi for lo, hi in off):
                previous = None
                continue
            digest = _digest(acct, region, hour, per_hour.get(hour, []), previous, org_id,
                             bucket, trail, home_region, fingerprint(private_key))
            data = msgspec.json.encode(digest)
            signature = sign_digest(parse_digest(data, digest["digestS3Object"]), private_key)
            path = Path(root, digest["digestS3Object"])
            path.parent.mkdir(parents=True, exist_ok=True)
            blob = _gzip(data, 1, mtime=0)
            path.write_bytes(blob)
            signed = SignedDigest(digest["digestS3Object"], acct, region, digest["digestEndTime"],
                                  signature, tuple(f.key for f in per_hour.get(hour, [])))
            if sidecars:
                _write_sidecar(path, blob, signed)
            previous = (signed.key, hashlib.sha256(data).hexdigest(), signature, signed.end)
            written.append(signed)
    return written


def _digest(acct: str, region: str, hour: int, group: list[LogFile], previous, org_id,
            bucket: str, trail: str, home_region: str, fp: str) -> dict:
    end = hour + HOUR
    prefix = f"AWSLogs/{org_id}/{acct}" if org_id else f"AWSLogs/{acct}"
    key = (f"{prefix}/CloudTrail-Digest/{region}/{time.strftime('%Y/%m/%d', time.gmtime(end))}/"
           f"{acct}_CloudTrail-Digest_{region}_{trail}_{home_region}_"
           f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(end))}.json.gz")
    prev_key, prev_sha, prev_sig, prev_end = previous or (None, None, None, None)
    return {
        "awsAccountId": acct,
        "digestStartTime": prev_end or R.iso(hour),
        "digestEndTime": R.iso(end),
        "digestS3Bucket": bucket,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": fp,
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
        "newestEventTime": max((f.newest for f in group), default=None),
        "oldestEventTime": min((f.oldest for f in group), default=None),
        "previousDigestS3Bucket": bucket if prev_key else None,
        "previousDigestS3Object": prev_key,
        "previousDigestHashValue": prev_sha,
        "previousDigestHashAlgorithm": "SHA-256" if prev_key else None,
        "previousDigestSignature": prev_sig,
        "logFiles": [{"s3Bucket": bucket, "s3Object": f.key, "hashValue": f.sha256,
                      "hashAlgorithm": "SHA-256", "newestEventTime": f.newest,
                      "oldestEventTime": f.oldest} for f in sorted(group, key=lambda f: f.key)],
    }


def _write_sidecar(path: Path, blob: bytes, signed: SignedDigest) -> None:
    head = {"AcceptRanges": "bytes", "LastModified": signed.end.replace("Z", "+00:00"),
            "ContentLength": len(blob), "ETag": f'"{hashlib.md5(blob).hexdigest()}"',
            "ContentType": "application/json", "ServerSideEncryption": "AES256",
            "Metadata": signed.metadata}
    path.with_name(path.name + ".metadata.json").write_text(json.dumps(head, indent=4))


def deliver_records(root: str | os.PathLike[str], records: Iterable[dict],
                    org_id: str | None = None, *, every: int = 900) -> list[LogFile]:
    """Write ``records`` as CloudTrail would: one gzip file per account, region and
    ``every`` seconds, delivered within the same hour."""
    slots: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    for rec in records:
        t = calendar.timegm(time.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ"))
        slots[(rec["recipientAccountId"], rec["awsRegion"], t - t % every)].append(rec)
    files = []
    for (acct, region, slot), recs in sorted(slots.items()):
        recs.sort(key=lambda r: r["eventTime"])
        delivered = slot + every - 60
        suffix = hashlib.sha256(f"{acct}{region}{slot}".encode()).hexdigest()[:16]
        files.append(write_log_file(root, log_object_key(acct, region, delivered, suffix, org_id), recs))
    return files
