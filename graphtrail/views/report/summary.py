"""The top of the report and what the attacker changed: summary, created items, data touched.

The summary opens with one sentence an incident manager can read aloud, then the figures
behind it and the facts (seed, origin, time span, accounts, roles, keys, addresses, user
agents, data). "What changed" lists what the lineage created, every permission or trust
change, and the data resources it used.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from graphtrail.views.report.data import Report, seed_words, short_id
from graphtrail.views.report.evidence import DataTouched
from graphtrail.views.report.markup import (
    Column,
    Row,
    account_chip,
    badge,
    cell,
    esc,
    iso_cell,
    plural,
    raw_cell,
    table,
)

__all__ = ["summary_section", "changes_section", "data_groups", "SERVICE_NAMES"]

SERVICE_NAMES = {"s3": "S3", "secretsmanager": "Secrets Manager", "ssm": "SSM parameters",
                 "kms": "KMS", "dynamodb": "DynamoDB", "rds": "RDS", "ec2": "EC2 snapshots",
                 "ebs": "EBS", "glacier": "Glacier", "redshift": "Redshift", "backup": "Backup",
                 "efs": "EFS", "elasticfilesystem": "EFS", "athena": "Athena", "glue": "Glue"}
_CREATED_WORDS = {"AccessKey": ("access key", None), "User": ("IAM user", None),
                  "LoginProfile": ("console password", None), "Role": ("role", None),
                  "Policy": ("policy", "policies"), "PolicyVersion": ("policy version", None)}
_LIST_MAX = 12


def summary_section(report: Report, colours: dict[str, str]) -> str:
    """Verdict sentence, key figures and the facts of the lineage."""
    br = report.blast
    sev = report.severity or "none"
    cards = [
        (f"{br.calls:,}", f"calls, {br.failed_calls:,} failed"),
        (_duration(br.first_seen, br.last_seen) or "\u2013", "active"),
        (f"{len(br.accounts):,}", "accounts"),
        (f"{len(br.roles):,}", "roles assumed"),
        (f"{len(report.created_keys):,}", "access keys created"),
        (f"{len(report.data):,}", "data resources used"),
        (f"{len(report.findings):,}", "findings"),
    ]
    figures = "".join(f'<div class="rp-card"><div class="rp-card-value">{esc(v)}</div>'
                      f'<div class="rp-card-label">{esc(label)}</div></div>' for v, label in cards)
    return (
        '<section class="rp-section" id="summary"><h2>Summary</h2>'
        f'<div class="rp-verdict rp-sev-{esc(sev)}">{badge(report.severity)}'
        f"<p>{_verdict(report)}</p></div>"
        f'<div class="rp-cards">{figures}</div>'
        f'<dl class="rp-facts">{_facts(report, colours)}</dl></section>'
    )


def changes_section(report: Report) -> str:
    """What the lineage created, the permission and trust changes, the data it used."""
    br = report.blast
    parts = ['<section class="rp-section" id="changes"><h2>What changed</h2>',
             '<p class="rp-lead">Persistence and privilege: what the lineage created or '
             "changed, and whether it was used afterwards; then the data it read or shared."
             "</p>", f"<h3>Created <span class=\"rp-muted\">({len(br.created):,})</span></h3>"]
    if br.created:
        rows = [Row([iso_cell(c.get("time")), cell(c.get("type")),
                     cell(c.get("id"), cls="rp-mono"), cell(short_id(c.get("by")), cls="rp-mono"),
                     raw_cell(_used(c.get("used_later"))),
                     cell(c.get("event_id"), cls="rp-mono")]) for c in br.created]
        parts.append(table([Column("Time (UTC)", width="13%"), Column("Type", width="10%"),
                            Column("What", width="30%"), Column("By", width="15%"),
                            Column("Used later", width="9%"), Column("Event ID", width="23%")],
                           rows, label="Created"))
    else:
        parts.append('<p class="rp-empty">Nothing was created.</p>')
    parts.append("<h3>Permission and trust changes "
                 f'<span class="rp-muted">({len(br.policy_changes):,})</span></h3>')
    if br.policy_changes:
        rows = [Row([iso_cell(c.get("time")), cell(c.get("event_name")),
                     cell(c.get("target"), cls="rp-mono"), cell(_change_detail(c)),
                     raw_cell(_used(c.get("used_later"))),
                     cell(", ".join(c.get("event_ids") or [c.get("event_id") or ""]),
                          cls="rp-mono")]) for c in br.policy_changes]
        parts.append(table([Column("Time (UTC)", width="13%"), Column("Change", width="15%"),
                            Column("Target", width="24%"), Column("Details", width="16%"),
                            Column("Used later", width="9%"), Column("Event IDs", width="23%")],
                           rows, label="Permission changes"))
    else:
        parts.append('<p class="rp-empty">No permission or trust change.</p>')
    parts.append(f'<h3>Data touched <span class="rp-muted">({len(report.data):,})</span></h3>')
    if report.data:
        rows = [Row([cell(SERVICE_NAMES.get(d.service, d.service)),
                     cell(d.resource, cls="rp-mono"), cell(", ".join(d.actions)),
                     cell(f"{d.calls:,}", sort=d.calls, cls="rp-num"), cell(_objects(d)),
                     iso_cell(d.first_seen), iso_cell(d.last_seen)])
                for d in report.data]
        parts.append(table([Column("Service", width="11%"), Column("Resource", width="27%"),
                            Column("Calls made", width="13%"),
                            Column("Calls", numeric=True, width="6%"),
                            Column("Objects", width="23%"), Column("First (UTC)", width="10%"),
                            Column("Last (UTC)", width="10%")], rows, label="Data touched"))
    else:
        parts.append('<p class="rp-empty">No data resource was used successfully.</p>')
    parts.append("</section>")
    return "".join(parts)


def _verdict(report: Report) -> str:
    br = report.blast
    who = f"The <strong>{esc(seed_words(report.seed))}</strong>"
    if report.origin and report.origin != report.seed.value:
        who += f" of <strong>{esc(report.origin)}</strong>"
    if not br.calls:
        return who + " made no call in the case" + (" in this window." if report.since or
                                                     report.until else ".")
    text = [f"{who} made {esc(plural(br.calls, 'call'))} ({br.failed_calls:,} failed) "
            f"from {esc(br.first_seen)} to {esc(br.last_seen)}"]
    if br.roles:
        text.append(f"assumed {esc(plural(len(br.roles), 'role'))} across "
                    f"{esc(plural(len(br.accounts), 'account'))}")
    made = Counter(c.get("type") for c in br.created)
    if made:
        words = [plural(n, *_CREATED_WORDS.get(t, (str(t).lower(), None)))
                 for t, n in made.most_common()]
        text.append("created " + esc(_and(words)))
    if br.policy_changes:
        text.append(f"made {esc(plural(len(br.policy_changes), 'permission or trust change'))}")
    if report.data:
        text.append(f"used {esc(plural(len(report.data), 'data resource'))}")
    sentence = ", ".join(text[:-1]) + (" and " if len(text) > 1 else "") + text[-1] + "."
    if report.findings:
        sentence += (f" {esc(plural(len(report.findings), 'finding'))} involve this lineage; "
                     f"the most severe is <strong>{esc(report.severity)}</strong>.")
    else:
        sentence += " No finding involves this lineage."
    return sentence


def _facts(report: Report, colours: dict[str, str]) -> str:
    br = report.blast
    window = "the whole case"
    if report.since is not None or report.until is not None:
        window = f"{br.since or 'start'} to {br.until or 'end'}"
    keys = [f"{k.get('id')} (created {k.get('time')}, "
            f"{'used later' if k.get('used_later') else 'not used'})" for k in report.created_keys]
    rows = [
        ("Seed", _mono([seed_words(report.seed)])),
        ("Origin", _mono([report.origin] if report.origin else [])),
        ("Window", esc(window)),
        ("Activity", esc(f"{br.first_seen} to {br.last_seen}") if br.calls else ""),
        ("Accounts", " ".join(account_chip(a, colours) for a in br.accounts)),
        ("Roles assumed", _mono(br.roles)),
        ("Roles denied", _mono(br.attempted_roles)),
        ("Access keys used", _mono(br.access_keys)),
        ("Access keys created", _mono(keys)),
        ("Principals", _mono(br.principals)),
        ("Source IPs", _mono(br.ips)),
        ("User agents", _agents(report.user_agents)),
        ("Data touched", _data_lines(report.data)),
    ]
    return "".join(f"<dt>{esc(k)}</dt><dd>{v or '<span class=rp-muted>none</span>'}</dd>"
                   for k, v in rows)


def _agents(agents: list[str]) -> str:
    if not agents:
        return ""
    items = "".join(f'<li><span class="rp-ua-key">UA{i}</span>'
                    f'<span class="rp-mono">{esc(a)}</span></li>'
                    for i, a in enumerate(agents, 1))
    return f'<ul class="rp-list rp-agents">{items}</ul>'


def _mono(items: list[str]) -> str:
    if not items:
        return ""
    shown = "".join(f'<li class="rp-mono">{esc(i)}</li>' for i in items[:_LIST_MAX])
    more = len(items) - _LIST_MAX
    if more > 0:
        shown += f'<li class="rp-muted">and {more:,} more</li>'
    return f'<ul class="rp-list">{shown}</ul>'


def data_groups(data: list[DataTouched]) -> list[tuple[str, str, list[str], int]]:
    """Data touched by service, most used first: (service name, counts, examples, more)."""
    by_service: dict[str, list[DataTouched]] = defaultdict(list)
    for d in data:
        by_service[d.service].append(d)
    groups = []
    for service, items in sorted(by_service.items(), key=lambda kv: -sum(d.calls for d in kv[1])):
        objects = sum(d.objects for d in items)
        counts = plural(len(items), "resource") + (f", {plural(objects, 'object')}" if objects
                                                   else "")
        groups.append((SERVICE_NAMES.get(service, service), counts,
                       [_short_resource(d.resource) for d in items[:3]], max(len(items) - 3, 0)))
    return groups


def _data_lines(data: list[DataTouched]) -> str:
    lines = []
    for name, counts, examples, more in data_groups(data):
        tail = f" and {more:,} more" if more else ""
        lines.append(f"<li><strong>{esc(name)}</strong>: {esc(counts)} \u2013 "
                     f'<span class="rp-mono">{esc(", ".join(examples))}</span>{esc(tail)}</li>')
    return f'<ul class="rp-list">{"".join(lines)}</ul>' if lines else ""


def _short_resource(resource: str) -> str:
    tail = resource.split(":::", 1)[-1] if resource.startswith("arn:aws:s3:::") else resource
    for mark in (":secret:", ":parameter", ":"):
        if mark in tail and tail.startswith(("arn:", "ssm:", "ec2:")):
            return tail.rsplit(mark, 1)[-1]
    return tail


def _objects(d: DataTouched) -> str:
    if not d.objects:
        return ""
    more = f" (+{d.objects - len(d.samples):,} more)" if d.objects > len(d.samples) else ""
    return f"{d.objects:,}: " + ", ".join(d.samples) + more


def _change_detail(change: dict) -> str:
    bits = []
    if change.get("policy_arn"):
        bits.append(str(change["policy_arn"]))
    if change.get("policy_name"):
        bits.append(f"policy {change['policy_name']}")
    if change.get("admin"):
        bits.append("administrator access")
    if change.get("external_accounts"):
        bits.append("trusts " + ", ".join(map(str, change["external_accounts"])))
    if change.get("version"):
        bits.append(f"version {change['version']}")
    return "; ".join(bits)


def _used(flag: object) -> str:
    if flag:
        return '<span class="rp-tag">used later</span>'
    return '<span class="rp-tag rp-tag-ok">not used</span>'


def _duration(first: str | None, last: str | None) -> str:
    if not first or not last:
        return ""
    try:
        a = datetime.fromisoformat(first.replace("Z", "+00:00"))
        b = datetime.fromisoformat(last.replace("Z", "+00:00"))
    except ValueError:
        return ""
    minutes = int((b - a).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
