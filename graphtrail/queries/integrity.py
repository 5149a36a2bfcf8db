"""Is this copy of a trail what CloudTrail delivered? The verdict over digests and logs.

:func:`judge` checks, for what :mod:`loaders.integrity.read` found in a copy:

* each digest's SHA256withRSA signature, with the public key whose fingerprint the digest
  names. A digest read without its S3 metadata (an ``aws s3 sync`` copy) is still signed:
  the next digest of the chain carries its signature in ``previousDigestSignature``, so
  only the newest digest of a chain can be left unsigned;
* the chain: each digest names the previous one (``previousDigestS3Object``) with its
  hash and signature. A named digest that is absent is a gap of one or several
  consecutive digests (from the end of the last present digest to the start of the one
  that names it; the count is the number of hours between). Unlike ``aws cloudtrail
  validate-logs`` before 2026 (aws-cli issue #7054), the gap is measured, so two or more
  deleted digests in a row are reported as such. A chain that starts again
  (``previousDigestSignature`` null) after earlier digests is a restart, explained when a
  StopLogging / StartLogging / UpdateTrail / DeleteTrail / CreateTrail call of the same
  account falls in it;
* each log file a digest lists, by the SHA-256 of its uncompressed content; listed files
  that are absent; and files that no digest lists.

The result is one :class:`IntegrityReport`; ``valid`` is true only when nothing is wrong
and every digest's signature was checked.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from graphtrail.families import TRAIL_LIFECYCLE
from graphtrail.integrity.digest import (
    SIGNATURE_ALGORITHM,
    Digest,
    PublicKey,
    aws_logs_key,
    epoch,
    signature_verifies,
)
from graphtrail.integrity.evidence import TrailChange, TrailEvidence

__all__ = ["IntegrityReport", "judge", "merge", "object_statuses", "LOG_STATUSES"]

LOG_STATUSES = ("verified", "hash-matched", "modified", "not_in_any_digest", "unreadable")
"""A log file's integrity status: ``verified`` against a signed digest; ``hash-matched`` when
its digest's signature could not be checked; the rest are problems."""

_RESTART_CALLS = TRAIL_LIFECYCLE.events
_HOUR = 3600.0


@dataclass
class IntegrityReport:
    """The verdict on one copy. ``as_dict()`` is the ``--format json`` object."""

    source: str
    valid: bool = False
    modified: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    not_in_any_digest: list[dict] = field(default_factory=list)
    digest_gaps: list[dict] = field(default_factory=list)
    chain_restarts: list[dict] = field(default_factory=list)
    bad_signatures: list[dict] = field(default_factory=list)
    unsigned: list[dict] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)
    digests: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    log_status: dict[str, str] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("log_status")
        return out


def judge(evidence: TrailEvidence, keys: list[PublicKey] | None) -> IntegrityReport:
    """The verdict on ``evidence``; ``keys`` ``None`` means signatures cannot be checked.

    Examples
    --------
    >>> from graphtrail.integrity.evidence import TrailEvidence
    >>> r = judge(TrailEvidence("empty", None), [])
    >>> r.valid, r.summary["digests"]
    (True, 0)
    """
    report = IntegrityReport(evidence.label)
    chains = _chains(evidence.digests)
    found = {aws_logs_key(d.where): d for d in evidence.digests}
    successor = _successors(evidence.digests, found)
    problems: dict[str, list[str]] = defaultdict(list)
    sig_status = {id(d): _signature(d, successor.get(id(d)), keys, problems) for d in evidence.digests}
    newest = max((epoch(d.end) or 0.0 for d in evidence.digests), default=0.0)
    for chain in chains.values():
        _walk(chain, found, evidence, report, problems, newest)
    for d in evidence.digests:
        where = aws_logs_key(d.where)
        if where != aws_logs_key(d.key) or (evidence.bucket and d.bucket != evidence.bucket):
            problems[d.where].append(f"moved: it says it was delivered to s3://{d.bucket}/{d.key}")
        if d.algorithm and d.algorithm != SIGNATURE_ALGORITHM:
            problems[d.where].append(f"digestSignatureAlgorithm {d.algorithm!r}")
        status = sig_status[id(d)]
        row = {"key": where, "uri": d.where, "account": d.account, "region": d.region,
               "trail": d.trail, "start": d.start, "end": d.end, "log_files": len(d.logs),
               "signature": status, "backfill": d.backfill}
        report.digests.append(row)
        if problems.get(d.where):
            report.bad_signatures.append({**_where(d), "reasons": problems[d.where]})
        elif status in ("unavailable", "not checked"):
            why = ("no signature: no S3 metadata and no .metadata.json sidecar, and no later "
                   "digest names it; hash chain checked, signature not") if status == "unavailable" \
                else "no public keys (give --public-keys or AWS credentials); hash chain checked"
            report.unsigned.append({**_where(d), "reason": why})
    _judge_logs(evidence, report, sig_status, found)
    report.unreadable = list(evidence.unreadable_digests)
    _summarise(report, evidence)
    return report


