"""Blast radius and chains for every identity type, next to an IAM access key, in one case.

Usage::

    python benchmarks/bench_identities.py [--noise-sessions 20000] [--repeat 5] [--json out.json]

Writes the identity-type trail (:mod:`graphtrail.synth.identities`) with ``--noise-sessions``
unrelated role sessions around it, ingests it, and times, warm (the case opened once, as an
investigator asks question after question), the median of ``--repeat`` runs of:

* blast radius of each lineage's seed (a console key, an Identity Center key, a Lambda,
  EKS, EC2 or GitHub session key, an Okta SAML key, an IAM key that minted a federation
  token), and of the IAM access key with the most sessions in the case (the baseline);
* the chains starting at each lineage's origin (``chains --from``), and every chain.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphtrail.queries.blast_radius import blast_radius  # noqa: E402
from graphtrail.queries.chains import chains  # noqa: E402
from graphtrail.queries.seeds import parse_time_bound  # noqa: E402
from graphtrail.store.memory import MemoryStore  # noqa: E402
from graphtrail.synth.identities import build_identities  # noqa: E402


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise-sessions", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from graphtrail.cli.ingest import finish_ingest, run_ingest
    from graphtrail.store.case import Case
    from loaders.sources.files import list_files

    with tempfile.TemporaryDirectory() as tmp:
        truth = build_identities(Path(tmp) / "logs", seed=1, noise_sessions=args.noise_sessions)
        case = Case.open(Path(tmp) / "case", create=True)
        t0 = time.perf_counter()
        finish_ingest(case, run_ingest(list(list_files([str(Path(tmp) / "logs")])), case, workers=0))
        ingest_s = time.perf_counter() - t0
        store = MemoryStore(Case.open(Path(tmp) / "case"))
        chains(store)  # warm: the lineage graph and sessions are loaded once per case
        rows = []
        keys = {}
        for s in store.session_info.values():
            if (s["issuer"] or "").startswith("key:"):
                keys[s["issuer"]] = keys.get(s["issuer"], 0) + 1
        busiest = max(keys, key=keys.get)[4:]
        seeds = [("IAM access key (baseline)", busiest, None, None, None)]
        seeds += [(name, lin.seed, lin.since, lin.until, lin.origin)
                  for name, lin in truth.lineages.items()]
        for name, seed, since, until, origin in seeds:
            lo, hi = parse_time_bound(since), parse_time_bound(until)
            br_s, br = _median(lambda s=seed, a=lo, b=hi: blast_radius(store, s, since=a, until=b), args.repeat)
            row = {"lineage": name, "seed": seed, "blast_radius_ms": round(br_s * 1000, 1),
                   "events": len(br.event_ids), "sessions": len(br.sessions)}
            who = origin or (busiest if name.startswith("IAM") else None)
            if who:
                ch_s, found = _median(lambda o=who: chains(store, origin=o), args.repeat)
                row.update({"chains_ms": round(ch_s * 1000, 1), "chains": len(found)})
            rows.append(row)
        all_s, every = _median(lambda: chains(store), args.repeat)
        out = {"records": truth.record_count, "sessions": len(store.session_info),
               "ingest_s": round(ingest_s, 1), "every_chain_ms": round(all_s * 1000, 1),
               "chains": len(every), "questions": rows}
    for r in rows:
        print(f"{r['lineage']:<28} blast radius {r['blast_radius_ms']:>7.1f} ms ({r['events']:>5} events)"
              + (f"   chains --from {r['chains_ms']:>7.1f} ms" if "chains_ms" in r else ""))
    print(f"every chain ({out['chains']}): {out['every_chain_ms']} ms; {out['records']:,} records, "
          f"{out['sessions']:,} sessions, ingest {out['ingest_s']} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
