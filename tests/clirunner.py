"""A typer test runner that keeps a command's stdout and stderr apart, whatever click.

click 8.2+ always captures them apart (``result.stdout``, ``result.stderr``; ``output``
mixes both). click < 8.2 (what the declared minimum, typer 0.15.4, runs on) mixes stderr
into stdout unless told ``mix_stderr=False``, and then ``result.stderr`` raises. An answer
on stdout must parse as JSON whatever the warnings on stderr, so tests that read either
stream use :func:`cli_runner`.
"""

from __future__ import annotations

from typer.testing import CliRunner

__all__ = ["cli_runner"]


def cli_runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click 8.2+: always apart, and the argument is gone
        return CliRunner()
