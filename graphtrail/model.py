"""The graphtrail schema, declared once.

Everything else reads these names: the loaders emit them, both stores write them, the
Cypher files and the pyvis styling use them.

* :data:`EVENT_COLUMNS` -- one normalized CloudTrail event, as stored in the case (Parquet).
* :class:`NodeKind`, :class:`EdgeKind` -- the identity graph.
* :class:`Node`, :class:`Edge` -- graph facts; every edge carries its evidence
  (first/last seen, count and the eventIDs behind it).

>>> EdgeKind.ISSUED.value
'ISSUED'
>>> NodeKind.SESSION.value
'Session'
>>> event_schema().field("event_id").type
DataType(string)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa

__all__ = [
    "EVENT_COLUMNS",
    "INSIGHT_COLUMNS",
    "EVIDENCE_CAP",
    "MASKED_VALUES",
    "NodeKind",
    "EdgeKind",
    "CREDENTIAL_KINDS",
    "PRINCIPAL_KINDS",
    "Node",
    "Edge",
    "event_schema",
    "insight_schema",
    "node_schema",
    "edge_schema",
    "is_masked",
]

# At most this many eventIDs are kept on one edge; ``count`` is always exact and the full list
# is one filter away in the events table.
EVIDENCE_CAP = 20

# Values that are placeholders, never identities: they must not become nodes or links.
MASKED_VALUES = frozenset(
    {
        "",
        "HIDDEN_DUE_TO_SECURITY_REASONS",
        "AKIA****************",
        "ASIA****************",
        "AROA****************",
        "AIDA****************",
        "ANONYMOUS_PRINCIPAL",
        "REDACTED",
        "SAMPLE_ACCESS_KEY",
        "null",
        "None",
    }
)


def is_masked(value: str | None) -> bool:
    """True when ``value`` is empty or a placeholder that must not link anything.

    >>> is_masked("AKIA****************"), is_masked("AKIAIOSFODNN7EXAMPLE"), is_masked(None)
    (True, False, True)
    """
    if not value:
        return True
    return value in MASKED_VALUES or "****" in value


_TS = pa.timestamp("us", tz="UTC")

# (name, arrow type, meaning). Order is the on-disk column order.
EVENT_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("event_id", pa.string(), "eventID (synthesised from a content hash when absent)"),
    ("time", _TS, "eventTime, UTC"),
    ("event_version", pa.string(), "eventVersion"),
    ("event_source", pa.string(), "eventSource, e.g. sts.amazonaws.com"),
    ("event_name", pa.string(), "eventName"),
    ("event_type", pa.string(), "eventType: AwsApiCall, AwsConsoleSignIn, AwsServiceEvent..."),
    ("event_category", pa.string(), "Management, Data, NetworkActivity"),
    ("region", pa.string(), "awsRegion"),
    ("account_id", pa.string(), "userIdentity.accountId (the caller's account)"),
    ("recipient_account_id", pa.string(), "recipientAccountId (the account that logged it)"),
    ("source_ip", pa.string(), "sourceIPAddress: an IP, or the AWS service that called"),
    ("user_agent", pa.string(), "userAgent"),
    ("error_code", pa.string(), "errorCode; null when the call succeeded"),
    ("error_message", pa.string(), "errorMessage"),
    ("read_only", pa.bool_(), "readOnly"),
    ("identity_type", pa.string(), "userIdentity.type"),
    ("identity_arn", pa.string(), "userIdentity.arn"),
    ("principal_id", pa.string(), "userIdentity.principalId"),
    ("access_key_id", pa.string(), "userIdentity.accessKeyId: the credential that made the call"),
    ("user_name", pa.string(), "userIdentity.userName"),
    ("issuer_type", pa.string(), "sessionContext.sessionIssuer.type"),
    ("issuer_arn", pa.string(), "sessionContext.sessionIssuer.arn"),
    ("issuer_principal_id", pa.string(), "sessionContext.sessionIssuer.principalId"),
    ("session_created", _TS, "sessionContext.attributes.creationDate"),
    ("mfa", pa.bool_(), "sessionContext.attributes.mfaAuthenticated"),
    ("source_identity", pa.string(), "sessionContext.sourceIdentity"),
    ("invoked_by", pa.string(), "userIdentity.invokedBy"),
    ("on_behalf_of", pa.string(), "userIdentity.onBehalfOf.userId (Identity Center)"),
    ("web_id_provider", pa.string(), "sessionContext.webIdFederationData.federatedProvider"),
    ("from_console", pa.bool_(), "sessionCredentialFromConsole"),
    ("issued_key", pa.string(), "credential issued in the response: STS or CreateAccessKey"),
    ("issued_expiration", _TS, "expiration of the issued temporary credential"),
    ("request_parameters", pa.string(), "requestParameters, JSON text"),
    ("response_elements", pa.string(), "responseElements, JSON text"),
    ("additional_event_data", pa.string(), "additionalEventData, JSON text"),
    ("resources", pa.string(), "resources, JSON text"),
    ("shared_event_id", pa.string(), "sharedEventID: both copies of a cross-account call"),
    ("request_id", pa.string(), "requestID"),
    ("source_file", pa.string(), "where the record was read: path or URI"),
    ("record_index", pa.int32(), "position of the record in its source"),
)

INSIGHT_COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("event_id", pa.string(), "eventID"),
    ("time", _TS, "eventTime"),
    ("event_source", pa.string(), "insightDetails.eventSource"),
    ("event_name", pa.string(), "insightDetails.eventName"),
    ("insight_type", pa.string(), "insightDetails.insightType"),
    ("state", pa.string(), "insightDetails.state"),
    ("recipient_account_id", pa.string(), "recipientAccountId"),
    ("region", pa.string(), "awsRegion"),
    ("details", pa.string(), "insightDetails, JSON text"),
    ("source_file", pa.string(), "where the record was read"),
)


def event_schema() -> pa.Schema:
    """The Arrow schema of the events table."""
    return pa.schema([pa.field(n, t) for n, t, _ in EVENT_COLUMNS])


def insight_schema() -> pa.Schema:
    """The Arrow schema of the Insights table (kept apart from API calls)."""
    return pa.schema([pa.field(n, t) for n, t, _ in INSIGHT_COLUMNS])


class NodeKind(StrEnum):
    """What a node is, in the investigator's words. The value is the Neo4j label."""

    ACCOUNT = "Account"
    ROOT = "Root"
    USER = "User"
    ROLE = "Role"
    FEDERATED_USER = "FederatedUser"
    IDENTITY_PROVIDER = "IdentityProvider"  # SAML / web-identity provider
    IDENTITY_CENTER_USER = "IdentityCenterUser"
    AWS_SERVICE = "AwsService"
    ACCESS_KEY = "AccessKey"  # long-term AKIA key
    SESSION = "Session"  # one issued temporary credential (ASIA...)
    IP = "IpAddress"
    RESOURCE = "Resource"
    LOGIN_PROFILE = "LoginProfile"
    POLICY = "Policy"
    CALL = "Call"  # one API call; Neo4j holds them for timelines (the embedded store: activity)


