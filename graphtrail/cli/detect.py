"""``graphtrail findings``: the detection catalogue over a case."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from graphtrail.cli.common import (
    DEFAULT_CASE,
    BackendOpt,
    CaseOpt,
    FindingsConfigOpt,
    OrgAccountsOpt,
    SinceOpt,
    UntilOpt,
    did_you_mean,
    fail,
    on_server,
    open_store,
    server_store,
    time_bounds,
)
from graphtrail.cli.output import Format, console, emit_json, emit_rows, err_console, stage_progress
from graphtrail.queries.findings import RULES, SEVERITIES, findings
from graphtrail.queries.library import server_side
from graphtrail.words import plural

__all__ = ["findings_cmd", "print_findings", "tuning", "sigma_for"]


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
    backend: BackendOpt = "embedded",
    config: FindingsConfigOpt = None,
    org_accounts: OrgAccountsOpt = None,
    aws_ip_ranges: Annotated[Path | None, typer.Option(
        "--aws-ip-ranges", help="AWS's ip-ranges.json to use instead of the shipped snapshot.")] = None,
    refresh_ranges: Annotated[bool, typer.Option(
        "--refresh-aws-ip-ranges", help="Download AWS's ip-ranges.json to the cache and exit.")] = False,
    explain: Annotated[str | None, typer.Option(
        "--explain", help="Why the finding with this fingerprint fired, and its eventIDs.")] = None,
    suppressed: Annotated[bool, typer.Option(
        "--suppressed", help="Also show findings a suppression of the config matches.")] = False,
    sigma: Annotated[list[Path] | None, typer.Option(
        "--sigma", help="A folder of Sigma rules (aws/cloudtrail) to run beside the catalogue "
        "(repeatable; also [sigma] rules in the config).")] = None,
) -> None:
    """Detections with ATT&CK techniques, credential lineage and eventIDs."""
    if refresh_ranges:
        _refresh_ranges()
        return
    if list_rules:
        from graphtrail.queries.findings import rules as _  # noqa: F401

        emit_rows([{"id": r.id, "severity": r.severity, "technique": r.technique, "title": r.title}
                   for r in RULES.values()], fmt)
        return
    if min_severity and min_severity not in SEVERITIES:
        raise fail(f"--min-severity {min_severity!r}: one of {', '.join(SEVERITIES)}"
                   f"{did_you_mean(min_severity, SEVERITIES)}")
    from graphtrail.queries.findings import rules as _  # noqa: F401  (the catalogue)

    lo, hi = time_bounds(since, until)
    cfg, orgs, community = tuning(config, case, org_accounts, aws_ip_ranges, sigma)
    if community and on_server(backend) and sigma:
        raise fail("--sigma reads the case's events: use it with --backend embedded")
    community = sigma_for(backend, cfg, community)
    known = set(RULES) | (community.ids if community else set())
    for r in rule or []:
        if r not in known:
            raise fail(f"--rule {r!r} is not a rule (graphtrail findings --list)"
                       f"{did_you_mean(r, known)}")
    if on_server(backend):
        everything = _findings_on_server(case, lo, hi, rule, min_severity, cfg)
    else:
        store = open_store(case, backend)
        with stage_progress("rules") as tick:
            everything = findings(store, since=lo, until=hi, rules=rule,
                                  min_severity=min_severity, config=cfg, org_accounts=orgs,
                                  aws_ranges=str(aws_ip_ranges) if aws_ip_ranges else None,
                                  sigma=community,
                                  progress=tick and (lambda done, total: tick("findings", done, total)))
    if explain:
        _explain(everything, explain, fmt, cfg.source)
        return
    found = [f for f in everything if suppressed or not f.suppressed]
    hidden = len(everything) - len(found)
    if fmt == Format.json:
        emit_json({"findings": [f.to_dict() for f in found], "suppressed": hidden,
                   **({"warnings": community.warnings} if community else {})})
    elif fmt == Format.csv:
        emit_rows([{**f.to_dict(), "event_ids": " ".join(f.event_ids),
                    "lineage": " | ".join(" > ".join(x) for x in f.lineage)} for f in found], fmt,
                  columns=["rule_id", "severity", "technique", "title", "summary", "first_seen",
                           "count", "accounts", "lineage", "event_ids", "fingerprint"])
    else:
        print_findings(found, wide=wide)
        if hidden:
            console.print(f"{hidden} suppressed by {cfg.source} (--suppressed shows them)",
                          highlight=False)


def _findings_on_server(case: Path, lo, hi, rule: list[str] | None, min_severity, cfg) -> list:
    """The rules written in Cypher, run on the server; a named rule without Cypher is refused
    (exit 2), and without --rule a note on stderr says which rules did not run."""
    from graphtrail.queries.library import FINDINGS_IN_CYPHER, EmbeddedOnly
    from graphtrail.queries.on_server import findings_on_server

    for r in rule or []:
        try:
            server_side(f"finding:{r}")
        except EmbeddedOnly as exc:
            raise fail(str(exc)) from exc
    found = findings_on_server(server_store(case).server, since=lo, until=hi, rules=rule,
                               min_severity=min_severity, config=cfg)
    if not rule:
        err_console.print(f"note: --backend neo4j ran the {len(FINDINGS_IN_CYPHER)} rules written in "
                          f"Cypher ({', '.join(FINDINGS_IN_CYPHER)}); the other "
                          f"{len(RULES) - len(FINDINGS_IN_CYPHER)} run with --backend embedded",
                          highlight=False, markup=False, soft_wrap=True)
    return found


def tuning(config: Path | None, case: Path, org_file: Path | None, ranges_file: Path | None,
           sigma: list[Path] | None):
    """The config, the organization's accounts and the Sigma rules (None: none asked for);
    exit 2 naming the file that cannot be used."""
    from graphtrail.queries.findings import rules as _  # noqa: F401
    from graphtrail.queries.findings.aws_ranges import load_aws_ranges
    from graphtrail.queries.findings.config import ConfigError, find_config, load_config
    from graphtrail.queries.findings.organization import read_org_accounts

    try:
        path = find_config(config, case)
        folders = [*(sigma or []), *load_config(path).sigma_rules]
        community = None
        if folders:
            from graphtrail.queries.findings.sigma_rules import load_sigma

            community = load_sigma(folders)
        cfg = load_config(path, rule_ids=set(RULES) | (community.ids if community else set()))
        orgs = read_org_accounts(org_file) if org_file else set()
        if ranges_file:
            load_aws_ranges(ranges_file)
    except (ConfigError, ValueError) as e:
        raise fail(str(e)) from e
    except OSError as e:
        raise fail(f"{e.filename}: cannot read ({e.strerror})") from e
    return cfg, orgs, community


def sigma_for(backend: str, cfg, community):
    """The Sigma rules to run on ``backend`` (None on a server: they read the case's events,
    said in a warning), their loading warnings printed."""
    if community and on_server(backend):
        err_console.print(f"warning: the Sigma rules of {cfg.source} are not run with "
                          f"--backend {backend} (they read the case's events)", highlight=False,
                          markup=False)
        return None
    for w in community.warnings if community else []:
        err_console.print(f"warning: {w}", highlight=False, markup=False)
    return community


def _explain(found, ident: str, fmt: Format, source: str | None) -> None:
    from graphtrail.queries.findings.explain import explain_lines, find

    match = find(found, ident)
    if not match:
        raise fail(f"--explain {ident}: no finding has this fingerprint", 1)
    if fmt == Format.json:
        emit_json({"findings": [f.to_dict() for f in match]})
        return
    for f in match:
        for line in explain_lines(f, source):
            console.print(line, highlight=False, markup=False, soft_wrap=True)


def _refresh_ranges() -> None:
    from graphtrail.queries.findings.aws_ranges import URL, refresh

    try:
        dest = refresh()
    except (OSError, ValueError) as e:
        raise fail(f"{URL}: {e}", 1) from e
    console.print(f"AWS ip ranges saved to {dest}", highlight=False)


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
