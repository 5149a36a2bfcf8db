"""Tooltips for the graph view: the evidence behind each node and relation, as plain text.

A tooltip is a heading and a list of ``[field, value]`` rows, all plain strings. The page
script puts them into the DOM with ``textContent``; nothing here is HTML, and nothing needs
escaping here. Values are clipped so one huge request parameter cannot swamp the page.

>>> import networkx as nx
>>> g = nx.MultiDiGraph()
>>> g.add_node("k", kind="AccessKey", label="k", source_ips=["192.0.2.1", "192.0.2.2"])
>>> g.add_node("s", kind="Session", label="s")
>>> _ = g.add_edge("k", "s", kind="ISSUED", first_seen=0, last_seen=60_000_000, count=7,
...                event_ids=["e1", "e2"], event_names=["AssumeRole"])
>>> node_tip("k", g.nodes["k"])[-1]
['Source IPs', '192.0.2.1\\n192.0.2.2']
>>> dict(edge_tip(g.edges["k", "s", 0]))["Event IDs"]
'e1\\ne2\\n(+5 more)'
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Any

import networkx as nx

from graphtrail.model import EdgeKind
from graphtrail.views.graph.style import node_style

__all__ = ["node_head", "node_tip", "edge_head", "edge_tip", "iso_utc"]

_EPOCH = datetime(1970, 1, 1)  # naive on purpose: isoformat() then carries no offset
_VALUE_MAX = 400
_LIST_MAX = 5
_EXTRA_PROPS_MAX = 12
_ACRONYMS = {
    "arn": "ARN",
    "aws": "AWS",
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "ips": "IPs",
    "mfa": "MFA",
    "sso": "SSO",
    "url": "URL",
}

# Node properties worth a tooltip line, in this order; the rest follow alphabetically.
_NODE_PROPS = (
    "arn",
    "session_name",
    "access_key_id",
    "user_agent",
    "user_agents",
    "source_ip",
    "source_ips",
    "ips",
    "first_seen",
    "last_seen",
    "mfa",
    "source_identity",
    "region",
    "regions",
)
_HIDDEN_PROPS = frozenset({"kind", "label", "account", "aggregate", "members", "sample"})
_EDGE_FIELDS = frozenset(
    {"kind", "first_seen", "last_seen", "count", "event_ids", "event_names", "links"}
)


def iso_utc(value: Any) -> str:
    """Format epoch microseconds as ISO 8601 UTC; other values as text.

    >>> iso_utc(1_700_000_000_123_456), iso_utc(None), iso_utc("2024")
    ('2023-11-14T22:13:20.123456Z', '', '2024')
    """
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        try:
            moment = _EPOCH + timedelta(microseconds=value)
        except OverflowError:
            return str(value)
        return f"{moment.isoformat()}Z"
    return str(value)


def node_head(node: Hashable, attrs: dict) -> str:
    """Tooltip heading of a node: 'Session: ASIA...'."""
    return f"{node_style(str(attrs.get('kind') or '')).name}: {attrs.get('label') or node}"


def edge_head(g: nx.MultiDiGraph, u: Hashable, v: Hashable, kind: str) -> str:
    """Tooltip heading of a relation: 'ISSUED: AKIA... → ASIA...'."""
    what = f"{kind} (failed calls)" if kind == EdgeKind.ATTEMPTED.value else kind
    return f"{what}: {_clip(_name(g, u))} \u2192 {_clip(_name(g, v))}"


def node_tip(node: Hashable, attrs: dict) -> list[list[str]]:
    """Tooltip rows of one node: kind, id, account, then its properties.

    Parameters
    ----------
    node : hashable
        Node id.
    attrs : dict
        The node attributes; a summary node (``aggregate``) shows examples instead of an id.

    Returns
    -------
    list of [str, str]
    """
    kind = str(attrs.get("kind") or "")
    style = node_style(kind)
    rows = [["Kind", style.name if style.name == kind or not kind else f"{style.name} ({kind})"]]
    if attrs.get("aggregate"):
        members = _int(attrs.get("members"), 0)
        rows.append(["Summary of", f"{members:,} nodes with the same links (graph too large)"])
        sample = [str(s) for s in attrs.get("sample") or []]
        rows.append(["Examples", _listing(sample, members)])
    else:
        rows.append(["ID", _clip(str(node))])
        label = attrs.get("label")
        if label and str(label) != str(node):
            rows.append(["Label", _clip(str(label))])
    if attrs.get("account"):
        rows.append(["Account", _clip(str(attrs["account"]))])
    props = {k: v for k, v in attrs.items() if k not in _HIDDEN_PROPS and v not in (None, "")}
    if isinstance(attrs.get("props"), dict):
        props.pop("props")
        props.update({k: v for k, v in attrs["props"].items() if v not in (None, "")})
    known = [k for k in _NODE_PROPS if k in props]
    extra = sorted((k for k in props if k not in _NODE_PROPS), key=str)[:_EXTRA_PROPS_MAX]
    rows.extend([_field_name(k), _value(k, props[k])] for k in known + extra)
    return rows


def edge_tip(attrs: dict) -> list[list[str]]:
    """Tooltip rows of one relation: first/last seen, count, eventIDs, event names, props.

    The heading (:func:`edge_head`) names the relation and both ends.

    Parameters
    ----------
    attrs : dict
        The edge attributes.

    Returns
    -------
    list of [str, str]
    """
    count = _int(attrs.get("count"), 1)
    event_ids = [str(e) for e in attrs.get("event_ids") or []]
    rows = [
        ["First seen", iso_utc(attrs.get("first_seen"))],
        ["Last seen", iso_utc(attrs.get("last_seen"))],
        ["Count", f"{count:,}"],
        ["Event IDs", _listing(event_ids, max(len(event_ids), count))],
        ["Event names", _listing([str(e) for e in attrs.get("event_names") or []], None, 10)],
    ]
    if attrs.get("links"):
        rows.append(["Links summarised", f"{_int(attrs['links'], 0):,}"])
    extra = {k: val for k, val in attrs.items() if k not in _EDGE_FIELDS and val not in (None, "")}
    if isinstance(extra.get("props"), dict):
        extra.update(extra.pop("props"))
    for k in sorted(extra, key=str)[:_EXTRA_PROPS_MAX]:
        rows.append([_field_name(k), _value(k, extra[k])])
    return [r for r in rows if r[1] != ""]


def _name(g: nx.MultiDiGraph, node: Hashable) -> str:
    return str(g.nodes[node].get("label") or node)


def _listing(items: list[str], total: int | None, cap: int = _LIST_MAX) -> str:
    shown = [_clip(s) for s in items[:cap]]
    more = (total if total is not None else len(items)) - len(shown)
    return "\n".join(shown + ([f"(+{more:,} more)"] if more > 0 else []))


def _value(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and _is_time(key):
        return iso_utc(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(map(str, value)) if isinstance(value, set | frozenset) else value
        return _listing([str(x) for x in items], len(items))
    if isinstance(value, dict):
        return _clip(json.dumps(value, sort_keys=True, default=str))
    return _clip(str(value))


def _is_time(key: str) -> bool:
    k = str(key)
    return k.endswith(("_seen", "_time", "_at", "created", "expiration")) or k == "time"


def _field_name(key: Any) -> str:
    words = [_ACRONYMS.get(w.lower(), w) for w in str(key).replace("_", " ").split()]
    text = " ".join(words)
    return _clip(text[:1].upper() + text[1:], 60)


def _clip(text: str, limit: int = _VALUE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
