"""Text from the logs, made harmless for whoever reads it: a terminal, a spreadsheet, rich.

CloudTrail fields are attacker-controlled (user agents, session names, request parameters,
even file names). Three readers need protecting:

* a terminal: control characters (ESC sequences can move the cursor, rewrite earlier lines,
  set the window title) and Unicode direction overrides are shown escaped, ``\\x1b``;
* rich: ``[...]`` in data is never taken as markup (``x[/b].json`` would crash a print);
* a spreadsheet: a CSV cell starting with ``=``, ``+``, ``-``, ``@``, TAB or CR is a formula
  to Excel or LibreOffice; it gets a leading single quote (``--raw`` keeps cells as they are).

>>> terminal_text("ok\\x1b]0;owned\\x07 \\u202eexe.pdf")
'ok\\\\x1b]0;owned\\\\x07 \\\\u202eexe.pdf'
>>> markup_text("x[/b].json")
'x\\\\[/b].json'
>>> csv_cell("=HYPERLINK(\\"http://x\\")"), csv_cell("-1"), csv_cell("arn:aws:iam::1:role/r")
('\\'=HYPERLINK("http://x")', "'-1", 'arn:aws:iam::1:role/r')
"""

from __future__ import annotations

import re

from rich.markup import escape

__all__ = ["terminal_text", "markup_text", "csv_cell", "control_escaped", "FORMULA_START"]

# C0 controls but TAB and newline (tables and messages keep their lines), DEL, C1 controls,
# and the Unicode bidirectional overrides and isolates (they reorder what is shown).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ALL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def control_escaped(text: str, *, keep_lines: bool = True) -> str:
    """``text`` with control characters shown as ``\\xNN`` / ``\\uNNNN``.

    >>> control_escaped("a\\tb\\nc\\rd"), control_escaped("a\\nb", keep_lines=False)
    ('a\\tb\\nc\\\\x0dd', 'a\\\\x0ab')
    """
    pattern = _CONTROL if keep_lines else _ALL_CONTROL
    return pattern.sub(_escaped, text) if pattern.search(text) else text


def terminal_text(text: str) -> str:
    """For a terminal cell or line printed without markup: control characters escaped."""
    return control_escaped(text, keep_lines=False)


def markup_text(text: str) -> str:
    """For a rich print with markup on: control characters escaped, ``[`` never markup."""
    return escape(control_escaped(text, keep_lines=False))


def csv_cell(text: str, raw: bool = False) -> str:
    """A CSV cell a spreadsheet will not run as a formula (unless ``raw``).

    >>> csv_cell("@SUM(A1)"), csv_cell("@SUM(A1)", raw=True), csv_cell("")
    ("'@SUM(A1)", '@SUM(A1)', '')
    """
    if not raw and text.startswith(FORMULA_START):
        return "'" + text
    return text
