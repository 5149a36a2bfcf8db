"""The sub-commands of ``graphtrail``, imported only when one runs.

A command's module pulls in Arrow, pandas, networkx, boto3...: a second of imports that
``graphtrail --help`` (or a typo) should not pay. :data:`COMMANDS` names where each command
lives; :class:`LazyCommands` imports a module when its command is invoked or asked for its
own help, and writes the list of commands from the modules' source (the first line of each
command's docstring, read with :mod:`ast`), without importing them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from functools import cache
from pathlib import Path

import typer
from typer.core import TyperCommand, TyperGroup

from graphtrail.bulk import collector_paused, is_command_process

__all__ = ["COMMANDS", "LazyCommands", "load_command"]

# name -> (module, attribute): a command function, a typer.Typer of sub-commands, or a dict
# of command functions by name. In the order ``graphtrail --help`` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("graphtrail.cli.ingest", "ingest"),
    "blast-radius": ("graphtrail.cli.investigate", "blast_radius_cmd"),
    "chains": ("graphtrail.cli.investigate", "chains_cmd"),
    "timeline": ("graphtrail.cli.investigate", "timeline_cmd"),
    "event": ("graphtrail.cli.event", "event_cmd"),
    "findings": ("graphtrail.cli.detect", "findings_cmd"),
    "demo": ("graphtrail.cli.demo", "demo_cmd"),
    "query": ("graphtrail.cli.neo4j_cmd", "query_cmd"),
    "report": ("graphtrail.cli.report", "report_cmd"),
    "view": ("graphtrail.cli.report", "view_cmd"),
    "verify": ("graphtrail.cli.verify", "verify_cmd"),
    "coverage": ("graphtrail.cli.verify", "coverage_cmd"),
    "copy-trail": ("graphtrail.cli.verify", "copy_trail_cmd"),
    **{n: ("graphtrail.cli.listing", "LISTING_COMMANDS")
       for n in ("keys", "principals", "roles", "ips", "accounts")},
    "case": ("graphtrail.cli.ingest", "case_app"),
    "neo4j": ("graphtrail.cli.neo4j_cmd", "neo4j_app"),
}

def load_command(name: str):
    """The click command ``name``, its module imported."""
    module, attr = COMMANDS[name]
    obj = getattr(importlib.import_module(module), attr)
    if isinstance(obj, dict):
        obj = obj[name]
    if isinstance(obj, typer.Typer):
        cmd = typer.main.get_group(obj)
    else:
        one = typer.Typer(add_completion=False, rich_markup_mode=None)
        one.command(name)(obj)
        cmd = typer.main.get_command(one)
    cmd.name = name
    return cmd


class LazyCommands(TyperGroup):
    """A typer group whose commands are imported when used (see the module docstring).

    A command's modules are imported with the cyclic collector paused
    (:func:`graphtrail.bulk.collector_paused`: they make nothing to collect, and its
    collections walked them, 0.05 s of a cold question); in the ``graphtrail`` process itself
    everything then alive (modules, functions, classes: hundreds of thousands of objects) is
    frozen on the way out, since it lives as long as the process: each later collection no
    longer walks it (0.1-0.2 s of a cold question; chains at 1M events: 0.96 -> 0.77 s of CPU).
    In that process, Arrow's pool becomes jemalloc before the command's module is imported
    (:mod:`graphtrail.arrow_pool`).
    """

    def list_commands(self, ctx) -> list[str]:
        return [*self.commands, *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            if is_command_process():  # not a library caller's process (a test runner)
                from graphtrail.arrow_pool import prefer_jemalloc

                prefer_jemalloc()
            with collector_paused():
                self.commands[cmd_name] = load_command(cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx, formatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            cmd = self.commands.get(name) or _described(name)
            if not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _described(name: str):
    """A stand-in command carrying only the help text of ``name``, read from its source."""
    return TyperCommand(name, help=_help_text(name))


def _help_text(name: str) -> str | None:
    module, attr = COMMANDS[name]
    for node in _source(module).body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            doc = ast.get_docstring(node)
            return inspect.cleandoc(doc) if doc else None
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == attr for t in node.targets):
            return _help_of_value(node.value, name)
    return None


def _help_of_value(value: ast.expr, name: str) -> str | None:
    if isinstance(value, ast.Call):  # typer.Typer(help="...")
        for kw in value.keywords:
            if kw.arg == "help" and isinstance(kw.value, ast.Constant):
                return kw.value.value
    if isinstance(value, ast.Dict):  # {"keys": _command("keys", "help"), ...}
        for k, v in zip(value.keys, value.values, strict=True):
            if isinstance(k, ast.Constant) and k.value == name and isinstance(v, ast.Call):
                texts = [a.value for a in v.args if isinstance(a, ast.Constant)]
                return texts[-1] if texts else None
    return None


@cache
def _source(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module {module}")
    return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
