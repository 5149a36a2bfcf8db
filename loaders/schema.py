"""The CloudTrail record as graphtrail reads it: typed, only the fields it needs.

msgspec decodes these straight from JSON bytes and skips every other key without building
it. Free-form payloads (``requestParameters``, ``responseElements``...) stay as raw JSON
text (:class:`msgspec.Raw`): stored as they are, parsed only for the few event families
whose graph facts need them.

The identity block (``userIdentity``) is kept raw too: one session makes hundreds of calls
with the same block, so :func:`identity` decodes each distinct block once (cached) and the
events table is made from the distinct ones (:mod:`loaders.events`), not field by field for
every call.

Types are strict so the common case decodes without a Python call per field; a file whose
scalars have another JSON type (account ids as numbers, booleans as strings, as some
exports write them) fails the strict decode and goes through :func:`record_from_dict`,
which coerces record by record. An identity block counts as part of the strict decode:
:func:`typed_identity` says whether it decodes strictly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from msgspec import Raw, Struct

__all__ = [
    "json_object",
    "text",
    "account_id",
    "flag",
    "Record",
    "UserIdentity",
    "SessionContext",
    "SessionIssuer",
    "SessionAttributes",
    "S3Delivery",
    "record_from_dict",
    "identity",
    "typed_identity",
]

Text = str | None
Flag = bool | None


class SessionIssuer(Struct, omit_defaults=True):
    type: Text = None
    principalId: Text = None
    arn: Text = None
    accountId: Text = None
    userName: Text = None


class SessionAttributes(Struct, omit_defaults=True):
    creationDate: Text = None
    mfaAuthenticated: Text = None


class WebIdFederationData(Struct, omit_defaults=True):
    federatedProvider: Text = None


class SessionContext(Struct, omit_defaults=True):
    sessionIssuer: SessionIssuer | None = None
    attributes: SessionAttributes | None = None
    sourceIdentity: Text = None
    webIdFederationData: WebIdFederationData | None = None


class OnBehalfOf(Struct, omit_defaults=True):
    userId: Text = None
    identityStoreArn: Text = None


class UserIdentity(Struct, omit_defaults=True):
    type: Text = None
    principalId: Text = None
    arn: Text = None
    accountId: Text = None
    accessKeyId: Text = None
    userName: Text = None
    invokedBy: Text = None
    identityProvider: Text = None
    sessionContext: SessionContext | None = None
    onBehalfOf: OnBehalfOf | None = None


class Record(Struct, omit_defaults=True):
    eventVersion: Text = None
    eventTime: Text = None
    eventSource: Text = None
    eventName: Text = None
    eventType: Text = None
    eventCategory: Text = None
    awsRegion: Text = None
    sourceIPAddress: Text = None
    userAgent: Text = None
    errorCode: Text = None
    errorMessage: Text = None
    readOnly: Flag = None
    eventID: Text = None
    requestID: Text = None
    recipientAccountId: Text = None
    sharedEventID: Text = None
    sessionCredentialFromConsole: Flag = None
    userIdentity: Raw = Raw()  # a UserIdentity object: read it with identity()
    requestParameters: Raw = Raw()
    responseElements: Raw = Raw()
    additionalEventData: Raw = Raw()
    resources: Raw = Raw()
    insightDetails: Raw = Raw()


class S3Delivery(Struct):
    """An S3-delivered trail file: ``{"Records": [...]}``."""

    Records: list[Record] | None = None


_RAW_FIELDS = ("requestParameters", "responseElements", "additionalEventData", "resources",
               "insightDetails")
_FLAGS = {"readOnly", "sessionCredentialFromConsole"}
# Account ids (and the root's principal id, which is one) lose their leading zeros when an
# export writes them as numbers; other numbers (an errorCode of 404) must not be padded.
_ACCOUNT_FIELDS = {"accountId", "recipientAccountId", "principalId"}
_TIME_FIELDS = {"eventTime", "creationDate"}
_NESTED: dict[str, type[Struct]] = {
    "userIdentity": UserIdentity,
    "sessionContext": SessionContext,
    "sessionIssuer": SessionIssuer,
    "attributes": SessionAttributes,
    "webIdFederationData": WebIdFederationData,
    "onBehalfOf": OnBehalfOf,
}
_ENCODE = msgspec.json.encode
_DECODE = msgspec.json.decode


def record_from_dict(d: dict[str, Any]) -> Record:
    """Build a :class:`Record` from an already-decoded dict (the tolerant path).

    Payload fields are re-encoded to raw JSON (a payload an export wrote as JSON text is
    read as the JSON it holds); scalars of another type are coerced to text; an identity
    block of the wrong type is dropped on its own, and the rest of the identity kept.

    >>> r = record_from_dict({"eventName": "X", "requestParameters": {"a": 1}, "userIdentity": "?"})
    >>> r.eventName, bytes(r.requestParameters), identity(r.userIdentity)
    ('X', b'{"a":1}', None)
    >>> r = record_from_dict({"recipientAccountId": 12345678901, "errorCode": 404,
    ...                       "userIdentity": {"arn": "a", "sessionContext": []}})
    >>> r.recipientAccountId, r.errorCode, identity(r.userIdentity).arn, identity(r.userIdentity).sessionContext
    ('012345678901', '404', 'a', None)
    """
    return _struct(d, Record)


def _struct(d: dict[str, Any], cls: type[Struct]) -> Any:
    clean: dict[str, Any] = {}
    fields = cls.__struct_fields__
    for k, v in d.items():
        if k not in fields:
            continue
        if k in _RAW_FIELDS:  # null stays ``null``, as the typed path keeps it
            clean[k] = Raw(_ENCODE(_payload(v)))
        elif k == "userIdentity":
            if isinstance(v, dict):
                clean[k] = _identity_raw(_struct(v, UserIdentity))
        elif k in _NESTED:
            if isinstance(v, dict):
                clean[k] = _struct(v, _NESTED[k])
        elif k in _FLAGS:
            clean[k] = flag(v)
        elif k in _TIME_FIELDS:
            clean[k] = _time_text(v)
        elif k in _ACCOUNT_FIELDS:
            clean[k] = account_id(v)
        else:
            clean[k] = text(v)
    return cls(**clean)


def _identity_raw(ui: UserIdentity) -> Raw:
    """A coerced identity as the raw JSON :func:`identity` reads back to the same struct."""
    try:
        return Raw(_ENCODE(ui))
    except (UnicodeEncodeError, msgspec.EncodeError):  # a lone surrogate: escaped, read by json
        return Raw(json.dumps(msgspec.to_builtins(ui)).encode())


_IDENTITY = msgspec.json.Decoder(UserIdentity | None)
_IDENTITIES: dict[bytes, tuple[UserIdentity | None, bool]] = {}
_IDENTITY_CACHE = 1 << 13  # distinct blocks kept decoded (~1 kB each); a session's calls share one


def _identity_entry(raw: Raw | bytes) -> tuple[UserIdentity | None, bool]:
    key = bytes(raw)
    hit = _IDENTITIES.get(key)
    if hit is not None:
        return hit
    try:
        hit = (_IDENTITY.decode(key), True)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        try:
            v = _DECODE(key)
        except (msgspec.DecodeError, RecursionError):
            try:
                v = json.loads(key)
            except (ValueError, RecursionError):
                v = None
        hit = (_struct(v, UserIdentity) if isinstance(v, dict) else None, False)
    if len(_IDENTITIES) >= _IDENTITY_CACHE:
        _IDENTITIES.clear()
    _IDENTITIES[key] = hit
    return hit


def identity(raw: Raw | bytes) -> UserIdentity | None:
    """A record's ``userIdentity`` (its raw JSON) as a struct; None when absent or not an
    object. A block whose scalars have other types is coerced as :func:`record_from_dict`
    coerces them.

    >>> identity(Raw(b'{"type": "IAMUser", "accountId": 12345678901}')).accountId
    '012345678901'
    >>> identity(Raw()), identity(Raw(b"null")), identity(Raw(b'"?"'))
    (None, None, None)
    """
    if not len(raw):
        return None
    return _identity_entry(raw)[0]


def typed_identity(raw: Raw | bytes) -> bool:
    """True when the block decodes strictly (absent, ``null``, or every field typed as
    CloudTrail writes it): what decides, with the rest of a record, the strict path.

    >>> typed_identity(Raw(b'{"arn": "a"}')), typed_identity(Raw(b'{"arn": 1}')), typed_identity(Raw())
    (True, False, True)
    """
    return not len(raw) or _identity_entry(raw)[1]


def _payload(v: Any) -> Any:
    """A payload as JSON; data-lake exports (Athena) carry it as JSON text."""
    if isinstance(v, str) and v.lstrip()[:1] in ("{", "["):
        try:
            return _DECODE(v)
        except msgspec.DecodeError:
            return v
    return v


def _time_text(v: Any) -> str | None:
    """A time as text; epoch seconds or milliseconds (some exports) become ISO 8601."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        secs = v / 1000 if v > 1e11 else v
        try:
            return datetime.fromtimestamp(secs, UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return str(v)
    return text(v)


def text(v: Any) -> str | None:
    """A scalar as CloudTrail text: numbers as digits, bools lower-case, objects as JSON.

    >>> text(404), text(True), text(None), text("x"), text([1])
    ('404', 'true', None, 'x', '[1]')
    """
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return _ENCODE(v).decode()
    return str(v)


def account_id(v: Any) -> str | None:
    """An account id as text: a number gets back the leading zeros it lost.

    >>> account_id(12345678901), account_id("123456789"), account_id(111122223333)
    ('012345678901', '123456789', '111122223333')
    """
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**12:
        return f"{v:012d}"
    return text(v)


def flag(v: Any) -> bool | None:
    """``true``/``false`` in any spelling; None when it is neither."""
    if isinstance(v, bool) or v is None:
        return v
    s = str(v).strip().lower()
    return True if s == "true" else False if s == "false" else None


def json_object(text: str | bytes | None) -> dict:
    """A payload's JSON text as a dict; ``{}`` when absent, not JSON or not an object.

    >>> json_object('{"roleArn": "arn:aws:iam::1:role/x"}'), json_object("[1]"), json_object(None)
    ({'roleArn': 'arn:aws:iam::1:role/x'}, {}, {})
    """
    if not text:
        return {}
    try:
        v = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}
    return v if isinstance(v, dict) else {}