def _chains(digests: list[Digest]) -> dict[tuple, list[Digest]]:
    chains: dict[tuple, list[Digest]] = defaultdict(list)
    for d in digests:
        if not d.backfill:
            chains[d.chain].append(d)
    for chain in chains.values():
        chain.sort(key=lambda d: (epoch(d.end) or 0.0, d.key))
    return chains


def _successors(digests: list[Digest], found: dict[str, Digest]) -> dict[int, Digest]:
    """For each digest, the digest that names it as previous (it carries its signature)."""
    out = {}
    for d in digests:
        if d.previous_key and (prev := found.get(aws_logs_key(d.previous_key))) is not None:
            out[id(prev)] = d
    return out


def _signature(d: Digest, successor: Digest | None, keys: list[PublicKey] | None,
               problems: dict[str, list[str]]) -> str:
    """``verified``, ``bad``, ``unavailable`` or ``not checked``; problems noted by uri."""
    carried = successor.previous_signature if successor is not None else None
    if d.signature and carried and d.signature.lower() != carried.lower():
        problems[d.where].append("its signature differs from the previousDigestSignature "
                                 f"in {aws_logs_key(successor.key)}")
    signature = d.signature or carried
    if d.signature_algorithm and d.signature_algorithm != SIGNATURE_ALGORITHM:
        problems[d.where].append(f"signature-algorithm {d.signature_algorithm!r}")
    if not signature:
        return "unavailable"
    if keys is None:
        return "not checked"
    fingerprint = (d.fingerprint or "").lower()
    moment = epoch(d.end) or 0.0
    candidates = [k for k in keys if k.fingerprint == fingerprint]
    if not candidates:
        problems[d.where].append(f"no public key with fingerprint {d.fingerprint!r} "
                                 "(digestPublicKeyFingerprint) among the keys given")
        return "bad"
    candidates.sort(key=lambda k: not k.covers(moment))
    signed = d if d.signature else _with_signature(d, signature)
    if any(signature_verifies(signed, k) for k in candidates):
        return "verified" if d.signature else "verified (signature from next digest)"
    problems[d.where].append("signature does not verify (the digest or its signature changed)")
    return "bad"


def _with_signature(d: Digest, signature: str) -> Digest:
    from dataclasses import replace

    return replace(d, signature=signature)


