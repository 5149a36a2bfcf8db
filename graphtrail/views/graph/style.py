"""How the identity graph looks, declared once for every view.

Each :class:`~graphtrail.model.NodeKind` gets a shape, a fill colour and a legend line; each
:class:`~graphtrail.model.EdgeKind` a colour, a width and whether it is dashed. Accounts are
told apart by the border colour of their nodes (:func:`account_colours`).

The fills are the Okabe-Ito palette, chosen to stay distinguishable under the common forms of
colour blindness; no two kinds share both shape and colour, so the shape alone separates most
kinds and the colour settles the rest. Dashes mean one thing only: a failed call (ATTEMPTED).

>>> NODE_STYLES[NodeKind.SESSION].shape, NODE_STYLES[NodeKind.SESSION].colour
('dot', '#F0E442')
>>> EDGE_STYLES[EdgeKind.ATTEMPTED].dashes
True
>>> account_colours(["111111111111", "222222222222"]) == account_colours(
...     ["222222222222", "111111111111"])
True
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from graphtrail.model import EdgeKind, NodeKind

__all__ = [
    "NodeStyle",
    "EdgeStyle",
    "NODE_STYLES",
    "EDGE_STYLES",
    "ACCOUNT_PALETTE",
    "NO_ACCOUNT_BORDER",
    "HIGHLIGHT_GLOW",
    "node_style",
    "edge_style",
    "account_colours",
]


@dataclass(frozen=True, slots=True)
class NodeStyle:
    """How one kind of node is drawn.

    Attributes
    ----------
    shape : str
        A vis-network shape; all but ``box`` draw the label below the shape.
    colour : str
        Fill colour, ``#RRGGBB``.
    size : int
        Radius in pixels (ignored by ``box``, which fits its label).
    name : str
        Legend name, in the investigator's words.
    meaning : str
        One line of legend text.
    font_colour : str
        Label colour.
    """

    shape: str
    colour: str
    size: int
    name: str
    meaning: str
    font_colour: str = "#1A1A1A"


@dataclass(frozen=True, slots=True)
class EdgeStyle:
    """How one kind of relation is drawn.

    Attributes
    ----------
    colour : str
        Line colour, ``#RRGGBB``.
    width : float
        Line width in pixels.
    dashes : bool
        Dashed line; reserved for failed calls.
    meaning : str
        One line of legend text.
    """

    colour: str
    width: float
    dashes: bool
    meaning: str


# Okabe-Ito: https://jfly.uni-koeln.de/color/ (plus greys).
_BLUE, _SKY, _GREEN, _YELLOW = "#0072B2", "#56B4E9", "#009E73", "#F0E442"
_ORANGE, _VERMILLION, _PURPLE = "#E69F00", "#D55E00", "#CC79A7"
_GREY, _LIGHT_GREY = "#8C8C8C", "#BDBDBD"

NODE_STYLES: dict[NodeKind, NodeStyle] = {
    NodeKind.ACCOUNT: NodeStyle("box", "#F4F4F4", 14, "Account", "AWS account"),
    NodeKind.ROOT: NodeStyle("star", _VERMILLION, 20, "Root", "root user of an account"),
    NodeKind.USER: NodeStyle("dot", _BLUE, 14, "User", "IAM user"),
    NodeKind.ROLE: NodeStyle("hexagon", _GREEN, 16, "Role", "IAM role"),
    NodeKind.FEDERATED_USER: NodeStyle(
        "triangle", _SKY, 14, "Federated user", "federated user (GetFederationToken)"
    ),
    NodeKind.IDENTITY_CENTER_USER: NodeStyle(
        "triangle", _PURPLE, 14, "Identity Center user", "IAM Identity Center user"
    ),
    NodeKind.IDENTITY_PROVIDER: NodeStyle(
        "triangleDown", _PURPLE, 14, "Identity provider", "SAML or web-identity provider"
    ),
    NodeKind.AWS_SERVICE: NodeStyle(
        "triangleDown", _GREY, 12, "AWS service", "AWS service acting for a principal"
    ),
    NodeKind.ACCESS_KEY: NodeStyle(
        "diamond", _ORANGE, 13, "Access key", "long-term access key (AKIA...)"
    ),
    NodeKind.LOGIN_PROFILE: NodeStyle(
        "diamond", _SKY, 11, "Login profile", "console password of a user"
    ),
    NodeKind.SESSION: NodeStyle(
        "dot", _YELLOW, 11, "Session", "one temporary credential (ASIA...)"
    ),
    NodeKind.IP: NodeStyle("square", _SKY, 9, "IP address", "source IP address of calls"),
    NodeKind.RESOURCE: NodeStyle(
        "square", _LIGHT_GREY, 8, "Resource", "resource acted on (bucket, instance...)"
    ),
    NodeKind.POLICY: NodeStyle("hexagon", _PURPLE, 11, "Policy", "IAM policy"),
    NodeKind.CALL: NodeStyle("dot", _GREY, 6, "Call", "one API call"),
}

# Unknown kinds (a newer case file, say) still draw, plainly.
_FALLBACK_NODE = NodeStyle("dot", "#FFFFFF", 10, "Other", "node of an unknown kind")

EDGE_STYLES: dict[EdgeKind, EdgeStyle] = {
    EdgeKind.ISSUED: EdgeStyle(_BLUE, 2.5, False, "obtained a session (AssumeRole, sign-in...)"),
    EdgeKind.OF_ROLE: EdgeStyle(_GREEN, 1.5, False, "session is of this role"),
    EdgeKind.OF_PRINCIPAL: EdgeStyle("#44AA99", 1.5, False, "session is of this principal"),
    EdgeKind.HAS_KEY: EdgeStyle(_ORANGE, 1.5, False, "principal owns this access key"),
    EdgeKind.CREATED: EdgeStyle(_PURPLE, 2.0, False, "created a key, user, role or policy"),
    EdgeKind.CHANGED: EdgeStyle("#882255", 2.0, False, "changed permissions or trust"),
    EdgeKind.ACTED_ON: EdgeStyle(_GREY, 1.0, False, "successful calls on a resource"),
    EdgeKind.ATTEMPTED: EdgeStyle(_VERMILLION, 1.5, True, "failed calls (access denied...)"),
    EdgeKind.FROM_IP: EdgeStyle(_SKY, 1.0, False, "calls came from this IP address"),
    EdgeKind.IN_ACCOUNT: EdgeStyle(_LIGHT_GREY, 0.8, False, "belongs to this account"),
    EdgeKind.MADE: EdgeStyle(_GREY, 0.8, False, "made this call"),
}

_FALLBACK_EDGE = EdgeStyle("#666666", 1.0, False, "relation of an unknown kind")

# Paul Tol's "muted" scheme: distinct from the fills above and from each other for the common
# colour-vision deficiencies. Used for node borders, which say which account a node is in.
ACCOUNT_PALETTE: tuple[str, ...] = (
    "#332288",
    "#117733",
    "#882255",
    "#44AA99",
    "#999933",
    "#AA4499",
    "#CC6677",
    "#88CCEE",
    "#DDCC77",
)
NO_ACCOUNT_BORDER = "#4D4D4D"
HIGHLIGHT_GLOW = "rgba(213, 94, 0, 0.75)"


def node_style(kind: str | NodeKind) -> NodeStyle:
    """The style of a node kind, by enum or by its value; a plain style for unknown kinds.

    >>> node_style("Role").shape
    'hexagon'
    >>> node_style("Spaceship").name
    'Other'
    """
    try:
        return NODE_STYLES[NodeKind(kind)]
    except ValueError:
        return _FALLBACK_NODE


def edge_style(kind: str | EdgeKind) -> EdgeStyle:
    """The style of an edge kind, by enum or by its value; a plain style for unknown kinds.

    >>> edge_style("ISSUED").width
    2.5
    """
    try:
        return EDGE_STYLES[EdgeKind(kind)]
    except ValueError:
        return _FALLBACK_EDGE


def account_colours(accounts: Iterable[str]) -> dict[str, str]:
    """Give each account a border colour, the same one in every view where possible.

    An account's colour is picked from a hash of its id, so the same account keeps its colour
    across views of a case; when two accounts of one view collide, the later (in sorted order)
    takes the next free colour. Past ``len(ACCOUNT_PALETTE)`` accounts colours repeat.

    Parameters
    ----------
    accounts : iterable of str
        Account ids; duplicates and empty values are ignored.

    Returns
    -------
    dict
        Account id -> ``#RRGGBB``.

    Examples
    --------
    >>> colours = account_colours(["123456789012", "210987654321", "123456789012"])
    >>> len(colours), len(set(colours.values()))
    (2, 2)
    """
    unique = sorted({a for a in accounts if a})
    n = len(ACCOUNT_PALETTE)
    taken: set[int] = set()
    out: dict[str, str] = {}
    for account in unique:
        slot = zlib.crc32(account.encode("utf-8")) % n
        if len(taken) < n:
            while slot in taken:
                slot = (slot + 1) % n
            taken.add(slot)
        out[account] = ACCOUNT_PALETTE[slot]
    return out
