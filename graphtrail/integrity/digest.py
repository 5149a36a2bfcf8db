"""What a CloudTrail digest file says, and how its signature is checked.

CloudTrail writes, every hour and for each account and region of a trail, a digest file
(``AWSLogs/[o-org/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/
ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ.json.gz``) that lists
the log files delivered in that hour with the SHA-256 of each (uncompressed), and the
hash and signature of the previous digest file. The digest's own signature travels
outside the file, as S3 object metadata (``x-amz-meta-signature``, hex;
``x-amz-meta-signature-algorithm``, ``SHA256withRSA``).

The signed text is four lines joined by ``\\n``: ``digestEndTime``,
``digestS3Bucket/digestS3Object``, the hex SHA-256 of the uncompressed digest file and
``previousDigestSignature`` (the literal ``null`` for the first digest of a chain). It is
signed with RSA PKCS#1 v1.5 over SHA-256 by a per-region key; the public key is the DER
``RSAPublicKey`` that ``cloudtrail:ListPublicKeys`` returns beside the ``Fingerprint``
that the digest names in ``digestPublicKeyFingerprint``.

>>> d = parse_digest(b'{"digestEndTime": "2024-06-01T01:00:00Z", "digestS3Bucket": "b",'
...                  b' "digestS3Object": "AWSLogs/1/CloudTrail-Digest/x.json.gz",'
...                  b' "previousDigestSignature": null, "logFiles": []}', "x")
>>> signing_string(d).decode().splitlines()[::3]
['2024-06-01T01:00:00Z', 'null']
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "SIGNATURE_ALGORITHM",
    "DigestFormatError",
    "ListedLog",
    "Digest",
    "PublicKey",
    "parse_digest",
    "signing_string",
    "signature_verifies",
    "sign_digest",
    "parse_public_keys",
    "aws_logs_key",
    "epoch",
]

SIGNATURE_ALGORITHM = "SHA256withRSA"


class DigestFormatError(ValueError):
    """A digest file or a public-key list is not what CloudTrail writes; names the file."""


@dataclass(frozen=True, slots=True)
class ListedLog:
    """One entry of a digest's ``logFiles``: where the log was delivered and its hash."""

    bucket: str
    key: str
    sha256: str
    oldest: str | None
    newest: str | None


