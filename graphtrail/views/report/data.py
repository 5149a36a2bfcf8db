"""Everything an incident report says about one seed, gathered once, before any rendering.

:func:`build_report` asks the case the investigation questions for a seed (an access key,
a principal, a session or an address) and keeps the answers in a :class:`Report`: the
blast radius, the role chains its sessions walked, the timeline of the whole lineage, the
findings that involve the lineage, the subgraph to draw, the data touched and the evidence
(every cited eventID with its source file and that file's SHA-256). The renderers
(:mod:`graphtrail.views.report.html`, :mod:`graphtrail.views.report.markdown`) only format
what is here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from graphtrail import __version__, ids
from graphtrail.bulk import collector_resumed
from graphtrail.queries.blast_radius import BlastRadius, blast_radius, lineage_of
from graphtrail.queries.chains import Chain, chains, origin_of
from graphtrail.queries.findings import SEVERITIES, Finding, findings
from graphtrail.queries.findings.ahead import findings_ahead
from graphtrail.queries.findings.config import Config
from graphtrail.queries.seeds import Seed, seed_credentials
from graphtrail.queries.timeline import timeline
from graphtrail.store.protocol import ViewStore
from graphtrail.views.graph.focus import lineage_graph
from graphtrail.views.report.evidence import (
    DataTouched,
    EvidenceEvent,
    EvidenceFile,
    data_touched,
    gather_evidence,
)
from graphtrail.words import plural

__all__ = ["Report", "build_report", "short_id", "seed_words", "SEED_WORDS"]

SEED_WORDS = {"access_key": "access key", "principal": "principal", "session": "session",
              "ip": "IP address", "account": "account"}


@dataclass
class Report:
    """What an incident report holds; see :func:`build_report`.

    Attributes
    ----------
    title : str
    seed : Seed
    since, until : int or None
        The window asked for, epoch microseconds.
    generated_at : str
        When the report was built, ISO 8601 UTC.
    version : str
        graphtrail's version.
    case : dict
        ``path``, ``events`` and ``files`` (source files ingested) of the case.
    origin : str or None
        The principal behind the seed (the user owning a leaked key, say).
    blast : BlastRadius
    credentials : dict
        Lineage credentials: node id -> how it was derived (``via``, ``parent``, ``time``).
    chains : list of Chain
        Role chains through the lineage's sessions, longest first.
    timeline : pandas.DataFrame
        Every call of the lineage in time order, with a ``request`` column (request
        parameters, compacted) and ``findings`` (rule ids citing the call).
    findings : list of Finding
        Findings whose calls or actors belong to the lineage, most severe first, tuned by
        the findings config as ``graphtrail findings`` is; none a suppression matches.
    severity : str or None
        The highest severity among :attr:`findings`.
    data : list of DataTouched
    graph : networkx.MultiDiGraph
        The lineage and its neighbours, for drawing.
    highlight : set
        Node ids of :attr:`graph` to draw prominently.
    evidence : list of EvidenceEvent
        Every cited eventID, in time order.
    files : list of EvidenceFile
        The source files holding them, with SHA-256 from the case manifest.
    missing : list of str
        Cited eventIDs not found among the case's events (none, in a consistent case).
    suppressed : list of Finding
        Findings of the lineage a suppression of the config matched: left out of
        :attr:`findings` and the severity, counted and named in the report.
    config_source : str or None
        The findings config used (a path), or None for the defaults.
    """

    title: str
    seed: Seed
    since: int | None
    until: int | None
    generated_at: str
    version: str
    case: dict[str, Any]
    origin: str | None
    blast: BlastRadius
    credentials: dict[str, dict]
    chains: list[Chain]
    timeline: pd.DataFrame
    findings: list[Finding]
    severity: str | None
    data: list[DataTouched]
    graph: nx.MultiDiGraph
    highlight: set
    evidence: list[EvidenceEvent]
    files: list[EvidenceFile]
    missing: list[str] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    config_source: str | None = None

    @property
    def suppression_note(self) -> str | None:
        """What the config left out, in words: each suppressed finding's rule and reason."""
        if not self.suppressed:
            return None
        why = "; ".join(dict.fromkeys(f"{f.rule_id} ({f.suppressed})" for f in self.suppressed))
        return (f"{plural(len(self.suppressed), 'finding')} of this lineage left out, "
                f"suppressed by {self.config_source}: {why}.")

    @property
    def created_keys(self) -> list[dict]:
        """Access keys the lineage created."""
        return [c for c in self.blast.created if c.get("type") == "AccessKey"]

    @cached_property
    def user_agents(self) -> list[str]:
        """Distinct user agents of the timeline, in the order they were first seen."""
        agents = self.timeline["user_agent"]
        return list(dict.fromkeys(u for u in agents if isinstance(u, str) and u))


