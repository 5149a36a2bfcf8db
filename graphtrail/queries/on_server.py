"""The questions answered by the server: each runs its ``cypher/<id>.cypher`` as written.

``--backend neo4j`` lands here. Each function sends one file of the Cypher library, with its
parameters, to a Bolt server holding a pushed case (:mod:`graphtrail.store.neo4j_case`), and
only shapes the rows into the answer the embedded question gives: times from epoch
microseconds to ISO 8601, lists into sorted sets, JSON text back to objects. No graph walk,
filter or join happens here: that is the Cypher's, and ``tests/test_parity.py`` compares these
answers with the embedded implementations in :mod:`graphtrail.queries` on the same cases.

Which questions have Cypher is declared in :mod:`graphtrail.queries.library`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

import cypher
from graphtrail import ids
from graphtrail.frames import to_frame
from graphtrail.queries.library import BLAST_RADIUS_ON_SERVER, server_side
from graphtrail.queries.seeds import Seed, SeedError

__all__ = ["blast_radius_on_server", "timeline_on_server", "chains_on_server", "findings_on_server",
           "lineage_paths_on_server", "ServerSeedError"]


class ServerSeedError(SeedError):
    """The server cannot start a question from this seed (a usage error)."""


def _run(server, qid: str, params: dict) -> list[dict]:
    return server.run(cypher.load(server_side(qid).cypher), params)


def _access_key(seed: Seed | str, question: str) -> str:
    seed = Seed.of(None, seed) if isinstance(seed, str) else seed
    if seed.kind != "access_key":
        raise ServerSeedError(f"{question} on the server starts from an access key (--access-key); "
                              f"for a {seed.kind} use --backend embedded")
    return seed.value


def blast_radius_on_server(server, seed: Seed | str, *, since: int | None = None,
                           until: int | None = None) -> dict:
    """``cypher/blast_radius.cypher``: the fields of :data:`BLAST_RADIUS_ON_SERVER`."""
    key = _access_key(seed, "blast radius")
    row = _run(server, "blast_radius", {"access_key": key, "since": since, "until": until})[0]
    if not row["seed_ids"]:
        raise SeedError(f"access_key {key!r} is not in this case")
    if row["recycled"]:
        listed = "; ".join(f"{r['session']} ({r['principal']})"
                           for r in sorted(row["recycled"], key=lambda r: r["issued_us"] or 0))
        raise SeedError(f"access key {key} was issued {len(row['recycled'])} times in this case "
                        f"(a recycled key id): {listed}. Name one with --session, or narrow with "
                        "--since/--until")
    answer = {
        "seed": {"kind": "access_key", "value": key}, "since": ids.iso(since), "until": ids.iso(until),
        "event_ids": sorted(set(row["event_ids"])), "access_keys": _set(row["access_keys"]),
        "sessions": sorted(row["sessions"]), "roles": _set(row["roles"]),
        "attempted_roles": sorted(set(row["attempted_roles"]) - set(row["roles"])),
        "accounts": _set(row["accounts"]), "ips": _set(row["ips"]),
        "resources": _set(row["resources"]), "principals": _set(row["principals"]),
        "first_seen": _seconds(row["first_us"]), "last_seen": _seconds(row["last_us"]),
        "calls": row["calls"], "failed_calls": row["failed_calls"],
        "issued_by": [{**{k: i[k] for k in ("credential", "via", "issuer")}, "time": ids.iso(i["time_us"]),
                       "event_ids": list(i["event_ids"] or [])}
                      for i in sorted(row["issued_by"], key=lambda i: i["credential"])],
        "events": _events(row["events"]),
        "console_sessions": [_console(c) for c in sorted(row["console_sessions"], key=lambda c: c["session"])],
        "excluded": sorted(row["excluded"], key=lambda x: x["session"]),
    }
    assert tuple(answer) == BLAST_RADIUS_ON_SERVER
    return answer


def timeline_on_server(server, seed: Seed | str, *, since: int | None = None, until: int | None = None,
                       lineage: bool = False, limit: int | None = None) -> pd.DataFrame:
    """``cypher/timeline.cypher``: the embedded timeline's columns, in its order."""
    from graphtrail.queries.timeline import TIMELINE_COLUMNS

    key = _access_key(seed, "timeline")
    rows = _run(server, "timeline", {"access_key": key, "lineage": lineage, "since": since, "until": until})
    if limit is not None:
        rows = rows[:limit]
    for r in rows:
        r["time"] = ids.iso(r.pop("time_us"))
        del r["occurrence"]
    df = to_frame(pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in TIMELINE_COLUMNS])))
    for c in ("time", "outcome"):  # as the embedded timeline builds them
        df[c] = list(df[c])
    return df


