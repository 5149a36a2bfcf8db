"""Values in sentences a person reads: counted nouns, and missing values said as missing.

>>> plural(1, "hop"), plural(2, "hop"), plural(1200, "call"), plural(2, "policy", "policies")
('1 hop', '2 hops', '1,200 calls', '2 policies')
>>> said(None), said(float("nan")), said("RoleA")
('(unknown)', '(unknown)', 'RoleA')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["plural", "said", "UNKNOWN"]

UNKNOWN = "(unknown)"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 call', '3 calls', '2 policies' (with ``many``)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def said(value: Any, missing: str = UNKNOWN) -> str:
    """``value`` as text; ``missing`` for None, NaN, NaT or an empty string."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return missing
    if value != value:  # NaT, pd.NA-like
        return missing
    return str(value)
