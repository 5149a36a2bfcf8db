"""Timeline: every call of a credential, principal or address, in order, with evidence.

Returns a pandas DataFrame (one row per call): when, eventID, who (actor credential and
the identity ARN as logged), what (source, name), where (account, region, resource),
from which address and user agent, and whether it succeeded.
"""

from __future__ import annotations

import pandas as pd

from graphtrail import ids
from graphtrail.frames import to_frame
from graphtrail.queries.blast_radius import lineage_of
from graphtrail.queries.seeds import Seed, seed_credentials

__all__ = ["timeline", "TIMELINE_COLUMNS"]

TIMELINE_COLUMNS = ["time", "event_id", "actor", "identity_arn", "event_source", "event_name",
                    "recipient_account_id", "region", "resource", "source_ip", "user_agent",
                    "outcome", "error_code", "source_file"]


def timeline(store, seed: Seed | str, *, since: int | None = None, until: int | None = None,
             lineage: bool = False, limit: int | None = None) -> pd.DataFrame:
    """Calls of ``seed`` in time order (``lineage=True``: and of every derived credential)."""
    if isinstance(seed, str):
        seed = Seed.of(None, seed)
    cols = [c for c in TIMELINE_COLUMNS if c != "outcome"]
    if seed.kind == "ip" and not lineage:
        t = store.calls(cols, source_ip=seed.value, since=since, until=until)
    else:
        creds = seed_credentials(store, seed, since, until)
        if lineage:
            creds = set(lineage_of(store, creds, since, until)[0])
        t = store.calls(cols, actors=sorted(creds), since=since, until=until)
    if limit is not None:
        t = t.slice(0, limit)
    df = to_frame(t)
    df.insert(TIMELINE_COLUMNS.index("outcome"), "outcome",
              ["success" if e is None or e != e else f"error: {e}" for e in df["error_code"]])
    df["time"] = [ids.iso(int(x.value // 1000)) if x is not None and x == x else None
                  for x in df["time"]]
    return df[TIMELINE_COLUMNS]