def chains_on_server(server, *, cross_account: bool = False, origin: str | None = None,
                     to: str | None = None, min_hops: int = 1, since: int | None = None,
                     until: int | None = None) -> list:
    """``cypher/chains.cypher``: :class:`graphtrail.queries.chains.Chain` objects, in its order."""
    from graphtrail.queries.chains import Chain

    kind, value = ids.normalize_seed(origin) if origin else (None, None)
    rows = _run(server, "chains", {
        "cross_account": cross_account, "min_hops": min_hops, "since": since, "until": until,
        "to": ids.role_id(to) if to else None,
        "from_key": value if kind == "access_key" else None,
        "from_principal": value if origin and kind != "access_key" else None,
        "from_text": origin if origin and kind != "access_key" else None})
    out = []
    for r in rows:
        hops = [{"from": h["from"], "to": h["to"], "time": ids.iso(h["time_us"]),
                 "event_id": h["event_ids"][0] if h["event_ids"] else None,
                 "event_ids": list(h["event_ids"]), "access_key_id": h["access_key_id"],
                 "from_account": h["from_account"], "to_account": h["to_account"],
                 "session": h["session"], "via": h["via"], "session_name": h["session_name"],
                 "source_identity": h["source_identity"],
                 **({"linked_by": "caller principalId and time (the caller's copy is missing)"}
                    if h["inferred"] else {})} for h in r["hops"]]
        out.append(Chain(path=list(r["path"]), hops=hops, sessions=list(r["sessions"]),
                         origin_credential=r["origin_credential"],
                         origin=json.loads(r["origin"]) if r["origin"] else None))
    # the answer's order: longest first, then by the first hop's time as written
    out.sort(key=lambda c: (-len(c.hops), c.hops[0]["time"] if c.hops else ""))
    return out


def findings_on_server(server, *, since: int | None = None, until: int | None = None,
                       rules: list[str] | None = None, min_severity: str | None = None,
                       config=None, today=None) -> list:
    """The findings rules written in Cypher (``rules``: only these; every one named must have
    Cypher), each ``cypher/finding_*.cypher``, with the actors' lineage from
    ``cypher/lineage_path.cypher``; severities, fingerprints and suppressions as the embedded
    catalogue gives them (the config's, not the graph's). Most severe first."""
    import datetime as dt

    from graphtrail.queries.findings.base import (
        RULES,
        SEVERITIES,
        Finding,
        fingerprint,
        suppressed_by,
    )
    from graphtrail.queries.findings.config import Config
    from graphtrail.queries.library import FINDINGS_IN_CYPHER

    config = config or Config()
    today = today or dt.datetime.now(dt.UTC).date()
    wanted = [server_side(f"finding:{r}") and r for r in rules] if rules else list(FINDINGS_IN_CYPHER)
    cutoff = SEVERITIES.index(min_severity) if min_severity else len(SEVERITIES)
    out = []
    for rule_id in [r for r in RULES if r in wanted]:
        r = RULES[rule_id]
        hits = _run(server, f"finding:{rule_id}", {"since": since, "until": until})
        actors = sorted({a for h in hits for a in sorted(set(h["actors"]))[:5]})
        paths = lineage_paths_on_server(server, actors) if actors else {}
        for h in hits:
            lineage = [paths[a] for a in sorted(set(h["actors"]))[:5]]
            severity = config.severities.get(rule_id) or h["severity"] or r.severity
            if SEVERITIES.index(severity) > cutoff:
                continue
            accounts = sorted(set(h["accounts"]))
            f = Finding(rule_id=rule_id, title=r.title, severity=severity, tactic=r.tactic,
                        technique=r.technique, technique_name=r.technique_name, summary=h["summary"],
                        event_ids=list(dict.fromkeys(h["event_ids"])), actors=sorted(set(h["actors"])),
                        lineage=lineage, accounts=accounts, first_seen=ids.iso(h["first_us"]),
                        last_seen=ids.iso(h["last_us"]), count=h["count"],
                        fingerprint=fingerprint(rule_id, sorted({p[0] for p in lineage if p}), accounts,
                                                tuple(h["key"])), why={})
            f.suppressed = suppressed_by(f, config, today)
            out.append(f)
    out.sort(key=lambda f: (SEVERITIES.index(f.severity), f.first_seen or "", f.rule_id))
    return out


def lineage_paths_on_server(server, actors: list[str]) -> dict[str, list[str]]:
    """``cypher/lineage_path.cypher``: credential -> origin principal first, then each credential."""
    return {r["actor"]: list(r["path"]) for r in server.run(cypher.load("lineage_path"), {"actors": actors})}


def _set(values) -> list:
    return sorted({v for v in values if v})


def _seconds(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _events(rows: list[dict]) -> list[dict]:
    """One row per eventID, the earliest first (the rows come unordered from the server)."""
    out, seen = [], set()
    for r in sorted(rows, key=lambda r: (r["time_us"] is None, r["time_us"] or 0, r["event_id"] or "",
                                         r["occurrence"])):
        if r["event_id"] in seen:
            continue
        seen.add(r["event_id"])
        out.append({"time": ids.iso(r["time_us"]), **{k: r[k] for k in (
            "event_name", "account", "region", "source_ip", "credential", "access_key_id",
            "error_code", "event_id")}})
    return out


def _console(c: dict) -> dict:
    return {"session": c["session"], "principal": c["principal"], "session_name": c["session_name"],
            "created": ids.iso(c["created_us"]), "mfa": c["mfa"], "opened_by": list(c["opened_by"]),
            "access_key_ids": list(c["access_key_ids"]), "replayed": bool(c["replayed"]),
            "sides": json.loads(c["sides"]) if isinstance(c["sides"], str) and c["sides"] else (c["sides"] or [])}
