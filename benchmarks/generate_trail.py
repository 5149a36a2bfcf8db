"""Write a synthetic organization trail for benchmarks.

    python benchmarks/generate_trail.py OUT_DIR --events 1000000 --seed 0

The files land under ``OUT_DIR/AWSLogs/<org-id>/`` in the S3 delivery layout, gzipped, with
hourly CloudTrail-Digest files beside them; a summary is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from graphtrail.synth.trails import DEFAULT_ORG_ID, write_trail

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, write the trail and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="directory to write AWSLogs/ into")
    parser.add_argument("--events", type=int, default=1_000_000, help="records to write")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--records-per-file", type=int, default=1000)
    parser.add_argument("--org-id", default=DEFAULT_ORG_ID)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    args = parser.parse_args(argv)
    stats = write_trail(
        args.out_dir,
        args.events,
        seed=args.seed,
        records_per_file=args.records_per_file,
        org_id=args.org_id,
        workers=args.workers,
    )
    print(json.dumps(asdict(stats), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
