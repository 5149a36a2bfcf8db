"""The report's long tables: findings, the timeline, and the evidence.

Each is a sortable table (report.js). The timeline and the evidence can be long; past a cap
the report shows the first rows and says how many there are and how to get all of them.
"""

from __future__ import annotations

import os

from graphtrail.views.report.data import Report, short_id
from graphtrail.views.report.markup import (
    Column,
    Row,
    badge,
    cell,
    esc,
    iso_cell,
    plural,
    raw_cell,
    table,
)

__all__ = ["findings_section", "timeline_section", "evidence_section", "common_folder",
           "evidence_names"]

_IDS_SHOWN = 3


def findings_section(report: Report) -> str:
    """Findings that involve the lineage, most severe first, with ATT&CK technique ids."""
    found = report.findings
    parts = ['<section class="rp-section" id="findings">',
             f'<h2>Findings<span class="rp-count">{len(found):,}</span></h2>',
             '<p class="rp-lead">Detections from the graphtrail catalogue whose calls or actors '
             "belong to this lineage. Technique ids are MITRE ATT&amp;CK (Enterprise, cloud "
             "matrix).</p>"]
    if report.suppression_note:
        parts.append(f'<p class="rp-lead">{esc(report.suppression_note)}</p>')
    if not found:
        parts.append('<p class="rp-empty">No finding involves this lineage.</p>')
    else:
        rows = []
        for f in found:
            ids = f.event_ids[:_IDS_SHOWN]
            more = len(f.event_ids) - len(ids)
            id_text = "<br>".join(esc(i) for i in ids) + (
                f'<span class="rp-sub">+{more:,} more in Evidence</span>' if more > 0 else "")
            actors = "<br>".join(esc(short_id(a)) for a in f.actors[:3])
            rows.append(Row([
                raw_cell(badge(f.severity), sort=_SEVERITY_ORDER.get(f.severity, 9)),
                raw_cell(f'<span class="rp-finding-title">{esc(f.title)}</span>'
                         f'<span class="rp-sub rp-wrap">{esc(f.summary)}</span>'),
                raw_cell(f'<span class="rp-technique">{esc(f.technique)}</span>'
                         f'<span class="rp-sub">{esc(f.technique_name)}</span>'
                         f'<span class="rp-sub">{esc(f.tactic)}</span>', sort=f.technique),
                cell(f.rule_id),
                iso_cell(f.first_seen),
                cell(f"{f.count:,}", sort=f.count, cls="rp-num"),
                raw_cell(actors, cls="rp-mono"),
                raw_cell(id_text, cls="rp-mono"),
            ], attrs={"data-rp-rule": f.rule_id}))
        parts.append(table([Column("Severity", width="9%"), Column("Finding", width="24.5%"),
                            Column("ATT&CK", width="17%"), Column("Rule", width="9%"),
                            Column("First seen (UTC)", width="10%"),
                            Column("Calls", numeric=True, width="5%"),
                            Column("Actor", width="12.5%"), Column("Event IDs", width="13%")],
                           rows, label="Findings"))
    parts.append("</section>")
    return "".join(parts)


_SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def timeline_section(report: Report, max_rows: int) -> str:
    """Every call of the lineage in time order (the first ``max_rows`` of them)."""
    df = report.timeline
    total = len(df)
    shown = df.head(max_rows)
    parts = ['<section class="rp-section" id="timeline">',
             f'<h2>Timeline<span class="rp-count">{esc(plural(total, "call"))}</span></h2>',
             '<p class="rp-lead">Every call made with the seed\'s credentials and every '
             "credential derived from them, in time order. Failed calls are tinted. Click a "
             "heading to sort.</p>"]
    if not total:
        parts.append('<p class="rp-empty">No call in this window.</p></section>')
        return "".join(parts)
    agents = {a: f"UA{i}" for i, a in enumerate(report.user_agents, 1)}
    rows = []
    for r in shown.itertuples(index=False):
        failed = isinstance(r.error_code, str) and bool(r.error_code)
        source = esc(r.event_source).removesuffix(".amazonaws.com")
        rows.append(Row([
            iso_cell(r.time),
            raw_cell(f"<strong>{esc(r.event_name)}</strong>"
                     f'<span class="rp-sub">{source}</span>'),
            raw_cell(f'<span class="rp-mono">{esc(r.identity_arn)}</span>'
                     f'<span class="rp-sub rp-mono">{esc(short_id(r.actor))}</span>',
                     sort=r.identity_arn),
            raw_cell(f'{esc(r.recipient_account_id)}<span class="rp-sub">{esc(r.region)}</span>',
                     cls="rp-mono"),
            cell(r.resource, cls="rp-mono"),
            cell(r.request, cls="rp-mono rp-req"),
            raw_cell(f'<span class="rp-mono">{esc(r.source_ip)}</span>'
                     f'<span class="rp-sub" title="{esc(r.user_agent)}">'
                     f"{esc(agents.get(r.user_agent, ''))}</span>", sort=r.source_ip),
            cell(r.error_code if failed else "OK", cls="rp-small"),
            cell(r.findings, cls="rp-small"),
            cell(r.event_id, cls="rp-mono"),
        ], cls="rp-failed" if failed else "", attrs={"data-rp-event": str(r.event_id)}))
    parts.append(table([Column("Time (UTC)", width="8%"), Column("Event", width="11%"),
                        Column("Identity", width="14.5%"), Column("Account", width="8%"),
                        Column("Resource", width="14%"), Column("Request", width="14%"),
                        Column("From", width="8.5%"), Column("Result", width="7.5%"),
                        Column("Findings", width="6.5%"), Column("Event ID", width="8%")],
                       rows, label="Timeline", cls="rp-timeline"))
    if total > max_rows:
        flag = {"access_key": "--access-key", "principal": "--principal",
                "session": "--session", "ip": "--ip"}.get(report.seed.kind, "--principal")
        parts.append(f'<p class="rp-capped" data-rp-capped>Showing the first {max_rows:,} of '
                     f"{total:,} calls. The whole timeline: <code>graphtrail timeline "
                     f"{esc(flag)} {esc(_quote(report.seed.value))} --lineage --format csv"
                     "</code>.</p>")
    parts.append("</section>")
    return "".join(parts)


