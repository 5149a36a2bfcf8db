"""Amazon Security Lake: CloudTrail as OCSF 1.x API Activity Parquet, read back as CloudTrail.

Security Lake stores CloudTrail management and data events as OCSF (class 6003 API Activity;
its first source version also wrote sign-ins as 3002 Authentication and IAM changes as 3001
Account Change) in Parquet. :func:`read_ocsf` streams such a file one row group at a time
and turns each row back into the CloudTrail record it came from, following AWS's mapping:

=================================================  ==============================================
OCSF                                               CloudTrail
=================================================  ==============================================
``time`` (ms) / ``time_dt``                        ``eventTime``
``metadata.uid`` / ``metadata.product.version``     ``eventID`` / ``eventVersion``
``metadata.event_code``                            ``eventType``
``metadata.product.feature.name``                  ``eventCategory``
``api.operation`` / ``api.service.name``           ``eventName`` / ``eventSource``
``api.request.uid`` / ``api.request.data``         ``requestID`` / ``requestParameters``
``api.response.data``                              ``responseElements``
``api.response.error`` / ``.message``              ``errorCode`` / ``errorMessage``
``src_endpoint.ip`` or ``.domain`` / ``.uid``      ``sourceIPAddress`` / ``vpcEndpointId``
``http_request.user_agent``                        ``userAgent``
``cloud.region`` / ``cloud.account.uid``           ``awsRegion`` / ``recipientAccountId``
``actor.user.type`` / ``.name``                    ``userIdentity.type`` / ``.userName``
``actor.user.uid`` (1.1) or ``.uuid`` (1.0)        ``userIdentity.arn``
``actor.user.uid_alt`` (1.1) or ``.uid`` (1.0)     ``userIdentity.principalId``
``actor.user.account.uid`` or ``.account_uid``     ``userIdentity.accountId``
``actor.user.credential_uid``                      ``userIdentity.accessKeyId``
``actor.session.issuer``                           ``sessionContext.sessionIssuer.arn``
``actor.session.created_time`` / ``is_mfa``        ``sessionContext.attributes``
``actor.invoked_by`` / ``actor.idp.name``          ``invokedBy`` / ``identityProvider``
``resources[].uid`` / ``.type`` / ``.owner``       ``resources[].ARN`` / ``.type`` / ``.accountId``
``unmapped``                                       whatever else the row kept, by CloudTrail name
=================================================  ==============================================

What the mapping cannot carry is lost for good: the issuing role's principal id (only its ARN
is kept), and, unless ``unmapped`` kept them, ``sharedEventID``, ``readOnly``,
``sourceIdentity``, ``sessionCredentialFromConsole``, ``additionalEventData``.
:func:`linking_gaps` says which of the fields that tie a credential to its origin a file
lacks, so the summary and the answers can say so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import pyarrow.parquet as pq

from loaders.events import ISSUING_EVENTS, issued_credential
from loaders.schema import Record, identity, json_object, record_from_dict

__all__ = ["PARQUET_MAGIC", "OcsfBatch", "read_ocsf", "ocsf_to_cloudtrail", "linking_gaps",
           "LinkingGaps", "NotOcsf"]

PARQUET_MAGIC = b"PAR1"
BATCH_ROWS = 8192


class NotOcsf(ValueError):
    """A Parquet file without OCSF's ``api`` and ``actor`` columns: not Security Lake."""

# The OCSF columns read; everything else in the file is never decoded.
_COLUMNS = ("class_uid", "time", "time_dt", "metadata", "api", "actor", "src_endpoint",
            "http_request", "cloud", "resources", "unmapped")
# CloudTrail fields outside AWS's explicit mapping, taken from ``unmapped`` when it kept them.
_FROM_UNMAPPED = ("sharedEventID", "readOnly", "sessionCredentialFromConsole", "eventCategory",
                  "additionalEventData", "recipientAccountId", "managementEvent", "eventType",
                  "tlsDetails", "apiVersion")
_ISSUER_TYPES = {"role": "Role", "user": "IAMUser", "root": "Root"}