def build_report(store: ViewStore, seed: Seed | str, *, since: int | None = None, until: int | None = None,
                 title: str | None = None, config: Config | None = None,
                 org_accounts: set[str] | None = None, sigma=None) -> Report:
    """Gather what the incident report about ``seed`` shows.

    Parameters
    ----------
    store : MemoryStore
        An open case.
    seed : Seed or str
        An access key id, principal ARN, session id or IP address (a string is read as
        :meth:`Seed.of` does).
    since, until : int, optional
        Epoch microseconds: only calls and derived credentials in this window.
    title : str, optional
        Report title, plain text; by default "Incident report: <seed>".
    config, org_accounts, sigma
        The findings' tuning, as :func:`graphtrail.queries.findings.findings` takes it
        (the CLI reads the same ``graphtrail.toml`` for ``report`` as for ``findings``).

    Returns
    -------
    Report

    Raises
    ------
    SeedError
        When the seed is not in the case.
    """
    if isinstance(seed, str):
        seed = Seed.of(None, seed)
    tuning = {"since": since, "until": until, "config": config, "org_accounts": org_accounts,
              "sigma": sigma}
    # the catalogue runs on the other core while the seed's own sections are gathered
    ahead = findings_ahead(store, **tuning)
    try:
        return _build(store, seed, since, until, title, config, tuning, ahead)
    finally:
        ahead.cancel()  # a seed not in the case: nothing to wait for (ended already: no-op)


def _build(store, seed: Seed, since: int | None, until: int | None, title: str | None,
           config: Config | None, tuning: dict, ahead) -> Report:
    start = seed_credentials(store, seed, since, until)
    creds, _ = lineage_of(store, start, since, until)
    blast = blast_radius(store, seed, since=since, until=until)
    lineage_sessions = {c for c in creds if c in store.session_info}
    found_chains = _chains(store, seed, lineage_sessions, since, until)
    calls = timeline(store, seed, since=since, until=until, lineage=True)
    lineage_events = set(blast.event_ids)
    graph, highlight = lineage_graph(store, creds, since=since, until=until)
    # No call in the window, no finding about it (and the catalogue is not run on nothing).
    if blast.calls:
        ahead.wait()
        with collector_resumed():  # the catalogue's pandas frames make cycles (graphtrail.bulk)
            found = findings(store, **tuning)
    else:
        ahead.cancel()
        found = []
    involved = [f for f in found
                if lineage_events.intersection(f.event_ids) or creds.keys() & set(f.actors)]
    related = [f for f in involved if not f.suppressed]
    cited = _citations(calls, found_chains, related, blast)
    evidence = gather_evidence(store.case, cited)
    by_rule: dict[str, list[str]] = defaultdict(list)
    for f in related:
        for e in f.event_ids:
            by_rule[e].append(f.rule_id)
    calls = calls.assign(
        request=[evidence.requests.get(e, "") for e in calls["event_id"]],
        findings=[" ".join(dict.fromkeys(by_rule.get(e, []))) for e in calls["event_id"]])
    severities = [f.severity for f in related if f.severity in SEVERITIES]
    return Report(
        title=title or f"Incident report: {seed_words(seed)}",
        seed=seed, since=since, until=until,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        version=__version__, case=_case_facts(store.case), origin=_origin(store, seed),
        blast=blast, credentials=creds, chains=found_chains, timeline=calls, findings=related,
        severity=min(severities, key=SEVERITIES.index) if severities else None,
        data=data_touched(calls, evidence.object_keys), graph=graph, highlight=highlight,
        evidence=evidence.events, files=evidence.files, missing=evidence.missing,
        suppressed=[f for f in involved if f.suppressed],
        config_source=config.source if config is not None else None)


