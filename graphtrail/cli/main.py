"""The ``graphtrail`` command: thin wiring of typer sub-commands to the library.

Exit status, the same for every command: 0 answered (an empty answer is an answer);
2 usage error (unknown seed, rule or format, a bad time or window), one line on stderr;
1 could not answer (nothing readable, server unreachable); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from graphtrail import __version__
from graphtrail.bulk import exits_after_command
from graphtrail.cli.lazy import LazyCommands
from graphtrail.cli.output import err_console

__all__ = ["app", "EXIT_ANSWERED", "EXIT_NO_ANSWER", "EXIT_USAGE"]

EXIT_ANSWERED = 0
EXIT_NO_ANSWER = 1
EXIT_USAGE = 2


# click's exceptions, whether typer vendors click (0.2x) or imports it: found from typer's own.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _Command(typer.Typer):
    """Usage errors as one line on stderr (``error: ...``), exit 2, whatever the command."""

    def __call__(self, *args, **kwargs):
        exits_after_command()  # the process's own command line (see graphtrail.bulk, LazyCommands)
        try:
            code = super().__call__(*args, standalone_mode=False, **kwargs)
        except _USAGE_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare command: its help
                err_console.print(exc.format_message(), highlight=False, markup=False)
                sys.exit(EXIT_USAGE)
            err_console.print(f"[red]error:[/] {_one_line(exc)}", highlight=False, markup=True)
            sys.exit(EXIT_USAGE)
        except typer.Abort:
            err_console.print("interrupted", highlight=False, markup=False)
            sys.exit(130)
        except _CLICK_ERROR as exc:
            err_console.print(f"[red]error:[/] {_one_line(exc)}", highlight=False, markup=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else EXIT_ANSWERED)


def _one_line(exc: Exception) -> str:
    from rich.markup import escape

    where = ""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command_path:
        where = f"{ctx.command_path}: "
    return escape(where + " ".join(exc.format_message().split()).replace("Value error, ", ""))


# Plain click help: typer's rich help labels every flag "<bool>".
app = _Command(
    name="graphtrail",
    help="Session-precise attack-path analysis for AWS CloudTrail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=LazyCommands,
)


def _version(value: bool) -> None:
    if value:
        print(f"graphtrail {__version__}")
        raise typer.Exit(EXIT_ANSWERED)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    raw: Annotated[bool, typer.Option(
        "--raw", help="CSV cells as they are: no quote before a leading = + - @ (formulas).")] = False,
) -> None:
    """Session-precise attack-path analysis for AWS CloudTrail.

    Exit status: 0 answered (an empty answer is an answer); 2 usage error (unknown seed,
    rule or format, bad time or window); 1 could not answer (nothing readable, server
    unreachable); 130 interrupted.
    """
    if raw:
        os.environ["GRAPHTRAIL_CSV_RAW"] = "1"


if __name__ == "__main__":  # pragma: no cover
    app()
