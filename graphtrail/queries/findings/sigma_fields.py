"""Where a Sigma rule's CloudTrail field lives in a case.

Sigma rules for the ``aws``/``cloudtrail`` logsource name fields as the CloudTrail record
does (``eventName``, ``userIdentity.type``, ``requestParameters.bucketName``). Top-level and
identity fields are columns of the case's events table; ``requestParameters``,
``responseElements``, ``additionalEventData`` and ``resources`` are kept as JSON text, so a
path below them is read from that text (each element of a list in the path is a value).

>>> where("userIdentity.sessionContext.sessionIssuer.arn")
Field(column='issuer_arn', path=())
>>> where("requestParameters.ipPermissions.items.fromPort")
Field(column='request_parameters', path=('ipPermissions', 'items', 'fromPort'))
>>> where("requestParameters")
Field(column='request_parameters', path=())
>>> where("tlsDetails.tlsVersion") is None
True
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Field", "where", "COLUMNS", "JSON_COLUMNS"]

# CloudTrail record field -> events column (graphtrail.model.EVENT_COLUMNS says what each is)
COLUMNS: dict[str, str] = {
    "eventID": "event_id",
    "eventTime": "time",
    "eventVersion": "event_version",
    "eventSource": "event_source",
    "eventName": "event_name",
    "eventType": "event_type",
    "eventCategory": "event_category",
    "awsRegion": "region",
    "recipientAccountId": "recipient_account_id",
    "sourceIPAddress": "source_ip",
    "userAgent": "user_agent",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "readOnly": "read_only",
    "sharedEventID": "shared_event_id",
    "requestID": "request_id",
    "sessionCredentialFromConsole": "from_console",
    "userIdentity.type": "identity_type",
    "userIdentity.arn": "identity_arn",
    "userIdentity.principalId": "principal_id",
    "userIdentity.accountId": "account_id",
    "userIdentity.accessKeyId": "access_key_id",
    "userIdentity.userName": "user_name",
    "userIdentity.invokedBy": "invoked_by",
    "userIdentity.onBehalfOf.userId": "on_behalf_of",
    "userIdentity.sessionContext.sessionIssuer.type": "issuer_type",
    "userIdentity.sessionContext.sessionIssuer.arn": "issuer_arn",
    "userIdentity.sessionContext.sessionIssuer.principalId": "issuer_principal_id",
    "userIdentity.sessionContext.attributes.mfaAuthenticated": "mfa",
    "userIdentity.sessionContext.attributes.creationDate": "session_created",
    "userIdentity.sessionContext.sourceIdentity": "source_identity",
    "userIdentity.sessionContext.webIdFederationData.federatedProvider": "web_id_provider",
}
JSON_COLUMNS: dict[str, str] = {
    "requestParameters": "request_parameters",
    "responseElements": "response_elements",
    "additionalEventData": "additional_event_data",
    "resources": "resources",
}
_FOLDED = {k.lower(): v for k, v in COLUMNS.items()}
_FOLDED_JSON = {k.lower(): v for k, v in JSON_COLUMNS.items()}


class Field(NamedTuple):
    column: str  # the events column
    path: tuple[str, ...]  # keys inside its JSON text; () for the column itself


def where(name: str) -> Field | None:
    """The column (and JSON path) of a CloudTrail field; None when a case does not keep it."""
    col = COLUMNS.get(name) or _FOLDED.get(name.lower())
    if col:
        return Field(col, ())
    head, _, rest = name.partition(".")
    col = JSON_COLUMNS.get(head) or _FOLDED_JSON.get(head.lower())
    if col is None:
        return None
    return Field(col, tuple(p for p in rest.split(".") if p) if rest else ())
