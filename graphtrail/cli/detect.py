"""``graphtrail findings``: the detection catalogue over a case."""

from __future__ import annotations

from typing import Annotated

import typer

from graphtrail.cli.common import (
    DEFAULT_CASE,
    BackendOpt,
    CaseOpt,
    SinceOpt,
    UntilOpt,
    did_you_mean,
    fail,
    open_store,
    time_bounds,
)
from graphtrail.cli.output import Format, console, emit_json, emit_rows
from graphtrail.queries.findings import RULES, SEVERITIES, findings
from graphtrail.words import plural

__all__ = ["findings_cmd", "print_findings"]


def findings_cmd(
    since: SinceOpt = None, until: UntilOpt = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only these rule ids.")] = None,
    min_severity: Annotated[str | None, typer.Option("--min-severity",
                                                     help="critical, high, medium, low or info.")] = None,
    list_rules: Annotated[bool, typer.Option("--list", help="List the catalogue and exit.")] = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Table: every column (default: the columns that fit the terminal).")] = False,
    case: CaseOpt = DEFAULT_CASE,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    backend: BackendOpt = "memory",
) -> None:
    """Detections with ATT&CK techniques, credential lineage and eventIDs."""
    if list_rules:
        from graphtrail.queries.findings import rules as _  # noqa: F401

        emit_rows([{"id": r.id, "severity": r.severity, "technique": r.technique, "title": r.title}
                   for r in RULES.values()], fmt)
        return
    if min_severity and min_severity not in SEVERITIES:
        raise fail(f"--min-severity {min_severity!r}: one of {', '.join(SEVERITIES)}"
                   f"{did_you_mean(min_severity, SEVERITIES)}")
    from graphtrail.queries.findings import rules as _  # noqa: F401  (the catalogue)

    for r in rule or []:
        if r not in RULES:
            raise fail(f"--rule {r!r} is not a rule (graphtrail findings --list)"
                       f"{did_you_mean(r, RULES)}")
    lo, hi = time_bounds(since, until)
    found = findings(open_store(case, backend), since=lo, until=hi, rules=rule, min_severity=min_severity)
    if fmt == Format.json:
        emit_json({"findings": [f.to_dict() for f in found]})
    elif fmt == Format.csv:
        emit_rows([{**f.to_dict(), "event_ids": " ".join(f.event_ids),
                    "lineage": " | ".join(" > ".join(x) for x in f.lineage)} for f in found], fmt,
                  columns=["rule_id", "severity", "technique", "title", "summary", "first_seen",
                           "count", "accounts", "lineage", "event_ids"])
    else:
        print_findings(found, wide=wide)


WIDE_COLUMNS = ["severity", "rule", "technique", "title", "what", "first seen", "calls", "origin"]
NARROW_COLUMNS = ["severity", "rule", "calls", "what"]  # fits 80 columns; the rest with --wide
WIDE_FROM = 140  # terminal columns from which every column is readable


def print_findings(found, *, wide: bool = False) -> None:
    if not found:
        console.print("no findings")
        return
    cols = WIDE_COLUMNS if wide or console.width >= WIDE_FROM else NARROW_COLUMNS
    emit_rows([{"severity": f.severity, "rule": f.rule_id, "technique": f.technique,
                "title": f.title, "what": f.summary, "first seen": f.first_seen, "calls": f.count,
                "origin": f.lineage[0][0] if f.lineage and f.lineage[0] else ""}
               for f in found], Format.table, title=plural(len(found), "finding"), columns=cols,
              no_wrap=frozenset({"severity", "rule", "calls", "technique"}))
