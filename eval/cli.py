"""``python -m eval``: benchmarks. Each benchmark prints medians and same-run ratios and writes a json."""

from __future__ import annotations

import argparse
from pathlib import Path

from eval.bench import BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="performance benchmarks (medians, same-run ratios)")
    bench.add_argument("name", help=f"one of: {', '.join(sorted(BENCHMARKS))}")
    bench.add_argument("--out", type=Path, default=None, help="json output (default outputs/bench/NAME.json)")
    bench.add_argument("--repeats", type=int, default=5, help="timed repetitions per measurement")
    bench.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    if args.name not in BENCHMARKS:
        parser.error(f"unknown benchmark {args.name!r}; expected one of: {', '.join(sorted(BENCHMARKS))}")
    if args.repeats < 1:
        parser.error("--repeats: expected an int >= 1")
    out = args.out or Path("outputs/bench") / f"{args.name}.json"
    BENCHMARKS[args.name](out=out, repeats=args.repeats, quick=args.quick)
    return 0