def evidence_section(report: Report, max_rows: int) -> str:
    """Cited eventIDs, the files holding them and each file's SHA-256."""
    files, events = report.files, report.evidence
    root, shown = evidence_names([f.uri for f in files])
    parts = ['<section class="rp-section" id="evidence">',
             f'<h2>Evidence<span class="rp-count">{esc(plural(len(events), "event"))} in '
             f'{esc(plural(len(files), "file"))}</span></h2>',
             '<p class="rp-lead">Every eventID this report cites, the CloudTrail log file that '
             "holds it and the file's SHA-256 as recorded when it was ingested: anyone with the "
             "original logs can check each statement here against them. The case keeps one copy "
             "of an event delivered twice (an organisation and an account trail); the file named "
             "is the copy it kept.</p>"]
    if root:
        parts.append(f'<p class="rp-lead">Paths are relative to the ingested folder '
                     f'<code>{esc(root)}</code>.</p>')
    frows = [Row([cell(f.label, sort=int(f.label[1:])),
                  cell(shown[f.uri], cls="rp-mono rp-path"),
                  cell(f"{f.size:,}" if f.size is not None else "", sort=f.size or 0,
                       cls="rp-num"),
                  cell(f.sha256 or "not in the manifest", cls="rp-mono"),
                  cell(f.integrity),
                  cell(f"{f.events:,}", sort=f.events, cls="rp-num")],
                 attrs={"data-rp-file": f.label}) for f in files]
    parts.append("<h3>Source files</h3>")
    parts.append(table([Column("File", width="5%"), Column("Path", width="38%"),
                        Column("Bytes", numeric=True, width="7%"),
                        Column("SHA-256", width="34%"), Column("Digest", width="10%"),
                        Column("Events", numeric=True, width="6%")], frows,
                       label="Source files", cls="rp-files"))
    erows = [Row([cell(e.event_id, cls="rp-mono"), iso_cell(e.time),
                  cell(e.event_name), cell(e.file_label or "", sort=_file_number(e.file_label)),
                  cell(", ".join(e.cited_in))]) for e in events[:max_rows]]
    parts.append("<h3>Event IDs</h3>")
    parts.append(table([Column("Event ID", width="26%"), Column("Time (UTC)", width="16%"),
                        Column("Event", width="20%"), Column("File", width="6%"),
                        Column("Cited in", width="32%")], erows, label="Event IDs",
                       cls="rp-events"))
    if len(events) > max_rows:
        parts.append(f'<p class="rp-capped">Showing {max_rows:,} of {len(events):,} eventIDs; '
                     "<code>graphtrail blast-radius --format json</code> lists all.</p>")
    if report.missing:
        parts.append(f'<p class="rp-capped">{len(report.missing):,} cited eventIDs were not '
                     "found among the case's events.</p>")
    parts.append("</section>")
    return "".join(parts)


def common_folder(uris: list[str]) -> str:
    """The folder every path shares, with its trailing '/' ('' when none worth naming).

    >>> common_folder(["/logs/a/1.json", "/logs/a/b/2.json"])
    '/logs/a/'
    >>> common_folder(["s3://b/AWSLogs/x.gz"])
    's3://b/AWSLogs/'
    """
    if not uris:
        return ""
    prefix = os.path.commonprefix(uris)
    cut = prefix.rfind("/")
    return prefix[: cut + 1] if cut > 0 else ""


def evidence_names(uris: list[str]) -> tuple[str, dict[str, str]]:
    """How a report names its source files: an ``s3://`` URI whole, a local file by its path
    relative to the folder they share, that folder by its own name only, so that a report
    never carries the investigator's home path.

    >>> evidence_names(["/home/ana/ir/logs/a/1.json", "/home/ana/ir/logs/b/2.json"])
    ('logs/', {'/home/ana/ir/logs/a/1.json': 'a/1.json', '/home/ana/ir/logs/b/2.json': 'b/2.json'})
    >>> evidence_names(["s3://b/AWSLogs/x.gz", "/tmp/y.json"])
    ('tmp/', {'s3://b/AWSLogs/x.gz': 's3://b/AWSLogs/x.gz', '/tmp/y.json': 'y.json'})
    """
    local = [u for u in uris if "://" not in u and not u.startswith("<")]
    root = common_folder(local) if len(local) > 1 else os.path.dirname(local[0]) + "/" if local else ""
    shown = {u: u for u in uris}
    for u in local:
        shown[u] = u[len(root):] if root and u.startswith(root) else os.path.basename(u)
    name = os.path.basename(root.rstrip("/"))
    label = f"{name}/" if name else ""
    return label, shown


def _file_number(label: str | None) -> int:
    return int(label[1:]) if label and label[1:].isdigit() else 0


def _quote(value: str) -> str:
    safe = all(c.isalnum() or c in "-_.:/@=+" for c in value)
    return value if safe else "'" + value.replace("'", "'\\''") + "'"
