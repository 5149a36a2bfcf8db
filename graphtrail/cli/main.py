"""The ``graphtrail`` command: thin wiring of typer sub-commands to the library."""

from __future__ import annotations

import os

import typer

from graphtrail.cli.demo import demo_cmd
from graphtrail.cli.detect import findings_cmd
from graphtrail.cli.ingest import case_app, ingest
from graphtrail.cli.investigate import blast_radius_cmd, chains_cmd, timeline_cmd
from graphtrail.cli.listing import LISTING_COMMANDS
from graphtrail.cli.neo4j_cmd import neo4j_app, query_cmd
from graphtrail.cli.report import report_cmd, view_cmd
from graphtrail.cli.verify import copy_trail_cmd, coverage_cmd, verify_cmd

__all__ = ["app"]

app = typer.Typer(
    name="graphtrail",
    help="Session-precise attack-path analysis for AWS CloudTrail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(raw: bool = typer.Option(
        False, "--raw", help="CSV cells as they are: no quote before a leading = + - @ (formulas).")
) -> None:
    """Session-precise attack-path analysis for AWS CloudTrail."""
    if raw:
        os.environ["GRAPHTRAIL_CSV_RAW"] = "1"


app.command("ingest")(ingest)
app.add_typer(case_app, name="case")
app.command("blast-radius")(blast_radius_cmd)
app.command("chains")(chains_cmd)
app.command("timeline")(timeline_cmd)
app.command("findings")(findings_cmd)
app.command("demo")(demo_cmd)
app.add_typer(neo4j_app, name="neo4j")
app.command("query")(query_cmd)
app.command("report")(report_cmd)
app.command("view")(view_cmd)
app.command("verify")(verify_cmd)
app.command("coverage")(coverage_cmd)
app.command("copy-trail")(copy_trail_cmd)
for _name, _cmd in LISTING_COMMANDS.items():
    app.command(_name)(_cmd)

if __name__ == "__main__":  # pragma: no cover
    app()
