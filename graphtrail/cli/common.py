"""Options and helpers shared by the question commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from graphtrail.cli.output import err_console
from graphtrail.cli.wiring import ensure_graph
from graphtrail.queries.seeds import Seed, SeedError, parse_time_bound
from graphtrail.safe_text import markup_text
from graphtrail.store.case import Case, CaseError
from graphtrail.store.memory import MemoryStore

__all__ = ["CaseOpt", "SinceOpt", "UntilOpt", "AccessKeyOpt", "PrincipalOpt", "SessionOpt", "IpOpt",
           "BackendOpt", "open_store", "pick_seed", "time_bounds", "fail", "DEFAULT_CASE",
           "output_file"]

DEFAULT_CASE = Path("graphtrail-case")
CaseOpt = Annotated[Path, typer.Option("--case", envvar="GRAPHTRAIL_CASE",
                                       help="Case folder (default ./graphtrail-case).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only from this time (ISO 8601, UTC).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Only up to this time (ISO 8601, UTC).")]
AccessKeyOpt = Annotated[str | None, typer.Option("--access-key", help="An access key id (AKIA... or ASIA...).")]
PrincipalOpt = Annotated[str | None, typer.Option("--principal", help="A user, role or root ARN.")]
SessionOpt = Annotated[str | None, typer.Option("--session", help="A session id (session:ASIA...@time).")]
IpOpt = Annotated[str | None, typer.Option("--ip", help="A source IP address.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]error:[/] {markup_text(message)}", highlight=False, markup=True)
    return typer.Exit(code)


def output_file(path: Path | None, option: str = "--out") -> None:
    """Refuse an output path that is a folder (or under a file): nothing is overwritten but
    the file asked for."""
    if path is None:
        return
    if path.is_dir():
        raise fail(f"{option} {path}: a folder; give a file name, e.g. {path / 'report.html'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise fail(f"{option} {path}: {parent} is a file, not a folder")
            break


BackendOpt = Annotated[str, typer.Option(
    "--backend", help="memory (embedded, default) or neo4j (a pushed case; NEO4J_URI...).")]


def open_store(case: Path, backend: str = "memory"):
    """Open a case for questions: embedded (graph built first if the events changed) or Neo4j."""
    if backend == "neo4j":
        import os

        from graphtrail.cli.neo4j_cmd import connect
        from graphtrail.store.cypher_store import CypherStore

        return CypherStore(connect(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
                                   os.environ.get("NEO4J_USERNAME", "neo4j"),
                                   os.environ.get("NEO4J_PASSWORD", ""),
                                   os.environ.get("NEO4J_DATABASE")))
    if backend != "memory":
        raise fail(f"--backend {backend!r}: memory or neo4j")
    try:
        c = Case.open(case)
        ensure_graph(c)
    except CaseError as exc:
        raise fail(str(exc)) from exc
    return MemoryStore(c)


def pick_seed(access_key: str | None, principal: str | None, session: str | None,
              ip: str | None) -> Seed:
    given = [(k, v) for k, v in (("access_key", access_key), ("principal", principal),
                                 ("session", session), ("ip", ip)) if v]
    if len(given) != 1:
        raise fail("give exactly one of --access-key, --principal, --session, --ip")
    return Seed.of(*given[0])


def time_bounds(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    try:
        return parse_time_bound(since), parse_time_bound(until)
    except SeedError as exc:
        raise fail(str(exc)) from exc
