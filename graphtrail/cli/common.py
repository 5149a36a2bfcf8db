"""Options and helpers shared by the question commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from graphtrail import ids
from graphtrail.cli.output import err_console, graph_progress
from graphtrail.queries.seeds import Seed, SeedError, parse_time_bound, seed_credentials
from graphtrail.safe_text import markup_text
from graphtrail.store.case import CASE_ENV, DEFAULT_CASE, Case, CaseError
from graphtrail.store.memory import MemoryStore
from graphtrail.wiring import ensure_graph

__all__ = ["CaseOpt", "SinceOpt", "UntilOpt", "AccessKeyOpt", "PrincipalOpt", "SessionOpt", "IpOpt",
           "BackendOpt", "open_store", "on_server", "server_store", "pick_seed", "time_bounds", "fail",
           "DEFAULT_CASE", "did_you_mean", "check_seed", "known_names", "connect", "output_file",
           "EXIT_USAGE", "EXIT_NO_ANSWER", "skip_pandas_probe"]

EXIT_NO_ANSWER = 1  # could not answer: nothing readable, server unreachable
EXIT_USAGE = 2  # usage error: unknown seed, rule or format, bad time or window

CaseOpt = Annotated[Path, typer.Option("--case", envvar=CASE_ENV,
                                       help=f"Case folder (default ./{DEFAULT_CASE}).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only from this time (ISO 8601, UTC).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Only up to this time (ISO 8601, UTC).")]
AccessKeyOpt = Annotated[str | None, typer.Option("--access-key", help="An access key id (AKIA... or ASIA...).")]
PrincipalOpt = Annotated[str | None, typer.Option("--principal", help="A user, role or root ARN.")]
SessionOpt = Annotated[str | None, typer.Option("--session", help="A session id (session:ASIA...@time).")]
IpOpt = Annotated[str | None, typer.Option("--ip", help="A source IP address.")]
# The findings' tuning: `findings` and `report` read the same file, so they agree.
FindingsConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="Thresholds, severities, suppressions (TOML; default graphtrail.toml "
    "in the case folder or here).")]
OrgAccountsOpt = Annotated[Path | None, typer.Option(
    "--org-accounts", help="Account ids of the organization (one a line): internal.")]


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` (one line) on stderr; return the Exit to raise."""
    err_console.print(f"[red]error:[/] {markup_text(' '.join(message.split()))}",
                      highlight=False, markup=True)
    return typer.Exit(code)


def did_you_mean(value: str, candidates) -> str:
    """`` (did you mean X?)`` for the closest candidate, or nothing.

    >>> did_you_mean("AKIAEXAMPLEKY", ["AKIAEXAMPLEKEY", "AKIAOTHER"])
    ' (did you mean AKIAEXAMPLEKEY?)'
    >>> did_you_mean("zzz", ["AKIAEXAMPLEKEY"])
    ''
    """
    import difflib

    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def known_names(store, kind: str) -> set[str]:
    """How a user spells the seeds of ``kind`` this case holds (for did-you-mean)."""
    nodes = store.node_info.keys()
    if kind == "access_key":
        out = {k for k in map(ids.key_of, nodes) if k}
        return out | {s["access_key_id"] for s in store.session_info.values() if s["access_key_id"]}
    if kind == "session":
        return set(store.session_info)
    if kind == "ip":
        return {a for a in map(ids.ip_of, nodes) if a}
    if kind == "account":
        return {a for a in map(ids.account_of, nodes) if a}
    return {n for n in nodes if n.startswith("arn:")}


def check_seed(store, seed: Seed) -> None:
    """Exit 2 with a did-you-mean when the case has never seen ``seed``."""
    try:
        seed_credentials(store, seed)
    except SeedError as exc:
        raise fail(f"{exc}{did_you_mean(seed.value, known_names(store, seed.kind))}") from exc


def check_role(store, arn: str) -> str:
    """The role's id; exit 2 with a did-you-mean when the case has no such role."""
    rid = ids.role_id(arn)
    if rid not in store.node_info:
        raise fail(f"role {arn!r} is not in this case"
                   f"{did_you_mean(rid, (n for n in store.node_info.keys() if ':role/' in n))}")
    return rid


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
    "--backend", help="embedded (default; 'memory' also works) or neo4j: the question's Cypher "
                      "runs on the server holding the pushed case (NEO4J_URI...).")]
BACKENDS = ("embedded", "memory", "neo4j")


