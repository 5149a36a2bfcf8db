"""``graphtrail demo``: a realistic leaked-key incident, generated, ingested and answered."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from graphtrail.cli.detect import print_findings
from graphtrail.cli.ingest import finish_ingest, run_ingest
from graphtrail.cli.investigate import print_blast_radius, print_chains
from graphtrail.cli.output import console
from graphtrail.cli.report import ReportFormat, write_report
from graphtrail.queries.blast_radius import blast_radius
from graphtrail.queries.chains import chains
from graphtrail.queries.findings import findings
from graphtrail.store.case import Case
from graphtrail.store.memory import MemoryStore
from graphtrail.synth.scenarios import build_scenario
from graphtrail.views.report import build_report
from loaders.sources.files import list_files

__all__ = ["demo_cmd", "run_demo"]


def run_demo(folder: Path, seed: int = 0, noise: int = 2000, workers: int | None = None) -> dict:
    """Generate the scenario under ``folder``, ingest it, and return what the demo shows."""
    logs, case_dir = folder / "logs", folder / "case"
    for p in (logs, case_dir):
        shutil.rmtree(p, ignore_errors=True)
    truth = build_scenario(logs, seed=seed, noise_events=noise)
    case = Case.open(case_dir, create=True)
    summary = run_ingest(list(list_files([str(logs)])), case, workers=workers)
    finish_ingest(case, summary)
    store = MemoryStore(case)
    return {"truth": truth, "summary": summary, "store": store,
            "blast_radius": blast_radius(store, truth.leaked_key),
            "chains": chains(store, origin=truth.leaked_key, cross_account=True),
            "findings": findings(store)}


def demo_cmd(
    folder: Annotated[Path, typer.Option("--dir", help="Where to write the logs and the case.")] = Path("graphtrail-demo"),
    seed: Annotated[int, typer.Option(help="Scenario seed (same seed, same incident).")] = 0,
    noise: Annotated[int, typer.Option(help="Ordinary events around the attack.")] = 2000,
) -> None:
    """Generate a leaked-key incident across three accounts and investigate it."""
    console.print(f"[bold]graphtrail demo[/]: generating a leaked-key incident in {folder}/logs ...",
                  highlight=False)
    d = run_demo(folder, seed, noise)
    truth, s = d["truth"], d["summary"]
    console.print(f"ingested {s.files_read} files, {s.events_added:,} events "
                  f"({s.duplicates} duplicates from the overlapping org and account trails) "
                  f"into {folder}/case\n", highlight=False)
    console.rule(f"1. What did the leaked key {truth.leaked_key} do?")
    print_blast_radius(d["blast_radius"])
    console.rule("2. Which roles did it chain through, across accounts?")
    print_chains(d["chains"])
    console.rule("3. Findings")
    print_findings(d["findings"])
    report = build_report(d["store"], truth.leaked_key,
                          title=f"Leaked access key {truth.leaked_key}")
    page = write_report(report, folder / "report.html")
    write_report(report, folder / "report.md", ReportFormat.md)
    console.print(f"\nreport: {page.resolve()} (open it in a browser; Markdown: report.md)",
                  highlight=False, markup=False, soft_wrap=True)
    console.print(f"\nNext: graphtrail timeline --access-key {truth.leaked_key} --lineage --case {folder}/case",
                  highlight=False, soft_wrap=True)