@dataclass(frozen=True, slots=True)
class Digest:
    """One digest file as read, with the signature found in its object metadata.

    ``sha256`` is the hash of the uncompressed file as read; ``signature`` is ``None``
    when no metadata was available (an ``aws s3 sync`` copy without sidecar).
    """

    where: str
    bucket: str
    key: str
    start: str
    end: str
    fingerprint: str | None
    algorithm: str | None
    previous_bucket: str | None
    previous_key: str | None
    previous_sha256: str | None
    previous_signature: str | None
    logs: tuple[ListedLog, ...]
    sha256: str
    signature: str | None = None
    signature_algorithm: str | None = None
    account: str = ""
    region: str = ""
    trail: str = ""
    backfill: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def chain(self) -> tuple[str, str, str]:
        """The digests that link to each other: one account, region and trail."""
        return (self.account, self.region, self.trail)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One key of ``cloudtrail list-public-keys``: DER bytes and when it signed."""

    fingerprint: str
    der: bytes
    valid_from: float | None
    valid_to: float | None

    def covers(self, moment: float) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and (
            self.valid_to is None or moment <= self.valid_to
        )


_REQUIRED = ("digestEndTime", "digestS3Bucket", "digestS3Object", "previousDigestSignature")


def parse_digest(
    inflated: bytes, where: str, metadata: dict[str, str] | None = None
) -> Digest:
    """Read an uncompressed digest file; ``metadata`` is its S3 user metadata, if known.

    Raises :class:`DigestFormatError` naming ``where`` when the file is not a digest.
    """
    try:
        obj = msgspec.json.decode(inflated)
    except msgspec.DecodeError as exc:
        raise DigestFormatError(f"{where}: not a JSON digest file: {exc}") from exc
    if not isinstance(obj, dict) or any(k not in obj for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(obj, dict) or k not in obj]
        raise DigestFormatError(f"{where}: not a CloudTrail digest (no {', '.join(missing)})")
    logs = []
    for i, entry in enumerate(obj.get("logFiles") or ()):
        if not isinstance(entry, dict) or not entry.get("s3Object") or not entry.get("hashValue"):
            raise DigestFormatError(f"{where}: logFiles[{i}] has no s3Object or hashValue")
        logs.append(ListedLog(entry.get("s3Bucket") or "", entry["s3Object"],
                              str(entry["hashValue"]).lower(), entry.get("oldestEventTime"),
                              entry.get("newestEventTime")))
    meta = {k.lower(): v for k, v in (metadata or {}).items()}
    key = obj["digestS3Object"]
    name = key.rsplit("/", 1)[-1]
    account, region, trail = _name_parts(name)
    return Digest(
        where=where,
        bucket=obj["digestS3Bucket"],
        key=key,
        start=obj.get("digestStartTime") or "",
        end=obj["digestEndTime"],
        fingerprint=obj.get("digestPublicKeyFingerprint"),
        algorithm=obj.get("digestSignatureAlgorithm"),
        previous_bucket=obj.get("previousDigestS3Bucket"),
        previous_key=obj.get("previousDigestS3Object"),
        previous_sha256=obj.get("previousDigestHashValue"),
        previous_signature=obj.get("previousDigestSignature"),
        logs=tuple(logs),
        sha256=hashlib.sha256(inflated).hexdigest(),
        signature=meta.get("signature"),
        signature_algorithm=meta.get("signature-algorithm"),
        account=obj.get("awsAccountId") or account,
        region=region,
        trail=trail,
        backfill="_backfill" in name,
    )


def _name_parts(name: str) -> tuple[str, str, str]:
    """Account, region and trail name from a digest file name.

    >>> _name_parts("111122223333_CloudTrail-Digest_eu-west-1_org_trail_us-east-1_20240601T010000Z.json.gz")
    ('111122223333', 'eu-west-1', 'org_trail')
    >>> _name_parts("1_CloudTrail-Digest_eu-west-1_t_us-east-1_20240601T010000Z_backfill.json.gz")[2]
    't'
    """
    account, _, rest = name.partition("_CloudTrail-Digest_")
    region, _, rest = rest.partition("_")
    trail = rest.rsplit("_", 1)[0] if "_" in rest else ""
    if trail.endswith("Z") and "_" in trail and trail.rsplit("_", 1)[1][:8].isdigit():
        trail = trail.rsplit("_", 1)[0]  # a backfill name ends _STAMP_backfill
    return account, region, trail.rsplit("_", 1)[0]  # TRAIL_HOMEREGION: no "_" in a region


def signing_string(d: Digest) -> bytes:
    """The bytes CloudTrail signs for digest ``d``."""
    previous = d.previous_signature if d.previous_signature is not None else "null"
    return f"{d.end}\n{d.bucket}/{d.key}\n{d.sha256}\n{previous}".encode()


def signature_verifies(d: Digest, key: PublicKey) -> bool:
    """Whether ``d.signature`` is a valid SHA256withRSA signature by ``key``."""
    if not d.signature:
        return False
    try:
        signature = bytes.fromhex(d.signature)
        public = _public_key(key.der)
    except ValueError:
        return False
    if not isinstance(public, rsa.RSAPublicKey):
        return False
    try:
        public.verify(signature, signing_string(d), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@lru_cache(maxsize=64)
def _public_key(der: bytes):
    """A DER public key loaded once: a trail has one key a region for months."""
    return serialization.load_der_public_key(der)


def sign_digest(d: Digest, private_key: rsa.RSAPrivateKey) -> str:
    """The hex signature CloudTrail would put in the metadata of ``d`` (for test trails)."""
    return private_key.sign(signing_string(d), padding.PKCS1v15(), hashes.SHA256()).hex()


def parse_public_keys(obj: Any, where: str) -> list[PublicKey]:
    """Keys from ``aws cloudtrail list-public-keys`` output or boto3's ``list_public_keys``.

    ``Value`` is base64 text (CLI) or bytes (boto3); times are epoch numbers (CLI v1),
    ISO 8601 text (CLI v2) or datetimes (boto3).

    >>> k = parse_public_keys({"PublicKeyList": [{"Value": "AAE=", "Fingerprint": "AB",
    ...     "ValidityStartTime": 1453076702.0, "ValidityEndTime": "2016-02-17T00:25:02Z"}]}, "f")
    >>> k[0].fingerprint, k[0].der, k[0].valid_from, k[0].valid_to
    ('ab', b'\\x00\\x01', 1453076702.0, 1455668702.0)
    """
    entries = obj.get("PublicKeyList") if isinstance(obj, dict) else obj
    if not isinstance(entries, list):
        raise DigestFormatError(f"{where}: expected the JSON of `aws cloudtrail list-public-keys`"
                                " (an object with PublicKeyList)")
    keys = []
    for i, e in enumerate(entries):
        try:
            value = e["Value"]
            der = value if isinstance(value, bytes) else base64.b64decode(value, validate=True)
            keys.append(PublicKey(str(e["Fingerprint"]).lower(), der,
                                  epoch(e.get("ValidityStartTime")),
                                  epoch(e.get("ValidityEndTime"))))
        except (KeyError, TypeError, ValueError) as exc:
            raise DigestFormatError(f"{where}: PublicKeyList[{i}] is not a public key: {exc}") from exc
    return keys


def epoch(value: Any) -> float | None:
    """Seconds since 1970 from an epoch number, ISO 8601 text or a datetime.

    >>> epoch("2015-08-17T15:01:31Z"), epoch(1439823691), epoch(None)
    (1439823691.0, 1439823691.0, None)
    """
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def aws_logs_key(key: str) -> str:
    """The part of an object key from ``AWSLogs/`` on: a copy keeps it, a prefix may not.

    >>> aws_logs_key("team/AWSLogs/111122223333/CloudTrail/x.json.gz")
    'AWSLogs/111122223333/CloudTrail/x.json.gz'
    """
    key = key.replace("\\", "/")
    at = key.find("AWSLogs/")
    return key[at:] if at >= 0 else key