def _walk(chain: list[Digest], found: dict[str, Digest], evidence: TrailEvidence,
          report: IntegrityReport, problems: dict[str, list[str]], newest: float) -> None:
    """Follow one account/region/trail chain oldest to newest."""
    for i, d in enumerate(chain):
        before = chain[i - 1] if i else None
        if d.previous_key is None or d.previous_signature is None:
            if before is not None:
                report.chain_restarts.append(_restart(before, d, evidence.changes()))
            continue
        prev = found.get(aws_logs_key(d.previous_key))
        if prev is None:
            unreadable = aws_logs_key(d.previous_key) in {
                u["key"] for u in evidence.unreadable_digests}
            report.digest_gaps.append(_gap(before, d, "previous digest unreadable" if unreadable
                                           else "digest files missing"))
            continue
        if before is not None and prev is not before:
            problems[before.where].append("no digest names it as previous (not in the chain "
                                          f"between {aws_logs_key(prev.key)} and {aws_logs_key(d.key)})")
        if (d.previous_sha256 or "").lower() != prev.sha256:
            problems[prev.where].append("its content differs from the previousDigestHashValue "
                                        f"in {aws_logs_key(d.key)}")
    last = chain[-1]
    end = epoch(last.end) or 0.0
    if newest - end > 2 * _HOUR:
        gap = _gap(last, None, "chain ends early: later digests of other regions exist")
        gap["to"] = _iso(newest)
        gap["missing_digests"] = round((newest - end) / _HOUR)
        report.digest_gaps.append(gap)


def _gap(before: Digest | None, after: Digest | None, cause: str) -> dict:
    d = after or before
    lo = epoch(before.end) if before else None
    hi = epoch(after.start) if after else None
    count = max(1, round((hi - lo) / _HOUR)) if lo is not None and hi is not None else None
    return {"account": d.account, "region": d.region, "trail": d.trail,
            "from": before.end if before else None, "to": after.start if after else None,
            "missing_digests": count, "last_before": aws_logs_key(before.key) if before else None,
            "first_after": aws_logs_key(after.key) if after else None, "cause": cause}


def _restart(before: Digest, after: Digest, changes: list[TrailChange]) -> dict:
    lo, hi = (epoch(before.end) or 0.0) - _HOUR, (epoch(after.start) or 0.0) + _HOUR
    near = [c for c in changes if c.event_name in _RESTART_CALLS and lo <= (epoch(c.time) or 0) <= hi]
    same = [c for c in near if c.account == before.account] or near
    return {"account": before.account, "region": before.region, "trail": before.trail,
            "from": before.end, "to": after.start,
            "hours": round(((epoch(after.start) or 0) - (epoch(before.end) or 0)) / _HOUR),
            "explained": bool(same),
            "events": [{"eventID": c.event_id, "eventName": c.event_name, "time": c.time,
                        "account": c.account, "region": c.region, "trail": c.trail}
                       for c in same]}


def _where(d: Digest) -> dict:
    return {"key": aws_logs_key(d.where), "uri": d.where, "account": d.account,
            "region": d.region, "end": d.end}


def _judge_logs(evidence: TrailEvidence, report: IntegrityReport, sig_status: dict[int, str],
                found: dict[str, Digest]) -> None:
    bad = {r["uri"] for r in report.bad_signatures}
    listed: dict[str, tuple[Digest, object]] = {}
    for d in evidence.digests:
        for entry in d.logs:
            listed[aws_logs_key(entry.key)] = (d, entry)
    for key, (d, entry) in sorted(listed.items()):
        seen = evidence.logs.get(key)
        base = {"key": key, "digest": aws_logs_key(d.where)}
        if seen is None:
            report.missing.append({**base, "account": d.account, "region": d.region,
                                   "digest_end": d.end})
            continue
        base.update(uri=seen.uri, account=seen.account, region=seen.region)
        if seen.sha256 is None:
            report.unreadable.append({**base, "error": seen.problem})
            report.log_status[key] = "unreadable"
        elif seen.sha256 != entry.sha256 or seen.problem:
            report.modified.append({**base, "expected_sha256": entry.sha256,
                                    "found_sha256": seen.sha256,
                                    "reason": seen.problem or "content differs from hashValue"})
            report.log_status[key] = "modified"
        elif sig_status[id(d)].startswith("verified") and d.where not in bad:
            report.log_status[key] = "verified"
        else:
            report.log_status[key] = "hash-matched"
    last_end: dict[tuple[str, str], float] = {}
    for d in evidence.digests:
        k = (d.account, d.region)
        last_end[k] = max(last_end.get(k, 0.0), epoch(d.end) or 0.0)
    for key, seen in sorted(evidence.logs.items()):
        if key in listed:
            continue
        if seen.sha256 is None:
            report.unreadable.append({"key": key, "uri": seen.uri, "error": seen.problem})
            report.log_status[key] = "unreadable"
            continue
        report.log_status[key] = "not_in_any_digest"
        delivered = seen.delivered
        report.not_in_any_digest.append({
            "key": key, "uri": seen.uri, "account": seen.account, "region": seen.region,
            "delivered": _iso(delivered) if delivered is not None else None,
            "after_last_digest": delivered is not None
            and delivered >= last_end.get((seen.account, seen.region), 0.0)})


