"""The graphtrail schema, declared once: tables, node labels, relationship types, properties.

Everything else reads these names: the loaders emit them, the case writes its Parquet files
with these schemas, both stores write them (:mod:`graphtrail.store.neo4j` generates its MERGE
statements from them), and the Cypher files use them (``tests/test_schema.py`` parses every
``cypher/*.cypher`` and checks its labels, relationship types and properties against this module).

Tables of a case
* :data:`EVENT_COLUMNS` -- one normalized CloudTrail event (``events/*.parquet``).
* :data:`CALL_COLUMNS` -- one call with its actor and resource (``graph/activity.parquet``);
  a ``(:Call)`` node in Neo4j is a group of calls that share all but :data:`CALL_GROUP_LISTS`.
* :data:`SESSION_COLUMNS` -- one session (``graph/sessions.parquet``); a ``(:Session)`` node
  carries them, three under another name (:data:`SESSION_PROPERTY`).
* :func:`node_schema`, :func:`edge_schema` -- the graph (``graph/nodes.parquet``, ``edges``).

The graph
* :class:`NodeKind` (labels) and :class:`EdgeKind` (relationship types);
* :data:`EDGES` -- each relationship type with the kinds it may join and its properties;
* :data:`NODE_PROPERTIES` -- the properties each label may carry beyond :data:`NODE_CORE`.

Node ids follow the grammar of :mod:`graphtrail.ids` (build and parse functions).

>>> EdgeKind.ISSUED.value
'ISSUED'
>>> NodeKind.SESSION.value
'Session'
>>> event_schema().field("event_id").type
DataType(string)
>>> NodeKind.SESSION in EDGES[EdgeKind.ISSUED].dst
True
>>> SESSION_PROPERTY["issued"]
'issued_us'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import pyarrow as pa

__all__ = [
    "Column",
    "EVENT_COLUMNS",
    "event_parquet_options",
    "INSIGHT_COLUMNS",
    "CALL_COLUMNS",
    "SESSION_COLUMNS",
    "SESSION_PROPERTY",
    "CALL_GROUP_LISTS",
    "ORIGIN_FIELDS",
    "NodeKind",
    "EdgeKind",
    "CREDENTIAL_KINDS",
    "PRINCIPAL_KINDS",
    "ACTOR_KINDS",
    "EdgeSpec",
    "EDGES",
    "NODE_CORE",
    "EDGE_CORE",
    "EDGE_PUSHED",
    "NODE_PROPERTIES",
    "OWN_LABEL",
    "event_schema",
    "insight_schema",
    "call_schema",
    "session_schema",
    "node_schema",
    "edge_schema",
    "names",
    "node_properties",
]


class Column(NamedTuple):
    """One column of a table: its name, Arrow type and meaning."""

    name: str
    type: pa.DataType
    meaning: str


def names(columns: tuple[Column, ...]) -> tuple[str, ...]:
    """The names of ``columns``, in order."""
    return tuple(c.name for c in columns)


_TS = pa.timestamp("us", tz="UTC")

# (name, arrow type, meaning). Order is the on-disk column order.
EVENT_COLUMNS: tuple[Column, ...] = tuple(Column(*c) for c in (
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
))

INSIGHT_COLUMNS: tuple[Column, ...] = tuple(Column(*c) for c in (
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
))


def event_schema() -> pa.Schema:
    """The Arrow schema of the events table."""
    return pa.schema([pa.field(n, t) for n, t, _ in EVENT_COLUMNS])


# Event columns whose values seldom repeat: ids, times, payloads, positions.
_EVENT_UNREPEATED = frozenset({"event_id", "time", "session_created", "issued_key",
                               "issued_expiration", "request_parameters", "response_elements",
                               "additional_event_data", "resources", "shared_event_id",
                               "request_id", "record_index"})


def event_parquet_options() -> dict:
    """How ``events/*.parquet`` is written (``pq.write_table`` keywords): a Parquet
    dictionary only for the columns whose values repeat, and statistics only for the time,
    the one column a reader prunes row groups by (a time window; the min and max of UUIDs
    or JSON payloads prune nothing). Measured on 91,168 events of parts of 22,800: 1.60 us
    an event against 1.98 with every column's dictionary and statistics, 5% smaller.

    >>> sorted(event_parquet_options())
    ['compression', 'use_dictionary', 'write_statistics']
    """
    return {"compression": "zstd", "write_statistics": ["time"],
            "use_dictionary": [n for n, _, _ in EVENT_COLUMNS if n not in _EVENT_UNREPEATED]}


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
    CALL = "Call"  # API calls grouped per credential, action, resource... (Neo4j; embedded: activity)


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
    DERIVES = "DERIVES"  # credential -> credential, one step of a blast radius (Neo4j only)



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


_STR = pa.string()
# (name, arrow type, meaning). Order is the on-disk column order of ``graph/activity.parquet``.
CALL_COLUMNS: tuple[Column, ...] = tuple(Column(*c) for c in (
    ("event_id", _STR, "eventID"),
    ("time", _TS, "eventTime, UTC (a Call node: times_us, epoch µs)"),
    ("actor", _STR, "node id of the credential (or principal) that made the call"),
    ("actor_kind", _STR, "the actor's NodeKind value"),
    ("resource", _STR, "node id of what the call acted on"),
    ("event_source", _STR, "eventSource"),
    ("event_name", _STR, "eventName"),
    ("error_code", _STR, "errorCode; null when the call succeeded"),
    ("source_ip", _STR, "sourceIPAddress"),
    ("user_agent", _STR, "userAgent"),
    ("region", _STR, "awsRegion"),
    ("recipient_account_id", _STR, "the account that logged the call"),
    ("account_id", _STR, "the caller's account"),
    ("identity_type", _STR, "userIdentity.type"),
    ("identity_arn", _STR, "userIdentity.arn"),
    ("read_only", pa.bool_(), "readOnly"),
    ("shared_event_id", _STR, "sharedEventID"),
    ("source_file", _STR, "where the record was read"),
    ("detail", _STR, "requestParameters kept for the calls detections read, JSON text"),
    ("access_key_id", _STR, "userIdentity.accessKeyId"),
))

# The columns of the calls table that differ call by call within a (:Call) group node, and
# the list each becomes (graphtrail/store/neo4j_calls.py); eventID and time become
# ``event_ids`` and ``times_us``.
CALL_GROUP_LISTS = {"source_file": "source_files", "detail": "details",
                    "shared_event_id": "shared_event_ids"}
# (name, arrow type, meaning). Order is the on-disk column order of ``graph/sessions.parquet``.
SESSION_COLUMNS: tuple[Column, ...] = tuple(Column(*c) for c in (
    ("session", _STR, "the session's node id (session:KEY@ISSUED)"),
    ("access_key_id", _STR, "its temporary key"),
    ("via", _STR, "how it was opened: the STS call, ConsoleLogin, or unknown"),
    ("issued", _TS, "when it was issued"),
    ("expires", _TS, "when it expires"),
    ("principal_kind", _STR, "NodeKind of the principal it acts as"),
    ("principal", _STR, "node id of that principal"),
    ("session_name", _STR, "roleSessionName or the federated user's name"),
    ("account", _STR, "the account it acts in"),
    ("issuer", _STR, "node id of the credential or principal that issued it"),
    ("issuer_account", _STR, "the issuer's account"),
    ("event_ids", pa.list_(_STR), "eventIDs of the call(s) that issued it"),
    ("source_identity", _STR, "sourceIdentity"),
    ("console", pa.bool_(), "a console session"),
    ("issuer_inferred", pa.bool_(), "the issuer was linked by principalId and time"),
    ("access_key_ids", pa.list_(_STR), "every key a console session used"),
    ("note", _STR, "why a link is uncertain"),
    ("origin", _STR, "where it came from (identity provider, portal), JSON text"),
    ("mfa", pa.bool_(), "signed in with MFA"),
    ("sides", _STR, "the copies of a cross-account issue seen, JSON text"),
    ("replayed", pa.bool_(), "its key was used outside its validity"),
))
# Session columns a (:Session) node carries under another name; ``session`` is its ``id`` and
# ``account`` its core ``account``.
# The fields of a session's ``origin`` a (:Session) node carries as ``origin_<field>`` (what
# chains.cypher names the origin with).
ORIGIN_FIELDS = ("kind", "provider", "subject", "user_id", "user_name", "repository",
                 "source_identity")
SESSION_PROPERTY = {"session": "id", "issued": "issued_us", "expires": "expires_us",
                    "event_ids": "issue_event_ids"}


def call_schema() -> pa.Schema:
    """The Arrow schema of the calls table (``graph/activity.parquet``)."""
    return pa.schema([pa.field(n, t) for n, t, _ in CALL_COLUMNS])


def session_schema() -> pa.Schema:
    """The Arrow schema of the sessions table (``graph/sessions.parquet``)."""
    return pa.schema([pa.field(n, t) for n, t, _ in SESSION_COLUMNS])


# -- the graph as Neo4j holds it -----------------------------------------------------------
# Every node graphtrail writes carries this label too; it reads, relinks and deletes no other.
OWN_LABEL = "Graphtrail"
# Written from the columns of the nodes and edges tables; a props key with one of these names
# is dropped.
NODE_CORE = ("id", "label", "account")
EDGE_CORE = ("first_seen", "last_seen", "count", "event_ids", "event_names")
# Written by the push beside them: the times as epoch µs, what the Cypher library compares
# with ``$since``/``$until`` (no datetime arithmetic, so the files run on any Bolt server).
EDGE_PUSHED = ("first_seen_us", "last_seen_us")

# Nodes that act: they make calls, issue sessions, create and change things.
ACTOR_KINDS = CREDENTIAL_KINDS | PRINCIPAL_KINDS
_TARGET_KINDS = frozenset(NodeKind) - {NodeKind.SESSION, NodeKind.CALL}
# What every actor node says about its activity (loaders/facts/build.py, _actor_nodes).
_ACTIVITY = frozenset({"first_seen", "last_seen", "calls", "user_agents", "user"})

NODE_PROPERTIES: dict[NodeKind, frozenset[str]] = {
    **{k: _ACTIVITY for k in ACTOR_KINDS},
    NodeKind.ACCESS_KEY: _ACTIVITY | {"access_key_id", "created"},
    NodeKind.SESSION: _ACTIVITY | {"issued_at", "expires_at"} | {f"origin_{f}" for f in ORIGIN_FIELDS}
    | {SESSION_PROPERTY.get(c.name, c.name) for c in SESSION_COLUMNS} - set(NODE_CORE),
    NodeKind.IDENTITY_CENTER_USER: frozenset({"user_id"}) | _ACTIVITY,
    NodeKind.IP: frozenset(),
    NodeKind.RESOURCE: frozenset({"service", "type"}),
    NodeKind.LOGIN_PROFILE: frozenset({"user"}),
    NodeKind.POLICY: frozenset(),
    # One node per group of calls (graphtrail/store/neo4j_calls.py): the columns its calls
    # share, then one list entry per call; occurrences: the 2nd, 3rd... call sharing an
    # eventID and time (ids ``...#2``); digest: what a re-push compares.
    NodeKind.CALL: frozenset({"event_ids", "times_us", "occurrences", "first_us", "last_us", "count",
                              "digest", *CALL_GROUP_LISTS.values()})
    | {c.name for c in CALL_COLUMNS} - {"time", "event_id", *CALL_GROUP_LISTS},
}


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    """A relationship type: what it means, which kinds it joins, the properties it may carry."""

    meaning: str
    src: frozenset[NodeKind]
    dst: frozenset[NodeKind]
    props: frozenset[str] = frozenset()


_CHANGE = frozenset({"created_type", "change", "admin", "trusted_accounts", "external_accounts",
                     "policy_arn", "policy_name", "group", "set_as_default", "version",
                     "status"})
EDGES: dict[EdgeKind, EdgeSpec] = {
    EdgeKind.ISSUED: EdgeSpec("issued a session (AssumeRole*, Get*Token, sign-in, portal)",
                              ACTOR_KINDS, frozenset({NodeKind.SESSION}),
                              frozenset({"via", "to_account", "from_account", "linked_by"})),
    EdgeKind.OF_ROLE: EdgeSpec("a session of a role", frozenset({NodeKind.SESSION}),
                               frozenset({NodeKind.ROLE})),
    EdgeKind.OF_PRINCIPAL: EdgeSpec(
        "a session (or login profile) of a user, federated user, root or Identity Center user",
        frozenset({NodeKind.SESSION, NodeKind.LOGIN_PROFILE}),
        frozenset({NodeKind.USER, NodeKind.FEDERATED_USER, NodeKind.ROOT,
                   NodeKind.IDENTITY_CENTER_USER})),
    EdgeKind.HAS_KEY: EdgeSpec("a user's (or root's) long-term key",
                               frozenset({NodeKind.USER, NodeKind.ROOT}),
                               frozenset({NodeKind.ACCESS_KEY}), frozenset({"seen_in_use"})),
    EdgeKind.CREATED: EdgeSpec("created a key, user, login profile, role or policy", ACTOR_KINDS,
                               frozenset({NodeKind.ACCESS_KEY, NodeKind.USER, NodeKind.ROLE,
                                          NodeKind.LOGIN_PROFILE, NodeKind.POLICY}), _CHANGE),
    EdgeKind.CHANGED: EdgeSpec("changed a principal's permissions or trust, or a policy",
                               ACTOR_KINDS,
                               frozenset({NodeKind.USER, NodeKind.ROLE, NodeKind.LOGIN_PROFILE,
                                          NodeKind.POLICY, NodeKind.RESOURCE}), _CHANGE),
    EdgeKind.ACTED_ON: EdgeSpec("a successful call on a resource", ACTOR_KINDS, _TARGET_KINDS),
    EdgeKind.ATTEMPTED: EdgeSpec("a failed call (never a hop)", ACTOR_KINDS, _TARGET_KINDS,
                                 frozenset({"error_code"})),
    EdgeKind.FROM_IP: EdgeSpec("calls from an address", ACTOR_KINDS, frozenset({NodeKind.IP})),
    EdgeKind.IN_ACCOUNT: EdgeSpec("belongs to an account",
                                  frozenset({NodeKind.USER, NodeKind.ROLE, NodeKind.ROOT,
                                             NodeKind.FEDERATED_USER, NodeKind.RESOURCE,
                                             NodeKind.POLICY}),
                                  frozenset({NodeKind.ACCOUNT})),
    EdgeKind.MADE: EdgeSpec("made a call (Neo4j only)", ACTOR_KINDS, frozenset({NodeKind.CALL})),
    EdgeKind.DERIVES: EdgeSpec("one step of a blast radius, written at push by "
                               "cypher/derived_credentials.cypher (Neo4j only)",
                               ACTOR_KINDS, CREDENTIAL_KINDS, frozenset({"via", "time_us"})),
}


def node_properties() -> frozenset[str]:
    """Every property name a node may carry in Neo4j, whatever its label."""
    out = set(NODE_CORE)
    for props in NODE_PROPERTIES.values():
        out |= props
    return frozenset(out)
