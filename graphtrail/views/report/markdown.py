"""The incident report as Markdown, for tickets: summary, chain, findings, timeline, files.

Every cell from the logs goes through :func:`md_text`: Markdown and HTML punctuation is
backslash-escaped (so ``|`` cannot split a table cell, ``<img ...>`` stays text, backticks
open no code span, ``@team`` pings no one), line breaks become spaces and other control
characters are shown escaped (``\\x1b``).

>>> md_text("a|b <img src=x onerror=alert(1)> `x`\\nnext")
'a\\\\|b \\\\<img src=x onerror=alert(1)\\\\> \\\\`x\\\\` next'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from graphtrail.safe_text import control_escaped
from graphtrail.views.report.data import Report, seed_words, short_id
from graphtrail.views.report.summary import data_groups
from graphtrail.views.report.tables import evidence_names

__all__ = ["render_report_markdown", "md_text", "md_table", "TIMELINE_ROWS"]

TIMELINE_ROWS = 200
_FILES_ROWS = 200
# Backslash, code, emphasis, links, HTML, table pipes, strikethrough, entities, math, mentions.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$@])")
_CELL_MAX = 300


def md_text(value: Any, limit: int | None = None) -> str:
    """Text for a Markdown cell or line: special characters escaped, one line."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return control_escaped(_SPECIAL.sub(r"\\\1", text), keep_lines=False)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; every cell is escaped with :func:`md_text`."""
    lines = ["| " + " | ".join(md_text(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(md_text(c, _CELL_MAX) for c in row) + " |")
    return "\n".join(lines)


def render_report_markdown(report: Report, out: Path | str | None = None, *,
                           timeline_rows: int = TIMELINE_ROWS) -> str:
    """Render ``report`` as Markdown (GitHub-flavoured tables).

    Parameters
    ----------
    report : Report
    out : path, optional
        Where to write it (UTF-8).
    timeline_rows : int
        At most this many timeline rows; the text says how many there are.

    Returns
    -------
    str
    """
    br = report.blast
    parts = [f"# {md_text(report.title)}", "",
             f"Generated {md_text(report.generated_at)} by graphtrail {md_text(report.version)} "
             f"from the case at {md_text(report.case.get('path'))}. Times are UTC.", "",
             "## Summary", ""]
    parts.append(md_table(["Item", "Value"], _summary_rows(report)))
    parts += ["", f"## Role chain ({len(report.chains)})", ""]
    if not report.chains:
        parts.append("No role was assumed in this lineage.")
    for i, chain in enumerate(report.chains, 1):
        parts.append(f"Chain {i}: " + md_text(" \u2192 ".join(chain.path)))
        parts.append("")
        parts.append(md_table(
            ["#", "From", "To", "Time (UTC)", "Via", "Key", "Session name", "Accounts",
             "Event IDs"],
            [[n, h.get("from"), h.get("to"), h.get("time"), h.get("via"), h.get("access_key_id"),
              h.get("session_name"),
              f"{h.get('from_account') or '?'} \u2192 {h.get('to_account') or '?'}",
              ", ".join(h.get("event_ids") or [])] for n, h in enumerate(chain.hops, 1)]))
        parts.append("")
    parts += [f"## Findings ({len(report.findings)})", ""]
    if report.suppression_note:
        parts += [md_text(report.suppression_note), ""]
    parts.append(md_table(
        ["Severity", "Rule", "ATT&CK", "Title", "What", "First seen", "Calls", "Event IDs"],
        [[f.severity, f.rule_id, f"{f.technique} {f.technique_name}", f.title, f.summary,
          f.first_seen, f.count, _ids(f.event_ids)] for f in report.findings])
        if report.findings else "No finding involves this lineage.")
    parts += ["", f"## Created ({len(br.created)})", ""]
    parts.append(md_table(["Time", "Type", "What", "By", "Used later", "Event ID"],
                          [[c.get("time"), c.get("type"), c.get("id"), short_id(c.get("by")),
                            "yes" if c.get("used_later") else "no", c.get("event_id")]
                           for c in br.created]) if br.created else "Nothing was created.")
    parts += ["", f"## Permission and trust changes ({len(br.policy_changes)})", ""]
    parts.append(md_table(["Time", "Change", "Target", "Used later", "Event IDs"],
                          [[c.get("time"), c.get("event_name"), c.get("target"),
                            "yes" if c.get("used_later") else "no",
                            ", ".join(c.get("event_ids") or [])] for c in br.policy_changes])
                 if br.policy_changes else "No permission or trust change.")
    parts += ["", _timeline(report, timeline_rows), "", _files(report), ""]
    text = "\n".join(parts)
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    return text


def _summary_rows(report: Report) -> list[list[Any]]:
    br = report.blast
    data = [f"{name}: {counts} ({', '.join(examples)}{f' and {more} more' if more else ''})"
            for name, counts, examples, more in data_groups(report.data)]
    rows = [["Severity", f"{report.severity or 'none'} ({len(report.findings)} findings)"],
            ["Seed", seed_words(report.seed)],
            ["Origin", report.origin or ""],
            ["Activity", f"{br.first_seen} to {br.last_seen}, {br.calls} calls "
                         f"({br.failed_calls} failed)" if br.calls else "no calls"],
            ["Accounts", ", ".join(br.accounts)],
            ["Roles assumed", ", ".join(br.roles)],
            ["Roles denied", ", ".join(br.attempted_roles)],
            ["Access keys used", ", ".join(br.access_keys)],
            ["Access keys created", ", ".join(k.get("id") or "" for k in report.created_keys)],
            ["Source IPs", ", ".join(br.ips)],
            ["Data touched", "; ".join(data)]]
    return [r for r in rows if r[1]]


def _timeline(report: Report, limit: int) -> str:
    df = report.timeline
    total = len(df)
    head = f"## Timeline ({total} calls" + (f", first {limit} shown)" if total > limit else ")")
    if not total:
        return head + "\n\nNo call in this window."
    rows = [[r.time, r.event_name, r.identity_arn, r.recipient_account_id, r.region,
             r.resource, r.source_ip, r.user_agent,
             r.error_code if isinstance(r.error_code, str) and r.error_code else "OK",
             r.event_id] for r in df.head(limit).itertuples(index=False)]
    table = md_table(["Time", "Event", "Identity", "Account", "Region", "Resource", "Source IP",
                      "User agent", "Result", "Event ID"], rows)
    return f"{head}\n\n{table}"


def _files(report: Report) -> str:
    files = report.files
    head = (f"## Evidence\n\n{len(report.evidence)} eventIDs cited, held in {len(files)} "
            "source files (SHA-256 as recorded at ingest; "
            f"{(report.case.get('integrity') or {}).get('line', 'not verified')}):")
    root, shown = evidence_names([f.uri for f in files])
    if root:
        head += f"\n\nPaths are relative to the ingested folder `{root}`."
    table = md_table(["File", "Path", "SHA-256", "Digest", "Events"],
                     [[f.label, shown[f.uri], f.sha256 or "", f.integrity, f.events]
                      for f in files[:_FILES_ROWS]])
    more = (f"\n\n{len(files) - _FILES_ROWS} more files: see the HTML report."
            if len(files) > _FILES_ROWS else "")
    return f"{head}\n\n{table}{more}"


def _ids(event_ids: list[str], shown: int = 3) -> str:
    more = len(event_ids) - shown
    return ", ".join(event_ids[:shown]) + (f" (+{more} more)" if more > 0 else "")

