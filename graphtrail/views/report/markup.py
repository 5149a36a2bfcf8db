"""Small pieces of report markup, each escaping what it is given.

Every function here takes plain text (from the logs, so attacker-controlled) and returns
markup in which that text is escaped; callers join the pieces and never splice raw text.

>>> esc('<img src=x onerror="alert(1)">')
'&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
>>> cell("a<b", sort="2024")
'<td data-sort="2024">a&lt;b</td>'
>>> table([Column("Name")], [Row([cell("x")])])[:46]
'<div class="rp-table-wrap"><table class="rp-ta'
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphtrail.queries.findings import SEVERITIES
from graphtrail.views.graph.html import _shape_icon
from graphtrail.views.graph.style import node_style
from graphtrail.words import plural  # noqa: F401  (re-exported for the views)

__all__ = ["esc", "cell", "raw_cell", "Column", "Row", "table", "account_chip", "badge", "icon",
           "kind_of_principal", "plural", "iso_cell"]


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute; ``None`` and NaN become ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def cell(text: Any, *, sort: Any = None, cls: str = "") -> str:
    """A ``<td>`` holding ``text``, escaped."""
    return raw_cell(esc(text), sort=sort, cls=cls)


def raw_cell(markup: str, *, sort: Any = None, cls: str = "") -> str:
    """A ``<td>`` holding markup the caller built (and escaped) itself."""
    attrs = f' class="{esc(cls)}"' if cls else ""
    if sort is not None:
        attrs += f' data-sort="{esc(sort)}"'
    return f"<td{attrs}>{markup}</td>"


def iso_cell(moment: str | None) -> str:
    """A ``<td>`` with an ISO 8601 time that may wrap after its date, sorted by the time.

    >>> iso_cell("2024-06-12T09:20:10Z")
    '<td class="rp-time" data-sort="2024-06-12T09:20:10Z">2024-06-12T<wbr>09:20:10Z</td>'
    """
    text = esc(moment).replace("T", "T<wbr>", 1)
    return raw_cell(text, sort=moment or "", cls="rp-time")


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its heading and whether it sorts as numbers."""

    title: str
    numeric: bool = False
    sortable: bool = True
    width: str = ""  # a CSS width ("12%"); a table whose columns all have one is laid out fixed


@dataclass(slots=True)
class Row:
    """Cells made with :func:`cell` or :func:`raw_cell`, and a class for the ``<tr>``."""

    cells: list[str]
    cls: str = ""
    attrs: dict[str, str] = field(default_factory=dict)


def table(columns: Sequence[Column], rows: Iterable[Row], *, sortable: bool = True,
          label: str = "", cls: str = "") -> str:
    """A table; with ``sortable`` its headings are buttons that sort it (report.js)."""
    head = []
    for c in columns:
        klass = ' class="rp-num"' if c.numeric else ""
        numeric = " data-numeric" if c.numeric else ""
        title = esc(c.title)
        if sortable and c.sortable:
            title = f'<button type="button" class="rp-sort">{title}</button>'
        head.append(f'<th scope="col"{klass}{numeric}>{title}</th>')
    body = []
    for r in rows:
        attrs = f' class="{esc(r.cls)}"' if r.cls else ""
        attrs += "".join(f' {esc(k)}="{esc(v)}"' for k, v in r.attrs.items())
        body.append(f"<tr{attrs}>{''.join(r.cells)}</tr>")
    flags = " data-rp-sortable" if sortable else ""
    aria = f' aria-label="{esc(label)}"' if label else ""
    fixed = bool(columns) and all(c.width for c in columns)
    klass = f"rp-table {'rp-fixed ' if fixed else ''}{cls}".strip()
    cols = ("<colgroup>" + "".join(f'<col style="width: {esc(c.width)}">' for c in columns)
            + "</colgroup>") if fixed else ""
    return (f'<div class="rp-table-wrap"><table class="{esc(klass)}"{flags}{aria}>{cols}'
            f"<thead><tr>{''.join(head)}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def account_chip(account: str | None, colours: dict[str, str]) -> str:
    """An account id with the border colour it has in the graph."""
    if not account:
        return ""
    colour = colours.get(account)
    style = f' style="--rp-acct: {esc(colour)}"' if colour else ""
    return f'<span class="rp-acct"{style} title="AWS account">{esc(account)}</span>'


def badge(severity: str | None) -> str:
    """A severity label: critical, high, medium, low, info, or none."""
    sev = severity if severity in SEVERITIES else "none"
    return f'<span class="rp-badge rp-sev-{sev}">{esc(sev)}</span>'


def icon(kind: str) -> str:
    """The shape and colour a node kind has in the graph, as a small inline SVG."""
    style = node_style(kind)
    return _shape_icon(style.shape, style.colour)


def kind_of_principal(node: str, known: str | None = None) -> str:
    """The node kind of a chain element: from the graph when known, else from its form.

    >>> kind_of_principal("arn:aws:iam::1:user/x"), kind_of_principal("111122223333")
    ('User', 'Account')
    """
    if known:
        return known
    if ":role/" in node:
        return "Role"
    if ":user/" in node:
        return "User"
    if node.endswith(":root"):
        return "Root"
    if node.isdigit() and len(node) == 12:
        return "Account"
    if node.endswith(".amazonaws.com"):
        return "AwsService"
    return "IdentityProvider" if "saml-provider" in node or "oidc" in node else "User"