@dataclass
class OcsfBatch:
    """Records of one batch of rows; ``skipped`` counts rows that were not CloudTrail calls,
    ``problems`` names the rows that could not be read (``row N: why``)."""

    records: list[Record] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def read_ocsf(source: str | IO[bytes], batch_rows: int = BATCH_ROWS) -> Iterator[OcsfBatch]:
    """Stream an OCSF Parquet file (a path or a file object) as CloudTrail records.

    Only one row group's columns are decoded at a time. Raises :class:`NotOcsf` when the
    file has no ``api`` and ``actor`` columns, and pyarrow's errors when it is not readable
    Parquet.
    """
    pf = pq.ParquetFile(source)
    names = set(pf.schema_arrow.names)
    if not {"api", "actor"} <= names:
        raise NotOcsf("Parquet, but not OCSF API Activity (no api and actor columns)")
    columns = [c for c in _COLUMNS if c in names]
    row = 0
    for group in range(pf.num_row_groups):  # one at a time: the rows before a bad one are kept
        for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns):
            out = OcsfBatch()
            for d in batch.to_pylist():
                row += 1
                _one(d, row, out)
            yield out


def _one(d: dict, row: int, out: OcsfBatch) -> None:
    api = d.get("api") or {}
    if not (api.get("operation") and (api.get("service") or {}).get("name")):
        out.skipped["not a CloudTrail record"] += 1  # another OCSF class: not an API call
        return
    try:
        rec = record_from_dict(ocsf_to_cloudtrail(d))
    except (TypeError, ValueError, AttributeError) as exc:
        out.skipped["unusable record"] += 1
        out.problems.append(f"row {row}: not an OCSF API Activity record ({exc})")
        return
    if rec.eventTime is None:
        out.skipped["missing eventTime"] += 1
        out.problems.append(f"row {row}: no time (neither time nor time_dt is set)")
        return
    out.records.append(rec)


def ocsf_to_cloudtrail(d: dict) -> dict:
    """One OCSF API Activity row (as a dict) as the CloudTrail record it was made from.

    >>> r = ocsf_to_cloudtrail({"time": 1709294400000, "api": {"operation": "ListUsers",
    ...     "service": {"name": "iam.amazonaws.com"}}, "actor": {"user": {"type": "IAMUser",
    ...     "uid": "arn:aws:iam::111122223333:user/alice", "credential_uid": "AKIAALICE"}},
    ...     "src_endpoint": {"ip": "198.51.100.7"}})
    >>> r["eventTime"], r["eventName"], r["userIdentity"]["accessKeyId"], r["sourceIPAddress"]
    ('2024-03-01T12:00:00Z', 'ListUsers', 'AKIAALICE', '198.51.100.7')

    OCSF 1.0 rows (Security Lake's first source version) kept the principal id in
    ``actor.user.uid`` and the ARN in ``uuid``:

    >>> ui = ocsf_to_cloudtrail({"actor": {"user": {"uid": "AROAEXAMPLE:s", "account_uid": "1",
    ...     "uuid": "arn:aws:sts::1:assumed-role/r/s"}, "session": {"issuer":
    ...     "arn:aws:iam::1:role/r", "created_time": 1709294400000, "mfa": False}}})["userIdentity"]
    >>> ui["principalId"], ui["arn"], ui["accountId"], ui["sessionContext"]["sessionIssuer"]
    ('AROAEXAMPLE:s', 'arn:aws:sts::1:assumed-role/r/s', '1', {'arn': 'arn:aws:iam::1:role/r', 'type': 'Role', 'accountId': '1', 'userName': 'r'})
    >>> ui["sessionContext"]["attributes"]
    {'creationDate': '2024-03-01T12:00:00Z', 'mfaAuthenticated': 'false'}
    """
    api = d.get("api") or {}
    meta = d.get("metadata") or {}
    product = meta.get("product") or {}
    request, response = api.get("request") or {}, api.get("response") or {}
    src = d.get("src_endpoint") or {}
    cloud = d.get("cloud") or {}
    extra = _unmapped(d.get("unmapped"))
    rec: dict[str, Any] = {
        "eventVersion": product.get("version"),
        "eventTime": _iso(d.get("time"), d.get("time_dt")),
        "eventSource": (api.get("service") or {}).get("name"),
        "eventName": api.get("operation"),
        "eventType": meta.get("event_code"),
        "eventCategory": (product.get("feature") or {}).get("name"),
        "awsRegion": cloud.get("region"),
        "recipientAccountId": (cloud.get("account") or {}).get("uid") or cloud.get("account_uid"),
        "sourceIPAddress": src.get("ip") or src.get("domain"),
        "vpcEndpointId": src.get("uid"),
        "userAgent": (d.get("http_request") or {}).get("user_agent"),
        "errorCode": response.get("error"),
        "errorMessage": response.get("message"),
        "requestID": request.get("uid"),
        "requestParameters": request.get("data"),
        "responseElements": response.get("data"),
        "eventID": meta.get("uid"),
        "userIdentity": _identity(d.get("actor") or {}, extra),
        "resources": _resources(d.get("resources")),
    }
    for name in _FROM_UNMAPPED:
        if rec.get(name) is None and extra.get(name) is not None:
            rec[name] = extra[name]
    return {k: v for k, v in rec.items() if v is not None}


