"""``graphtrail neo4j push`` and ``graphtrail query``: the case in Neo4j, and Cypher on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from graphtrail.cli.common import DEFAULT_CASE, EXIT_NO_ANSWER, CaseOpt, connect, fail
from graphtrail.cli.output import Format, console, emit_json, emit_rows, stage_progress
from graphtrail.store.case import Case, CaseError
from graphtrail.wiring import ensure_graph

__all__ = ["neo4j_app", "query_cmd", "UriOpt", "UserOpt", "PasswordOpt", "connect"]

UriOpt = Annotated[str, typer.Option("--uri", envvar="NEO4J_URI", help="Bolt URI (NEO4J_URI).")]
UserOpt = Annotated[str, typer.Option("--user", envvar="NEO4J_USERNAME", help="User (NEO4J_USERNAME).")]
PasswordOpt = Annotated[str, typer.Option("--password", envvar="NEO4J_PASSWORD",
                                          help="Password (NEO4J_PASSWORD).")]
DatabaseOpt = Annotated[str | None, typer.Option("--database", envvar="NEO4J_DATABASE",
                                                 help="Database (default: the server's).")]

neo4j_app = typer.Typer(help="Push a case to Neo4j.", no_args_is_help=True, rich_markup_mode=None)


@neo4j_app.command("push")
def push_cmd(
    case: CaseOpt = DEFAULT_CASE,
    uri: UriOpt = "bolt://127.0.0.1:7687", user: UserOpt = "neo4j", password: PasswordOpt = "",
    database: DatabaseOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per transaction (10,000: the fastest in benchmarks/bench_neo4j_push.py).")] = 10_000,
    calls: Annotated[bool, typer.Option("--calls/--no-calls", help="Push the calls (for timelines), grouped per credential, action and resource.")] = True,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Write the case's graph (and its calls) to Neo4j; idempotent and incremental."""
    from graphtrail.store.neo4j_calls import OldCallModel
    from graphtrail.store.neo4j_case import push_case

    try:
        c = Case.open(case)
        ensure_graph(c)
    except CaseError as exc:
        raise fail(str(exc)) from exc
    server = connect(uri, user, password, database)
    try:
        with stage_progress("rows") as tick:

            def progress(phase: str, done: int, total: int) -> None:
                if tick is not None:
                    tick(f"push {phase}", done, total)

            summary = push_case(c, server, batch_size=batch_size, calls=calls, progress=progress)
    except OldCallModel as exc:
        raise fail(str(exc), EXIT_NO_ANSWER) from exc
    finally:
        server.close()
    d = summary.as_dict()
    if fmt == Format.json:
        emit_json(d)
        return
    if fmt == Format.csv:
        emit_rows([d], fmt)
        return
    console.print(f"pushed to {uri}: {d['nodes']:,} nodes, {d['relationships']:,} relationships "
                  f"({d['relationships_per_second'] or 0:,} rel/s); calls: {d['calls_new']:,} new, "
                  f"{d['calls_relinked']:,} relinked, {d['calls_unchanged']:,} unchanged; "
                  f"stale removed: {d['stale_nodes_removed']} nodes, "
                  f"{d['stale_relationships_removed']} relationships; {d['seconds']:.1f} s",
                  highlight=False)
    for note in d["unsupported"]:
        console.print(f"note: {note}", highlight=False, markup=False)


@neo4j_app.command("export-import")
def export_import_cmd(
    out: Annotated[Path, typer.Option("--out", help="An empty folder for the CSV files.")],
    case: CaseOpt = DEFAULT_CASE,
    database: Annotated[str, typer.Option("--database", help="The database to import into.")] = "neo4j",
    overwrite: Annotated[bool, typer.Option("--overwrite-destination",
                                            help="Print the command with --overwrite-destination=true.")] = False,
    calls: Annotated[bool, typer.Option("--calls/--no-calls", help="The calls, grouped per credential, action and resource (:Call).")] = True,
) -> None:
    """Write neo4j-admin import files for a fresh database (the graph `neo4j push` writes); print the command."""
    from graphtrail.store.neo4j_import import import_command, write_import_files

    try:
        c = Case.open(case)
        ensure_graph(c)
        files = write_import_files(c, out, calls=calls)
    except (CaseError, ValueError) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"{out}: {exc.strerror or exc}", code=1) from exc
    console.print(f"wrote {files.node_count:,} nodes and {files.relationship_count:,} relationships "
                  f"in {len(files.nodes) + len(files.relationships)} files to {out}"
                  + (f"; {files.skipped_edges:,} edges skipped (an endpoint is not a node)"
                     if files.skipped_edges else "")
                  + (f"; {files.empty_lists_unrestored:,} empty list properties not restorable (left out)"
                     if files.empty_lists_unrestored else ""),
                  highlight=False, markup=False, soft_wrap=True)
    console.print("With the database stopped (the import needs an empty or new database), run:\n",
                  highlight=False, markup=False)
    console.print(import_command(files, database, overwrite=overwrite), highlight=False, markup=False,
                  soft_wrap=True)
    console.print("\nthen start it and create the constraints and indexes `neo4j push` makes"
                  + (" (and set back the empty lists the files hold as empty fields)" if files.restore_empty_lists else "")
                  + ":\n"
                  f"  cypher-shell -d {database} -f {files.schema}", highlight=False, markup=False, soft_wrap=True)


def query_cmd(
    cypher_text: Annotated[str, typer.Argument(metavar="CYPHER", help="A read query.")],
    param: Annotated[list[str] | None, typer.Option("--param", help="k=v (v parsed as JSON if it can be).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="neo4j (the only one that speaks Cypher).")] = "neo4j",
    uri: UriOpt = "bolt://127.0.0.1:7687", user: UserOpt = "neo4j", password: PasswordOpt = "",
    database: DatabaseOpt = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Run an ad-hoc Cypher query (with parameters, never string splicing); table or JSON."""
    if backend != "neo4j":
        raise fail("only --backend neo4j runs Cypher; the embedded store answers the commands")
    params = {}
    for p in param or []:
        if "=" not in p:
            raise fail(f"--param {p!r}: expected name=value")
        k, v = p.split("=", 1)
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    server = connect(uri, user, password, database)
    try:
        rows = server.run(cypher_text, params)
    except Exception as exc:  # the server's message says what is wrong with the query
        raise fail(f"query failed: {exc}") from exc
    finally:
        server.close()
    if fmt == Format.json:
        emit_json(rows)
    else:
        emit_rows([{k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()}
                   for r in rows], fmt)
