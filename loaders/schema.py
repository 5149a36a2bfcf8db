"""The CloudTrail record as graphtrail reads it: typed, only the fields it needs.

msgspec decodes these straight from JSON bytes and skips every other key without building
it. Free-form payloads (``requestParameters``, ``responseElements``...) stay as raw JSON
text (:class:`msgspec.Raw`): stored as they are, parsed only for the few event families
whose graph facts need them.

Types are strict so the common case decodes without a Python call per field; a file whose
scalars have another JSON type (account ids as numbers, booleans as strings, as some
exports write them) fails the strict decode and goes through :func:`record_from_dict`,
which coerces record by record.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Raw, Struct

__all__ = [
    "text",
    "flag",
    "Record",
    "UserIdentity",
    "SessionContext",
    "SessionIssuer",
    "SessionAttributes",
    "S3Delivery",
    "record_from_dict",
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
    userIdentity: UserIdentity | None = None
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
_STRUCT_FIELDS = {"userIdentity"}
_FLAGS = {"readOnly", "sessionCredentialFromConsole"}
_ENCODE = msgspec.json.encode


def record_from_dict(d: dict[str, Any]) -> Record:
    """Build a :class:`Record` from an already-decoded dict (the tolerant path).

    Payload fields are re-encoded to raw JSON; identity blocks of the wrong type are
    dropped rather than failing the record.

    >>> r = record_from_dict({"eventName": "X", "requestParameters": {"a": 1}, "userIdentity": "?"})
    >>> r.eventName, bytes(r.requestParameters), r.userIdentity
    ('X', b'{"a":1}', None)
    """
    clean: dict[str, Any] = {}
    for k, v in d.items():
        if k in _RAW_FIELDS:
            if v is not None:
                clean[k] = Raw(_ENCODE(v))
        elif k in _STRUCT_FIELDS:
            if isinstance(v, dict):
                clean[k] = _identity(v)
        elif k in _FLAGS:
            clean[k] = flag(v)
        elif k in Record.__struct_fields__:
            clean[k] = text(v)
    return Record(**clean)


def _identity(v: dict[str, Any]) -> UserIdentity | None:
    try:
        return msgspec.convert(_texts(v), UserIdentity)
    except msgspec.ValidationError:
        return None


def _texts(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _texts(x) for k, x in v.items()}
    return text(v)


def text(v: Any) -> str | None:
    """A scalar as CloudTrail text: numbers as digits (account ids keep 12), bools lower-case.

    >>> text(12345678901), text(True), text(None), text("x")
    ('012345678901', 'true', None, 'x')
    """
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int) and 0 <= v < 10**12:
        return f"{v:012d}"  # a number loses the leading zeros of an account id
    if isinstance(v, (dict, list)):
        return msgspec.json.encode(v).decode()
    return str(v)


def flag(v: Any) -> bool | None:
    """``true``/``false`` in any spelling; None when it is neither."""
    if isinstance(v, bool) or v is None:
        return v
    s = str(v).strip().lower()
    return True if s == "true" else False if s == "false" else None