def _identity(actor: dict, extra: dict) -> dict | None:
    user = actor.get("user") or {}
    session = actor.get("session") or {}
    uid, uuid, alt = user.get("uid"), user.get("uuid"), user.get("uid_alt")
    arn = next((v for v in (uid, uuid) if isinstance(v, str) and v.startswith("arn:")), None)
    principal = alt if alt is not None else (uid if uid is not arn else None)
    account = (user.get("account") or {}).get("uid") or user.get("account_uid")
    ident: dict[str, Any] = {
        "type": user.get("type"), "principalId": principal, "arn": arn, "accountId": account,
        "accessKeyId": user.get("credential_uid") or session.get("credential_uid"),
        "userName": user.get("name"), "invokedBy": actor.get("invoked_by"),
    }
    idp = (actor.get("idp") or {}).get("name")
    issuer = session.get("issuer")
    if issuer or session.get("created_time") or session.get("created_time_dt"):
        ident["sessionContext"] = _session(session, issuer, idp, extra)
    elif idp:
        ident["identityProvider"] = idp
    ident = {k: v for k, v in ident.items() if v is not None}
    return ident or None


def _session(session: dict, issuer: str | None, idp: str | None, extra: dict) -> dict:
    mfa = session.get("is_mfa", session.get("mfa"))
    ctx: dict[str, Any] = {"attributes": {
        "creationDate": _iso(session.get("created_time"), session.get("created_time_dt")),
        "mfaAuthenticated": None if mfa is None else ("true" if mfa else "false")}}
    if issuer:
        ctx["sessionIssuer"] = _issuer(issuer, extra)
    if idp:
        ctx["webIdFederationData"] = {"federatedProvider": idp}
    source_identity = extra.get("userIdentity.sessionContext.sourceIdentity")
    if source_identity:
        ctx["sourceIdentity"] = source_identity
    return ctx


def _issuer(arn: str, extra: dict) -> dict:
    """The session's issuer from its ARN; OCSF keeps only the ARN (the role id is lost)."""
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    kind = resource.split("/", 1)[0]
    got = {"arn": arn, "type": _ISSUER_TYPES.get(kind), "accountId": parts[4] if len(parts) == 6 else None,
           "userName": resource.rsplit("/", 1)[-1] if "/" in resource else None,
           "principalId": extra.get("userIdentity.sessionContext.sessionIssuer.principalId")}
    return {k: v for k, v in got.items() if v is not None}


def _resources(items: Any) -> list | None:
    if not isinstance(items, list) or not items:
        return None
    out = []
    for r in items:
        if isinstance(r, dict):
            owner = ((r.get("owner") or {}).get("account") or {}).get("uid")
            got = {"accountId": owner, "type": r.get("type"), "ARN": r.get("uid")}  # CloudTrail's order
            out.append({k: v for k, v in got.items() if v is not None})
    return out or None