# Nodes that make calls: every API call hangs off one of these.
CREDENTIAL_KINDS = frozenset({NodeKind.ACCESS_KEY, NodeKind.SESSION})
PRINCIPAL_KINDS = frozenset(
    {
        NodeKind.ROOT,
        NodeKind.USER,
        NodeKind.ROLE,
        NodeKind.FEDERATED_USER,
        NodeKind.IDENTITY_PROVIDER,
        NodeKind.IDENTITY_CENTER_USER,
        NodeKind.AWS_SERVICE,
        NodeKind.ACCOUNT,
    }
)


class EdgeKind(StrEnum):
    """How two nodes are linked. The value is the Neo4j relationship type."""

    ISSUED = "ISSUED"  # credential/principal -> Session (AssumeRole*, Get*Token, sign-in)
    OF_ROLE = "OF_ROLE"  # Session -> Role
    OF_PRINCIPAL = "OF_PRINCIPAL"  # Session -> User/FederatedUser/Root (non-role sessions)
    HAS_KEY = "HAS_KEY"  # User/Root -> AccessKey
    CREATED = "CREATED"  # credential -> AccessKey/User/LoginProfile/Policy/Role
    CHANGED = "CHANGED"  # credential -> principal or policy (permissions or trust)
    ACTED_ON = "ACTED_ON"  # credential -> Resource (successful calls)
    ATTEMPTED = "ATTEMPTED"  # credential -> Role/Resource (failed calls; never a hop)
    FROM_IP = "FROM_IP"  # credential -> IpAddress
    IN_ACCOUNT = "IN_ACCOUNT"  # principal/resource -> Account
    MADE = "MADE"  # credential -> Call (Neo4j only)


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the identity graph. ``id`` is unique across kinds."""

    id: str
    kind: NodeKind
    label: str
    account: str | None = None
    props: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(slots=True)
class Edge:
    """A relation with its evidence: first/last seen, exact count, sample eventIDs."""

    src: str
    dst: str
    kind: EdgeKind
    first_seen: int  # epoch microseconds, UTC
    last_seen: int
    count: int = 1
    event_ids: list[str] = field(default_factory=list)
    event_names: list[str] = field(default_factory=list)
    props: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.src, self.kind.value, self.dst)

    def absorb(self, other: Edge) -> None:
        """Fold another observation of the same relation into this one."""
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.count += other.count
        room = EVIDENCE_CAP - len(self.event_ids)
        if room > 0:
            seen = set(self.event_ids)
            self.event_ids.extend([e for e in other.event_ids if e not in seen][:room])
        for name in other.event_names:
            if name not in self.event_names:
                self.event_names.append(name)
        for k, v in other.props.items():
            self.props.setdefault(k, v)


def node_schema() -> pa.Schema:
    """On-disk table of nodes (props as JSON text)."""
    return pa.schema(
        [
            ("id", pa.string()),
            ("kind", pa.string()),
            ("label", pa.string()),
            ("account", pa.string()),
            ("props", pa.string()),
        ]
    )


def edge_schema() -> pa.Schema:
    """On-disk table of edges with their evidence."""
    return pa.schema(
        [
            ("src", pa.string()),
            ("dst", pa.string()),
            ("kind", pa.string()),
            ("first_seen", _TS),
            ("last_seen", _TS),
            ("count", pa.int64()),
            ("event_ids", pa.list_(pa.string())),
            ("event_names", pa.list_(pa.string())),
            ("props", pa.string()),
        ]
    )
