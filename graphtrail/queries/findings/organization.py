"""Which accounts belong to the organization whose trail the case holds.

Internal: every account whose calls the case records (``recipientAccountId``), every account
named by the organization trail's layout (``AWSLogs/o-xxxx/<account>/``) in the source files,
and accounts that Organizations events created or invited. ``--org-accounts FILE`` and the
config's ``[organization] accounts`` add the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["organization_accounts", "read_org_accounts"]

_LAYOUT = re.compile(r"AWSLogs/(?:o-[a-z0-9]{10,32}/)?(\d{12})/")
_ACCOUNT = re.compile(r"\b(\d{12})\b")


def organization_accounts(ctx) -> set[str]:
    """Accounts the case shows to be part of the organization (``ctx``: a findings Context)."""
    out = {a for a in ctx.distinct("recipient_account_id") if isinstance(a, str) and a}
    for f in ctx.distinct("source_file"):
        if isinstance(f, str):
            out.update(_LAYOUT.findall(f))
    org = ctx.calls(["CreateAccount", "InviteAccountToOrganization", "AcceptHandshake",
                     "MoveAccount"], ["detail"])
    for d in org["detail"]:
        if isinstance(d, str):
            out.update(_ACCOUNT.findall(d))
    return out


def read_org_accounts(path: str | Path) -> set[str]:
    """Account ids from a file: one a line, or comma separated; ``#`` starts a comment.

    Raises ``ValueError`` naming the file and line of anything that is not a 12-digit id.
    """
    p = Path(path)
    out = set()
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        for item in line.split("#", 1)[0].replace(",", " ").split():
            if not re.fullmatch(r"\d{12}", item):
                raise ValueError(f"{p}:{n}: {item!r} is not a 12-digit account id")
            out.add(item)
    return out
