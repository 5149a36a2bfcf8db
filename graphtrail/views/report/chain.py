"""The role chain, drawn hop by hop in HTML and CSS: who, then each role assumed.

Each principal is a card (its shape and colour from the graph legend, its account as the
border colour the graph uses); each hop between two cards is an arrow that carries the
evidence: the STS call, when, the access key that made it, its eventID, the session name
and the accounts it joined, flagged when it crosses from one account to another.
"""

from __future__ import annotations

from graphtrail.queries.chains import Chain
from graphtrail.views.graph.style import node_style
from graphtrail.views.report.data import Report, short_id
from graphtrail.views.report.markup import account_chip, esc, icon, kind_of_principal, plural

__all__ = ["chain_section"]

_DOT = " \u00b7 "


def chain_section(report: Report, colours: dict[str, str]) -> str:
    """The "Role chain" section: every chain through the lineage, longest first."""
    found = report.chains
    parts = [
        '<section class="rp-section" id="chain">',
        f'<h2>Role chain<span class="rp-count">{esc(plural(len(found), "chain"))}</span></h2>',
        '<p class="rp-lead">How the credentials moved. Each hop is an STS call made with the '
        "previous hop's credential while it was valid, so the chain is what one actor did, "
        "not what the trust policies would allow.</p>",
    ]
    if not found:
        parts.append('<p class="rp-empty">No role was assumed in this lineage.</p>')
    for i, chain in enumerate(found, 1):
        parts.append(_chain(report, chain, i if len(found) > 1 else None, colours))
    parts.append("</section>")
    return "".join(parts)


def _chain(report: Report, chain: Chain, number: int | None, colours: dict[str, str]) -> str:
    hops = chain.hops
    accounts = {a for h in hops for a in (h.get("from_account"), h.get("to_account")) if a}
    caption = [f"<strong>Chain {number}</strong>" if number else "<strong>Chain</strong>",
               esc(plural(len(hops), "hop")), esc(plural(len(accounts), "account"))]
    if chain.cross_account:
        caption.append('<span class="rp-tag">crosses accounts</span>')
    if hops:
        caption.append(f"{esc(hops[0].get('time'))} \u2192 {esc(hops[-1].get('time'))}")
    steps = [_card(report, chain.path[0], hops[0].get("from_account") if hops else None,
                   "origin", colours)]
    for hop in hops:
        steps.append(_hop(hop))
        steps.append(_card(report, hop["to"], hop.get("to_account"), None, colours))
    return (f'<figure class="rp-chain" data-rp-chain="{esc(number or 1)}">'
            f"<figcaption>{_DOT.join(caption)}</figcaption>"
            f'<ol class="rp-steps">{"".join(steps)}</ol></figure>')


def _card(report: Report, node: str, account: str | None, role: str | None,
          colours: dict[str, str]) -> str:
    known = report.graph.nodes[node].get("kind") if node in report.graph else None
    kind = kind_of_principal(node, known)
    name = node.rsplit("/", 1)[-1] if node.startswith("arn:") else short_id(node)
    what = node_style(kind).name + (f" \u00b7 {role}" if role else "")
    colour = colours.get(account or "")
    style = f' style="--rp-acct: {esc(colour)}"' if colour else ""
    return (f'<li class="rp-node"{style} data-rp-node="{esc(node)}">{icon(kind)}'
            f'<div class="rp-node-name">{esc(name)}<span class="rp-node-kind">{esc(what)}</span>'
            f'</div><div class="rp-arn">{esc(node)}</div>{account_chip(account, colours)}</li>')


def _hop(hop: dict) -> str:
    cross = hop.get("from_account") and hop.get("to_account") and (
        hop["from_account"] != hop["to_account"])
    tag = '<span class="rp-tag">cross-account</span>' if cross else ""
    evidence = hop.get("event_ids") or ([hop["event_id"]] if hop.get("event_id") else [])
    facts = [
        ("time", hop.get("time")),
        ("with key", hop.get("access_key_id")),
        ("event ID" if len(evidence) < 2 else "event IDs", ", ".join(evidence)),
        ("session name", hop.get("session_name")),
        ("source identity", hop.get("source_identity")),
        ("new key", short_id(hop.get("session"))),
        ("accounts", f"{hop.get('from_account') or '?'} \u2192 {hop.get('to_account') or '?'}"),
    ]
    rows = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts if v)
    return (f'<li class="rp-hop{" rp-cross" if cross else ""}" '
            f'data-rp-hop="{esc(hop.get("session"))}">'
            f'<div class="rp-hop-what">{esc(hop.get("via") or "AssumeRole")}{tag}</div>'
            f'<dl class="rp-hop-facts">{rows}</dl></li>')
