"""Findings: a catalogue of detections, each with evidence and the credential lineage.

A rule is one function decorated with :func:`rule` (id, title, severity, ATT&CK tactic and
technique) that receives a :class:`Context` and returns groups of calls; the engine turns
each group into a :class:`Finding` with every eventID, the actors and, for each actor, the
lineage of credentials that led to it (origin principal first). Adding a detection is one
function in the module of its tactic (``grep -rn '@rule' graphtrail/queries/findings`` lists
them; :mod:`graphtrail.queries.findings.rules` imports every module).

Each finding has a stable ``fingerprint`` (rule id and the entities that identify it, never
counts or times) so a suppression or a triage note survives re-ingest, and ``why``: the
thresholds, baselines and addresses that made it fire.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

from graphtrail.queries.findings.aws_ranges import ranges_digest
from graphtrail.queries.findings.base import (
    RULES,
    SEVERITIES,
    Context,
    Finding,
    Hit,
    Rule,
    finding_of,
    fingerprint,
    lineage_path,
    rule,
    suppressed_by,
)
from graphtrail.queries.findings.cache import cache_key, code_digest, load_findings, save_findings
from graphtrail.queries.findings.config import Config

__all__ = ["Finding", "Rule", "RULES", "rule", "findings", "Context", "lineage_path", "SEVERITIES",
           "Hit", "fingerprint", "kept_as"]


def findings(store, *, since: int | None = None, until: int | None = None,
             rules: list[str] | None = None, min_severity: str | None = None,
             config: Config | None = None, org_accounts: set[str] | None = None,
             aws_ranges: str | None = None, today: dt.date | None = None,
             progress: Callable[[int, int], None] | None = None, sigma=None) -> list[Finding]:
    """Run the catalogue (or the named ``rules``) over a case; most severe first.

    ``progress(done, total)`` hears of every rule run.

    Severities come from the rule, the hit (a rule may rate one occurrence) and then the
    ``config``; findings a suppression of the config matches carry its reason in
    ``suppressed`` (the caller decides whether to show them). ``sigma``: community rules
    (:func:`graphtrail.queries.findings.sigma_rules.load_sigma`, or a folder to read them
    from), run beside the catalogue as ``SIGMA-<id>``.
    """
    from graphtrail.queries.findings import rules as _rules  # noqa: F401  (registers the catalogue)

    config = config or Config()
    key = kept_as(since=since, until=until, rules=rules, config=config,
                  org_accounts=org_accounts, aws_ranges=aws_ranges, sigma=sigma)
    found = load_findings(store, key) if key is not None else None
    if found is None:
        found = _run(store, since, until, rules, config, org_accounts, aws_ranges, progress, sigma)
        if key is not None:
            save_findings(store, key, found)
    elif progress is not None:  # every rule done at once: read back, none run
        chosen = sum(1 for r in RULES.values() if not rules or r.id in rules)
        progress(chosen, chosen)
    today = today or dt.datetime.now(dt.UTC).date()
    cutoff = SEVERITIES.index(min_severity) if min_severity else len(SEVERITIES)
    out = [f for f in found if SEVERITIES.index(f.severity) <= cutoff]
    for f in out:
        f.suppressed = suppressed_by(f, config, today)
    out.sort(key=lambda f: (SEVERITIES.index(f.severity), f.first_seen or "", f.rule_id))
    return out


def kept_as(*, since: int | None = None, until: int | None = None, rules: list[str] | None = None,
            config: Config | None = None, org_accounts: set[str] | None = None,
            aws_ranges: str | None = None, sigma=None, **_) -> str | None:
    """The name the findings of these arguments of :func:`findings` are kept under; None
    for a run that is not kept (one with Sigma rules)."""
    if sigma is not None:
        return None
    config = config or Config()
    return cache_key({
        "code": code_digest(), "since": since, "until": until,
        "rules": sorted(rules) if rules else None, "thresholds": config.thresholds,
        "severities": config.severities,
        "org_accounts": sorted(set(org_accounts or ()) | config.org_accounts),
        "aws_ranges": ranges_digest(aws_ranges)})


def _run(store, since, until, rules, config: Config, org_accounts, aws_ranges, progress,
         sigma) -> list[Finding]:
    """Every finding of the rules chosen (the catalogue's and ``sigma``'s), untriaged."""
    from graphtrail.queries.findings.both_cores import can_share, run_on_both_cores
    from graphtrail.queries.findings.organization import organization_accounts

    ctx = Context(store, since, until, config, set(org_accounts or ()))
    ctx.org_accounts |= organization_accounts(ctx)
    ctx.aws_ranges_file = aws_ranges
    chosen = _everything(ctx, rules, sigma)
    if sigma is None and len(chosen) > 1 and can_share(store):  # (Sigma rules: together, once)
        ctx.warm()  # converted once, shared with the worker
        return run_on_both_cores(store, chosen, config, progress)
    out: list[Finding] = []
    for done, (r, hits) in enumerate(chosen, 1):
        if progress is not None:
            progress(done - 1, len(chosen))
        for hit in hits():
            f = finding_of(store, r, hit, config)
            if f is not None:
                out.append(f)
    if progress is not None:
        progress(len(chosen), len(chosen))
    return out


def _everything(ctx: Context, only: list[str] | None, sigma) -> list[tuple[Rule, Callable]]:
    """(rule, what gives its hits) of the catalogue, then of the Sigma rules given (evaluated
    together, once, when the first of them is asked)."""
    out: list[tuple[Rule, Callable]] = [(r, partial(r.fn, ctx)) for r in RULES.values()
                                        if not only or r.id in only]
    if sigma is None:
        return out
    from graphtrail.queries.findings.sigma_rules import SigmaRules, load_sigma
    from graphtrail.queries.findings.sigma_run import sigma_hits

    loaded = sigma if isinstance(sigma, SigmaRules) else load_sigma(sigma)
    wanted = SigmaRules(loaded.folders, [c for c in loaded.checks if not only or c.id in only])
    by_rule: dict[str, list[Hit]] | None = None

    def hits_of(rule_id: str) -> list[Hit]:
        nonlocal by_rule
        if by_rule is None:
            by_rule = {}
            for check, hit in sigma_hits(ctx.store, wanted, ctx.since, ctx.until):
                by_rule.setdefault(check.id, []).append(hit)
        return by_rule.get(rule_id, [])

    return out + [(Rule(c.id, c.title, c.severity, c.tactic, c.technique, "", None, c.description),
                   partial(hits_of, c.id)) for c in wanted.checks]
