"""``python -m tests.robustness.sweep [-v]``: runs the robustness table and prints its counts.

Prints ``tried N, one-line N, vague N, traceback N, silent N, partial N``, then one line per case that is not
``one-line`` (``-v``: every case with its message). Exit status 1 when any case is not ``one-line``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from tests.robustness.table import counts, sweep

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="robustness.") as base:
        results = sweep(Path(base))
    for case, outcome, detail in results:
        if outcome != "one-line" or "-v" in argv:
            print(f"{outcome:9s} {case.entry}: {case.name}: {detail}")
    c = counts(results)
    print(", ".join(f"{k} {v}" for k, v in c.items()) + f" ({time.perf_counter() - t0:.0f} s)")
    return 0 if c["one-line"] == c["tried"] else 1


if __name__ == "__main__":
    sys.exit(main())