def _unmapped(v: Any) -> dict:
    """``unmapped`` as a dict, whichever way the file stores it: a map (pairs), a struct,
    or JSON text."""
    if isinstance(v, list):
        return {k: _json_or_text(x) for k, x in v if isinstance(k, str)}
    if isinstance(v, dict):
        return {k: _json_or_text(x) for k, x in v.items()}
    if isinstance(v, str):
        return json_object(v)
    return {}


def _json_or_text(x: Any) -> Any:
    if isinstance(x, str) and x[:1] in ("{", "["):
        try:
            return json.loads(x)
        except ValueError:
            return x
    return x


def _iso(ms: Any, dt: Any) -> str | None:
    """An OCSF time (ms since the epoch, or a timestamp) as CloudTrail writes it."""
    if isinstance(dt, datetime):
        t = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    elif isinstance(ms, (int, float)) and not isinstance(ms, bool):
        t = datetime.fromtimestamp(ms / 1000, UTC)
    elif isinstance(dt, str):
        return dt
    else:
        return None
    t = t.astimezone(UTC)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LinkingGaps:
    """Counts, over one file, of what would tie a credential to its origin and is missing."""

    issuing_calls: int = 0
    issuing_without_credentials: int = 0
    cross_account_calls: int = 0
    shared_event_ids: int = 0
    sessions: int = 0
    sessions_without_issuer_id: int = 0

    def add(self, records: list[Record]) -> None:
        for r in records:
            ui = identity(r.userIdentity)
            if r.eventName in ISSUING_EVENTS and r.errorCode is None:
                self.issuing_calls += 1
                if not _credential_in(r):
                    self.issuing_without_credentials += 1
            if r.sharedEventID:
                self.shared_event_ids += 1
            if ui is not None and ui.accountId and r.recipientAccountId \
                    and ui.accountId != r.recipientAccountId:
                self.cross_account_calls += 1
            issuer = ui.sessionContext.sessionIssuer if ui and ui.sessionContext else None
            if issuer is not None and issuer.arn:
                self.sessions += 1
                self.sessions_without_issuer_id += issuer.principalId is None

    def lacks(self) -> list[dict]:
        """What an investigator must be told: one entry per missing linking field, with how
        many records lack it (``missing``) of how many that should carry it (``of``)."""
        out = []
        if self.issuing_without_credentials:
            out.append(_gap(
                "responseElements.credentials", self.issuing_without_credentials,
                self.issuing_calls, "calls that issue a credential (AssumeRole, GetSessionToken, "
                "CreateAccessKey...)", "the calls made with those credentials cannot be tied to "
                "the call that issued them: blast radius and chains stop at the issuing call",
                lineage=True))
        if self.cross_account_calls and not self.shared_event_ids:
            out.append(_gap(
                "sharedEventID", self.cross_account_calls, self.cross_account_calls,
                "calls across accounts", "the two copies of a cross-account call cannot be "
                "paired", lineage=True))
        if self.sessions_without_issuer_id:
            out.append(_gap(
                "sessionContext.sessionIssuer.principalId", self.sessions_without_issuer_id,
                self.sessions, "calls made by role sessions", "OCSF keeps the issuer's ARN only: "
                "the role's id (AROA...) is unknown, so a role deleted and re-created under the "
                "same name cannot be told apart by it", lineage=False))
        return out


def _gap(name: str, missing: int, of: int, of_what: str, consequence: str, *,
         lineage: bool) -> dict:
    """``lineage``: the answers that follow a credential's lineage are incomplete without it."""
    return {"field": name, "missing": missing, "of": of, "of_what": of_what,
            "consequence": consequence, "lineage": lineage}


def linking_gaps(records: list[Record]) -> list[dict]:
    """What the records lack to link credentials (see :class:`LinkingGaps`)."""
    gaps = LinkingGaps()
    gaps.add(records)
    return gaps.lacks()


def _credential_in(r: Record) -> bool:
    return len(r.responseElements) > 0 and issued_credential(bytes(r.responseElements))[0] is not None
