"""The CloudTrail record as graphtrail reads it: typed, only the fields it needs.

msgspec decodes these straight from JSON bytes and skips every other key without building
it. Free-form payloads (``requestParameters``, ``responseElements``...) stay as raw JSON
text (:class:`msgspec.Raw`): stored as they are, parsed only for the few event families
whose graph facts need them.

Scalars that exports sometimes write with another JSON type (account ids as numbers,
booleans as strings) accept both; :func:`record_from_dict` coerces the rest.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Raw, Struct

__all__ = [
    "Record",
    "UserIdentity",
    "SessionContext",
    "SessionIssuer",
    "SessionAttributes",
    "S3Delivery",
    "record_from_dict",
]

Scalar = str | int | float | bool | None


class SessionIssuer(Struct, omit_defaults=True):
    type: Scalar = None
    principalId: Scalar = None
    arn: Scalar = None
    accountId: Scalar = None
    userName: Scalar = None


class SessionAttributes(Struct, omit_defaults=True):
    creationDate: Scalar = None
    mfaAuthenticated: Scalar = None


class WebIdFederationData(Struct, omit_defaults=True):
    federatedProvider: Scalar = None


class SessionContext(Struct, omit_defaults=True):
    sessionIssuer: SessionIssuer | None = None
    attributes: SessionAttributes | None = None
    sourceIdentity: Scalar = None
    webIdFederationData: WebIdFederationData | None = None


class OnBehalfOf(Struct, omit_defaults=True):
    userId: Scalar = None
    identityStoreArn: Scalar = None


class UserIdentity(Struct, omit_defaults=True):
    type: Scalar = None
    principalId: Scalar = None
    arn: Scalar = None
    accountId: Scalar = None
    accessKeyId: Scalar = None
    userName: Scalar = None
    invokedBy: Scalar = None
    identityProvider: Scalar = None
    sessionContext: SessionContext | None = None
    onBehalfOf: OnBehalfOf | None = None


class Record(Struct, omit_defaults=True):
    eventVersion: Scalar = None
    eventTime: Scalar = None
    eventSource: Scalar = None
    eventName: Scalar = None
    eventType: Scalar = None
    eventCategory: Scalar = None
    awsRegion: Scalar = None
    sourceIPAddress: Scalar = None
    userAgent: Scalar = None
    errorCode: Scalar = None
    errorMessage: Scalar = None
    readOnly: Scalar = None
    eventID: Scalar = None
    requestID: Scalar = None
    recipientAccountId: Scalar = None
    sharedEventID: Scalar = None
    sessionCredentialFromConsole: Scalar = None
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
        elif k in Record.__struct_fields__:
            clean[k] = v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
    return Record(**clean)


def _identity(v: dict[str, Any]) -> UserIdentity | None:
    try:
        return msgspec.convert(_scalars_only(v), UserIdentity)
    except msgspec.ValidationError:
        return None


def _scalars_only(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _scalars_only(x) for k, x in v.items()}
    if isinstance(v, list):
        return str(v)
    return v
