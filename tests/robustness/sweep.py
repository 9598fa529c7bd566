"""``python -m tests.robustness.sweep [-v] [GROUP ...]``: runs the robustness table and prints its counts.

Prints ``tried N, clean N, vague N, traceback N, silent N, partial N, hang N, data loss N, escape N`` for the whole
table and one such line per group (:data:`~tests.robustness.runner.GROUPS`), then one line per case that is not
``clean`` (``-v``: every case with its message). ``GROUP ...`` runs only those groups. Exit status 1 when any case
is not ``clean``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def _line(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.items())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from tests.robustness.runner import GROUPS
    from tests.robustness.table import CASES, counts, sweep

    groups = [a for a in argv if not a.startswith("-")]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        print(f"python -m tests.robustness.sweep: error: unknown group {unknown[0]!r}, expected one of "
              f"{', '.join(GROUPS)}", file=sys.stderr)
        return 2
    cases = [c for c in CASES if not groups or c.group in groups]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="robustness.") as base:
        results = sweep(Path(base), cases)
    for case, outcome, detail in results:
        if outcome != "clean" or "-v" in argv:
            print(f"{outcome:9s} [{case.group}] {case.entry}: {case.name}: {detail}")
    for group in GROUPS:
        mine = [r for r in results if r[0].group == group]
        if mine:
            print(f"{group:9s} {_line(counts(mine))}")
    c = counts(results)
    print(f"{'all':9s} {_line(c)} ({time.perf_counter() - t0:.0f} s)")
    return 0 if c["clean"] == c["tried"] else 1


if __name__ == "__main__":
    sys.exit(main())
