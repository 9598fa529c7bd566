"""The robustness table: every broken-input case over every entry point, shared by the test and the sweep.

:func:`sweep` runs each case in its own folder under ``base`` and returns ``[(case, outcome, detail)]``
(outcomes: :data:`~tests.robustness.runner.OUTCOMES`).
"""

from __future__ import annotations

from pathlib import Path

from tests.robustness import cases_api, cases_cli, cases_data, cases_outputs, cases_paths, cases_sizes
from tests.robustness.runner import OUTCOMES, Case, run_case

__all__ = ["CASES", "OUTCOMES", "sweep", "counts"]

CASES: list[Case] = (cases_cli.CASES + cases_api.CASES + cases_outputs.CASES + cases_paths.CASES
                     + cases_sizes.CASES + cases_data.CASES)


def sweep(base: Path, cases: list[Case] | None = None) -> list[tuple[Case, str, str]]:
    shared = base / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    return [(case, *run_case(case, base / f"case_{i:03d}", shared)) for i, case in enumerate(cases or CASES)]


def counts(results) -> dict[str, int]:
    out = {"tried": len(results)}
    out.update({o: sum(1 for _, outcome, _ in results if outcome == o) for o in OUTCOMES})
    return out