def _summarise(report: IntegrityReport, evidence: TrailEvidence) -> None:
    statuses = list(report.log_status.values())
    restarts_unexplained = [r for r in report.chain_restarts if not r["explained"]]
    report.valid = not (report.modified or report.missing or report.not_in_any_digest
                        or report.digest_gaps or report.bad_signatures or report.unsigned
                        or report.unreadable or restarts_unexplained)
    report.summary = {
        "source": evidence.label,
        "digests": len(evidence.digests),
        "digests_signature_verified": sum(1 for r in report.digests
                                          if r["signature"].startswith("verified")),
        "log_files": len(evidence.logs),
        "log_files_verified": statuses.count("verified"),
        "log_files_hash_matched": statuses.count("hash-matched"),
        "modified": len(report.modified),
        "missing": len(report.missing),
        "not_in_any_digest": len(report.not_in_any_digest),
        "digest_gaps": len(report.digest_gaps),
        "digests_missing": sum(g["missing_digests"] or 1 for g in report.digest_gaps),
        "chain_restarts": len(report.chain_restarts),
        "chain_restarts_unexplained": len(restarts_unexplained),
        "bad_signatures": len(report.bad_signatures),
        "unsigned": len(report.unsigned),
        "unreadable": len(report.unreadable),
        "bytes_read": evidence.bytes_read,
    }


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge(reports: list[IntegrityReport]) -> IntegrityReport:
    """Several copies (folders, prefixes) verified as one answer."""
    if len(reports) == 1:
        return reports[0]
    out = IntegrityReport(", ".join(r.source for r in reports))
    lists = ("modified", "missing", "not_in_any_digest", "digest_gaps", "chain_restarts",
             "bad_signatures", "unsigned", "unreadable", "digests")
    for r in reports:
        for name in lists:
            getattr(out, name).extend(getattr(r, name))
        out.log_status.update(r.log_status)
        for k, v in r.summary.items():
            if isinstance(v, int):
                out.summary[k] = out.summary.get(k, 0) + v
    out.summary["source"] = out.source
    out.valid = all(r.valid for r in reports)
    return out


def object_statuses(report: IntegrityReport, uris: list[str]) -> dict[str, str]:
    """The integrity status of each source object (a case's manifest uris).

    Log files get a :data:`LOG_STATUSES` value, digest files ``digest verified``,
    ``digest bad`` or ``digest unsigned``; an object the verification did not see is
    ``not verified``.
    """
    bad = {r["key"] for r in report.bad_signatures}
    digest_status = {}
    for row in report.digests:
        status = "digest verified" if row["signature"].startswith("verified") else "digest unsigned"
        digest_status[row["key"]] = "digest bad" if row["key"] in bad else status
    out = {}
    for uri in uris:
        key = aws_logs_key(uri)
        out[uri] = report.log_status.get(key) or digest_status.get(key) or "not verified"
    return out
