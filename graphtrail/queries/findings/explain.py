"""Why a finding fired, in lines an investigator reads: rule, thresholds, baseline,
addresses, lineage and the eventIDs that prove it."""

from __future__ import annotations

import json

from graphtrail.queries.findings.base import RULES, Finding

__all__ = ["find", "explain_lines"]


def find(found: list[Finding], ident: str) -> list[Finding]:
    """Findings whose fingerprint starts with ``ident`` (or whose rule id is ``ident``)."""
    ident = ident.strip()
    exact = [f for f in found if f.fingerprint == ident]
    if exact:
        return exact
    return [f for f in found if ident and (f.fingerprint.startswith(ident) or f.rule_id == ident)]


def explain_lines(f: Finding, config_source: str | None = None) -> list[str]:
    r = RULES.get(f.rule_id)
    out = [f"{f.rule_id}  {f.title}  [{f.severity}]  fingerprint {f.fingerprint}",
           f"  what: {f.summary}",
           f"  ATT&CK: {f.tactic} / {f.technique} {f.technique_name}"]
    if r is not None:
        out.append(f"  rule: {' '.join(r.doc.split())}")
        if r.severity != f.severity:
            out.append(f"  severity: {f.severity} (rule default {r.severity}; rated for this "
                       f"occurrence{' or by ' + config_source if config_source else ''})")
    for k, v in f.why.items():
        out.append(f"  {k.replace('_', ' ')}: {_text(v)}")
    out.append(f"  when: {f.first_seen} .. {f.last_seen}  ({f.count} calls)")
    out.append(f"  accounts: {', '.join(f.accounts) or '-'}")
    for path in f.lineage:
        out.append(f"  lineage: {' > '.join(path)}")
    if f.suppressed:
        out.append(f"  suppressed: {f.suppressed}")
    out.append(f"  evidence ({len(f.event_ids)} eventIDs):")
    out.extend(f"    {e}" for e in f.event_ids)
    return out


def _text(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    return str(v)
