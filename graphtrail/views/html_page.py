"""One self-contained, offline HTML page: every script and style inlined, nothing fetched.

The page is meant to travel as an e-mail attachment and be opened from ``file://``, so it
loads nothing: vis-network's script and stylesheet are read from the copy the ``pyvis``
package ships and inlined. (pyvis's own ``cdn_resources="in_line"`` template still links
Bootstrap from a CDN, so it is not used.) A Content-Security-Policy allows only the page's
own scripts, by hash, and no requests at all: if some text from the logs ever slipped into
the markup unescaped, an ``onerror=`` handler in it would still not run.

>>> page = html_page("T <1>", "<p>hi</p>", scripts=["console.log(1)"])
>>> "<title>T &lt;1&gt;</title>" in page, "script-src 'sha256-" in page
(True, True)
>>> inline_json({"ua": "</script><script>alert(1)</script>"})
'{"ua":"\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ealert(1)\\\\u003c/script\\\\u003e"}'
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import importlib.util
import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["html_page", "inline_json", "vis_network_assets", "static_text", "VIS_VERSION"]

VIS_VERSION = "9.1.2"

_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")
_CLOSE_SCRIPT = re.compile(r"</script", re.IGNORECASE)
_CLOSE_STYLE = re.compile(r"</style", re.IGNORECASE)


def inline_json(value: Any) -> str:
    """Serialise ``value`` as JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c`` and so on (still valid JSON, same value), so
    no string can close the element or open a comment.

    >>> json.loads(inline_json(["a<b>&c"]))
    ['a<b>&c']
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)


@functools.cache
def vis_network_assets() -> tuple[str, str]:
    """vis-network's minified script and its stylesheet, as shipped inside ``pyvis``.

    Returns
    -------
    (str, str)
        JavaScript and CSS text.

    Raises
    ------
    FileNotFoundError
        When the installed pyvis does not ship vis-network |VIS_VERSION|.
    """
    # Find pyvis without importing it: its __init__ pulls in IPython and takes most of a second.
    spec = importlib.util.find_spec("pyvis")
    roots = list(spec.submodule_search_locations or []) if spec else []
    folder = Path(roots[0] if roots else "pyvis") / "lib" / f"vis-{VIS_VERSION}"
    js, css = folder / "vis-network.min.js", folder / "vis-network.css"
    if not (js.is_file() and css.is_file()):
        raise FileNotFoundError(
            f"pyvis does not ship vis-network {VIS_VERSION} at {folder}; "
            "graphtrail inlines those files (install pyvis>=0.3.2)"
        )
    return js.read_text(encoding="utf-8"), css.read_text(encoding="utf-8")


@functools.cache
def static_text(name: str) -> str:
    """A script or stylesheet from ``graphtrail/views/static``.

    >>> "textContent" in static_text("graph.js")
    True
    """
    return (resources.files("graphtrail.views") / "static" / name).read_text(encoding="utf-8")


def html_page(
    title: str,
    body: str,
    *,
    styles: Sequence[str] = (),
    scripts: Sequence[str] = (),
) -> str:
    """Assemble a complete HTML document with everything inlined.

    Parameters
    ----------
    title : str
        Page title, plain text (it is escaped here).
    body : str
        Markup for ``<body>``; the caller has escaped any text in it. Data blocks
        (``<script type="application/json">``) belong here, made with :func:`inline_json`.
    styles : sequence of str
        Stylesheets, inlined in ``<head>`` in order.
    scripts : sequence of str
        Scripts, inlined at the end of ``<body>`` in order; only these may run.

    Returns
    -------
    str
        The document.

    Raises
    ------
    ValueError
        When a script or style contains its own closing tag.
    """
    for text in scripts:
        if _CLOSE_SCRIPT.search(text):
            raise ValueError("an inline script contains '</script'; it would end the element")
    for text in styles:
        if _CLOSE_STYLE.search(text):
            raise ValueError("an inline stylesheet contains '</style'")
    hashes = " ".join(f"'sha256-{_digest(s)}'" for s in scripts)
    policy = (
        "default-src 'none'; "
        f"script-src {hashes or chr(39) + 'none' + chr(39)}; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    head = "\n".join(f"<style>\n{s}\n</style>" for s in styles)
    tail = "\n".join(f"<script>{s}</script>" for s in scripts)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)}</title>\n{head}\n</head>\n<body>\n"
        f"{body}\n{tail}\n</body>\n</html>\n"
    )


def _digest(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