def on_server(backend: str) -> bool:
    """True for ``--backend neo4j``; exit 2 for a backend that does not exist."""
    if backend not in BACKENDS:
        raise fail(f"--backend {backend!r}: embedded or neo4j")
    return backend == "neo4j"


def open_store(case: Path, backend: str = "embedded", seed: Seed | None = None):
    """Open a case for questions: embedded (graph built first if the events changed) or the
    store protocol over Neo4j (for the views and listings; the local case, when there is one,
    gives the views their raw evidence).

    With ``seed``, exit 2 (and suggest a near spelling) when the case has never seen it.
    """
    store = _open(case, backend)
    if seed is not None:
        check_seed(store, seed)
    return store


def server_store(case: Path):
    """The store protocol over the Bolt server of NEO4J_URI (exit 1 when it does not answer)."""
    import os

    from graphtrail.store.cypher_store import CypherStore
    from graphtrail.store.neo4j_calls import OldCallModel, check_call_model

    local = Case.open(case) if (case / "case.json").exists() else None
    server = connect(os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
                     os.environ.get("NEO4J_USERNAME", "neo4j"), os.environ.get("NEO4J_PASSWORD", ""),
                     os.environ.get("NEO4J_DATABASE"))
    try:
        check_call_model(server)  # an old push would answer wrongly, not fail
    except OldCallModel as exc:
        raise fail(str(exc), EXIT_NO_ANSWER) from exc
    return CypherStore(server, case=local)


def skip_pandas_probe() -> None:
    """Spare a command that never makes a pandas frame the import of pandas (most of a second).

    pyarrow imports pandas the first time it builds any array, to ask whether the input is a
    pandas object; with pandas not loaded yet, none can be. The probe is answered "no pandas"
    once; pyarrow imports pandas for real the first time something asks it for a frame.
    """
    import sys

    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    sys.meta_path.insert(0, _NoPandas)  # the probe's import fails
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(_NoPandas)


class _NoPandas:
    """An import finder that says pandas is not installed (for :func:`skip_pandas_probe`)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not loaded for this command", name=name)
        return None


def _open(case: Path, backend: str):
    if on_server(backend):
        return server_store(case)
    try:
        c = Case.open(case)
        with graph_progress() as tick:
            ensure_graph(c, tick)
    except CaseError as exc:
        raise fail(str(exc)) from exc
    return MemoryStore(c)


def connect(uri: str, user: str, password: str, database: str | None = None):
    from neo4j.exceptions import AuthError, ServiceUnavailable

    from graphtrail.store.neo4j import Neo4jStore

    server = None
    try:
        server = Neo4jStore(uri, user, password, database)
        # One attempt, no retry loop: an unreachable server is an answer in itself (exit 1).
        server._driver.verify_connectivity()
        server.run("RETURN 1 AS ok")
    except (AuthError, ServiceUnavailable, OSError, ValueError) as exc:
        if server is not None:
            server.close()  # the driver's pool, not left to its destructor
        if isinstance(exc, AuthError):
            raise fail(f"{uri}: authentication failed for user {user!r}", EXIT_NO_ANSWER) from exc
        raise fail(f"{uri}: no Bolt server answers ({exc})", EXIT_NO_ANSWER) from exc
    _closed_with_the_command(server)
    return server


def _closed_with_the_command(server) -> None:
    """Close ``server`` when the command running ends (its click context closes), not in
    the driver's destructor: a process that runs commands in-process (a test runner, a
    notebook) would otherwise keep its connections, and neo4j 5.x warns about them."""
    import importlib

    import typer

    # click's Context, whether typer vendors click (0.2x) or imports it
    base = [c for c in typer.Context.__mro__ if c.__name__ == "Context"][-1]
    here = importlib.import_module(base.__module__.rpartition(".")[0] + ".globals")
    ctx = here.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(server.close)


def pick_seed(access_key: str | None, principal: str | None, session: str | None,
              ip: str | None) -> Seed:
    given = [(k, v) for k, v in (("access_key", access_key), ("principal", principal),
                                 ("session", session), ("ip", ip)) if v]
    if len(given) != 1:
        raise fail("give exactly one of --access-key, --principal, --session, --ip")
    return Seed.of(*given[0])


def time_bounds(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    try:
        lo, hi = parse_time_bound(since), parse_time_bound(until)
    except SeedError as exc:
        raise fail(str(exc)) from exc
    if lo is not None and hi is not None and lo > hi:
        raise fail(f"--since {since} is later than --until {until}")
    return lo, hi
