"""``blast-radius``, ``chains``, ``timeline``: thin wrappers over graphtrail.queries."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer
from rich.text import Text

from graphtrail.bulk import collector_paused
from graphtrail.cli.common import (
    DEFAULT_CASE,
    AccessKeyOpt,
    BackendOpt,
    CaseOpt,
    IpOpt,
    PrincipalOpt,
    SessionOpt,
    SinceOpt,
    UntilOpt,
    check_role,
    fail,
    on_server,
    open_store,
    pick_seed,
    server_store,
    skip_pandas_probe,
    time_bounds,
)
from graphtrail.cli.output import Format, cell, console, emit_json, emit_rows, err_console
from graphtrail.queries.blast_radius import EVENT_ROW_FIELDS, BlastRadius, blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.library import BLAST_RADIUS_EMBEDDED_ONLY
from graphtrail.queries.seeds import Seed, SeedError
from graphtrail.safe_text import markup_text, terminal_text
from graphtrail.store.case import gap_sentence
from graphtrail.words import plural, said

__all__ = ["blast_radius_cmd", "chains_cmd", "timeline_cmd", "print_blast_radius", "print_chains"]

FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
CHAIN_CSV_COLUMNS = ["chain", "from", "to", "time", "event_id", "access_key_id", "from_account",
                     "to_account"]  # a header even when no chain is found


@collector_paused()  # see graphtrail.bulk: the answer's objects hold no cycles
def blast_radius_cmd(
    access_key: AccessKeyOpt = None, principal: PrincipalOpt = None, session: SessionOpt = None,
    ip: IpOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    case: CaseOpt = DEFAULT_CASE, fmt: FormatOpt = Format.table, backend: BackendOpt = "embedded",
) -> None:
    """Everything a credential did and everything derived from it, forward in time."""
    seed = pick_seed(access_key, principal, session, ip)
    lo, hi = time_bounds(since, until)
    if on_server(backend):
        _blast_radius_on_server(server_store(case).server, seed, lo, hi, fmt)
        return
    skip_pandas_probe()
    store = open_store(case, backend, seed=seed)
    try:
        br = blast_radius(store, seed, since=lo, until=hi)
    except SeedError as exc:
        raise fail(str(exc)) from exc
    gaps = linking_gaps(store)
    if fmt == Format.json:
        emit_json(br.to_dict() | ({"linking_gaps": gaps} if gaps else {}))
    elif fmt == Format.csv:
        emit_rows(br.events, fmt, columns=list(EVENT_ROW_FIELDS))
    else:
        print_blast_radius(br)
    print_gaps(gaps, fmt)


def linking_gaps(store) -> list[str]:
    """What the case's sources lack to link credentials (Security Lake's OCSF, say): the
    answers that follow lineage say so. A Neo4j store has no manifest: nothing to say."""
    case = getattr(store, "case", None)
    gaps = case.linking_gaps() if case is not None else []
    return [gap_sentence(g) for g in gaps if g.get("lineage")]


def print_gaps(gaps: list[str], fmt: Format) -> None:
    """Under a table; on stderr beside CSV (the rows stay rows); JSON carries them itself."""
    if fmt == Format.json:
        return
    out = console if fmt == Format.table else err_console
    for g in gaps:
        out.print(terminal_text(f"note: lineage may be incomplete: {g}"), highlight=False,
                  markup=False)


def _blast_radius_on_server(server, seed: Seed, lo: int | None, hi: int | None, fmt: Format) -> None:
    """``cypher/blast_radius.cypher`` on the server: the fields it answers (created things,
    permission changes, key changes and the derivation links are embedded-only)."""
    from graphtrail.queries.on_server import blast_radius_on_server  # pandas: only for a server

    try:
        answer = blast_radius_on_server(server, seed, since=lo, until=hi)
    except SeedError as exc:
        raise fail(str(exc)) from exc
    if fmt == Format.json:
        emit_json({**answer, "embedded_only": list(BLAST_RADIUS_EMBEDDED_ONLY)})
    elif fmt == Format.csv:
        emit_rows(answer["events"], fmt, columns=list(EVENT_ROW_FIELDS))
    else:
        print_blast_radius(BlastRadius(**answer, created=[], policy_changes=[]))
        console.print(f"not answered on the server: {', '.join(BLAST_RADIUS_EMBEDDED_ONLY)} "
                      "(--backend embedded)", highlight=False)


def print_blast_radius(br: BlastRadius) -> None:
    out = console
    out.print(f"[bold]Blast radius of {br.seed['kind']} {br.seed['value']}[/]", highlight=False,
              markup=True)
    span = f" from {br.first_seen} to {br.last_seen}" if br.first_seen else ""
    out.print(f"{plural(br.calls, 'call')} ({br.failed_calls:,} failed){span}; "
              f"{plural(len(br.event_ids), 'eventID')}", highlight=False)
    for title, items in (("access keys", br.access_keys), ("roles assumed", br.roles),
                         ("roles attempted (failed)", br.attempted_roles),
                         ("accounts", br.accounts), ("source IPs", br.ips),
                         ("principals", br.principals)):
        if items:
            out.print(f"[bold]{title}[/] ({len(items)}): " + _short(items), highlight=False)
    for item in br.issued_by:
        out.print(f"[bold]issued by[/] {_t(item['via'])} at {_t(item['time'])} "
                  f"({_t(item['issuer'] or 'unknown caller')}): " + _short(item["event_ids"], 4),
                  highlight=False)
    for c in br.console_sessions:
        flag = (" [red]used from a second address or browser (replayed session cookie?)[/]"
                if c["replayed"] else "")
        out.print(f"[bold]console session[/] {_t(c['session'])}, "
                  f"{plural(len(c['access_key_ids']), 'key')}{flag}", highlight=False)
        for side in c["sides"] if c["replayed"] else []:
            out.print(f"    {_t(side['source_ip'])} {_t(side['user_agent'] or 'AWS console')}: "
                      f"{plural(side['calls'], 'call')} {_t(side['first_seen'])} .. "
                      f"{_t(side['last_seen'])}", highlight=False)
    for x in br.excluded:
        out.print(f"[bold]left out[/] {_t(x['session'])}: {_t(x['reason'])}", highlight=False)
    for k in br.key_changes:
        out.print(f"[bold]key {_t(k['access_key_id'])}[/] {_t(k['status']).lower()} at "
                  f"{_t(k['time'])}; sessions it issued that outlived it: "
                  f"{len(k['sessions_outliving_it'])}", highlight=False)
    if br.resources:
        out.print(f"[bold]resources touched[/] ({len(br.resources)}): " + _short(br.resources, 8),
                  highlight=False)
    if br.created:
        emit_rows([{k: c.get(k) for k in ("time", "type", "id", "used_later", "event_id")}
                   for c in br.created], Format.table, title="Created")
    if br.policy_changes:
        emit_rows([{k: c.get(k) for k in ("time", "event_name", "target", "used_later", "event_id")}
                   for c in br.policy_changes], Format.table, title="Permission and trust changes")


def _t(v) -> str:
    """A value from the logs for a markup print: escaped, ``?`` when missing."""
    text = cell(v)
    return markup_text(text) if text else "?"


def _short(items: list[str], n: int = 12) -> str:
    shown = ", ".join(_t(i) for i in items[:n])
    return shown + (f" ... (+{len(items) - n})" if len(items) > n else "")


@collector_paused()
def chains_cmd(
    cross_account: Annotated[bool, typer.Option("--cross-account", help="Only chains crossing accounts.")] = False,
    origin: Annotated[str | None, typer.Option("--from", help="Origin principal ARN or access key.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="A role ARN the chain reaches.")] = None,
    min_hops: Annotated[int, typer.Option("--min-hops", min=1)] = 1,
    since: SinceOpt = None, until: UntilOpt = None,
    case: CaseOpt = DEFAULT_CASE, fmt: FormatOpt = Format.table, backend: BackendOpt = "embedded",
) -> None:
    """Role-chaining paths walked by real sessions (time-respecting)."""
    lo, hi = time_bounds(since, until)
    if not on_server(backend):
        skip_pandas_probe()
    store = open_store(case, backend, seed=Seed.of(None, origin) if origin else None)
    if to:
        check_role(store, to)
    if on_server(backend):
        from graphtrail.queries.on_server import chains_on_server  # pandas: only for a server

        ask = partial(chains_on_server, store.server)
    else:
        ask = partial(chains, store)
    found = ask(cross_account=cross_account, origin=origin, to=to, min_hops=min_hops,
                since=lo, until=hi)
    gaps = linking_gaps(store)
    if fmt == Format.json:
        emit_json({"chains": [c.to_dict() for c in found]} | ({"linking_gaps": gaps} if gaps else {}))
    elif fmt == Format.csv:
        emit_rows([{"chain": i, **{k: h[k] for k in CHAIN_CSV_COLUMNS[1:]}}
                   for i, c in enumerate(found) for h in c.hops], fmt, columns=CHAIN_CSV_COLUMNS)
    else:
        print_chains(found)
    print_gaps(gaps, fmt)


def print_chains(found) -> None:
    """The chains, a line each for the origin and every hop (never broken: a line holds
    its eventID whole, for grep), printed a thousand lines at a time from Text built
    without markup: a rich print a line took 5.7 s for the 6,700 chains of a million events."""
    if not found:
        console.print("no chains")
    lines: list[Text] = []
    for i, c in enumerate(found, 1):
        head = Text.assemble((f"chain {i}", "bold"), f" ({plural(len(c.hops), 'hop')})")
        if c.cross_account:
            head.append(" cross-account", style="yellow")
        lines += [head, Text("  " + terminal_text(c.path[0]))]
        for h in c.hops:
            key = f" key {terminal_text(h['access_key_id'])}" if h.get("access_key_id") else ""
            across = " -> ".join(terminal_text(said(h.get(a))) for a in ("from_account", "to_account"))
            lines.append(Text.assemble(f"  -> {terminal_text(h['to'])}  ", (
                f"{said(h.get('time'))}{key} event {terminal_text(said(h.get('event_id')))} accounts {across}",
                "dim")))
        if len(lines) >= 1000:
            console.print(Text("\n").join(lines), soft_wrap=True)
            lines.clear()
    if lines:
        console.print(Text("\n").join(lines), soft_wrap=True)


def timeline_cmd(
    access_key: AccessKeyOpt = None, principal: PrincipalOpt = None, session: SessionOpt = None,
    ip: IpOpt = None, since: SinceOpt = None, until: UntilOpt = None,
    lineage: Annotated[bool, typer.Option("--lineage", help="Include every derived credential.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many rows.")] = None,
    case: CaseOpt = DEFAULT_CASE, fmt: FormatOpt = Format.table, backend: BackendOpt = "embedded",
) -> None:
    """Every call of a credential, principal or IP, in time order."""
    from graphtrail.queries.on_server import timeline_on_server
    from graphtrail.queries.timeline import timeline  # a pandas frame: imported when asked

    seed = pick_seed(access_key, principal, session, ip)
    lo, hi = time_bounds(since, until)
    try:
        if on_server(backend):
            store = server_store(case)
            df = timeline_on_server(store.server, seed, since=lo, until=hi,
                                    lineage=lineage, limit=limit)
        else:
            store = open_store(case, backend, seed=seed)
            df = timeline(store, seed, since=lo, until=hi, lineage=lineage, limit=limit)
    except SeedError as exc:
        raise fail(str(exc)) from exc
    rows = df.where(df.notna(), None).to_dict("records")
    cols = list(df.columns) if fmt != Format.table else [
        "time", "event_name", "identity_arn", "recipient_account_id", "region", "source_ip",
        "outcome", "resource", "event_id"]
    emit_rows(rows, fmt, columns=cols, title=f"Timeline of {seed.kind} {seed.value}")
    if lineage:  # the JSON here is an array of rows: its note goes to stderr, as beside CSV
        print_gaps(linking_gaps(store), Format.csv if fmt == Format.json else fmt)