def seed_words(seed: Seed) -> str:
    """'access key AKIA...', 'IP address 198.51.100.7'."""
    return f"{SEED_WORDS.get(seed.kind, seed.kind)} {seed.value}"


def short_id(node: str | None) -> str:
    """A node id as an investigator writes it.

    >>> short_id("session:ASIAQ1EXAMPLE@2024-06-12T09:50:00Z"), short_id("key:AKIA1")
    ('ASIAQ1EXAMPLE', 'AKIA1')
    >>> short_id("login-profile:arn:aws:iam::1:user/bob"), short_id("ip:192.0.2.1")
    ('arn:aws:iam::1:user/bob (login profile)', '192.0.2.1')
    """
    if not node:
        return ""
    parsed = ids.parse_id(node)
    if parsed.prefix is ids.IdPrefix.SESSION:
        return parsed.value.split("@", 1)[0]
    if parsed.prefix is ids.IdPrefix.LOGIN_PROFILE:
        return f"{parsed.value} (login profile)"
    return node if parsed.prefix in (None, ids.IdPrefix.CALL) else parsed.value


def _chains(store, seed: Seed, sessions: set[str], since: int | None,
            until: int | None) -> list[Chain]:
    """Chains from the seed, and every chain through a session of its lineage."""
    out: dict[tuple[str, ...], Chain] = {}
    if seed.kind in ("access_key", "principal"):
        for c in chains(store, origin=seed.value, since=since, until=until):
            out.setdefault(tuple(c.sessions), c)
    for c in chains(store, since=since, until=until, through=sessions):
        out.setdefault(tuple(c.sessions), c)
    # A chain that is the start of a longer one says nothing more.
    found = sorted(out.values(), key=lambda c: (-len(c.hops), c.hops[0]["time"] or ""))
    kept: list[Chain] = []
    for c in found:
        if not any(k.sessions[: len(c.sessions)] == c.sessions for k in kept):
            kept.append(c)
    return kept


def _citations(calls: pd.DataFrame, found_chains: list[Chain], related: list[Finding],
               blast: BlastRadius) -> dict[str, list[str]]:
    cited: dict[str, list[str]] = defaultdict(list)
    for e in calls["event_id"]:
        cited[e].append("timeline")
    for i, c in enumerate(found_chains, 1):
        for h in c.hops:
            for e in h.get("event_ids") or []:
                cited[e].append(f"chain {i}" if len(found_chains) > 1 else "chain")
    for f in related:
        for e in f.event_ids:
            cited[e].append(f.rule_id)
    for item in blast.created:
        if item.get("event_id"):
            cited[item["event_id"]].append("created")
    for item in blast.policy_changes:
        for e in item.get("event_ids") or [item.get("event_id")]:
            if e:
                cited[e].append("permission change")
    for e in blast.event_ids:
        if e not in cited:
            cited[e].append("lineage")  # the other copy of a cross-account STS call, say
    return cited


def _origin(store, seed: Seed) -> str | None:
    if seed.kind == "access_key" and not ids.is_temporary_key(seed.value):
        return origin_of(store, ids.key_id(seed.value))[0]
    if seed.kind == "principal":
        return seed.value
    if seed.kind == "session":
        return (store.session_info.get(seed.value) or {}).get("principal")
    return None


def _case_facts(case) -> dict[str, Any]:
    from graphtrail.store.integrity import integrity_line, load_integrity

    manifest = case.manifest()
    stored = load_integrity(case.path)
    return {"path": str(Path(case.path).resolve()), "events": case.event_count(),
            "files": len(manifest),
            "integrity": {"line": integrity_line(stored, manifest), "stored": stored or {}}}
