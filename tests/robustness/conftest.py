"""Prints the robustness table's counts at the end of a pytest run (``make test``), as the sweep prints them."""

from __future__ import annotations

from tests.robustness import runner


def pytest_terminal_summary(terminalreporter):
    results = runner.RECORDED
    if not results:
        return
    from tests.robustness.table import counts

    terminalreporter.section("robustness table (tests/robustness)")
    for group in runner.GROUPS:
        mine = [r for r in results if r[0].group == group]
        if mine:
            terminalreporter.write_line(f"{group:9s} " + ", ".join(f"{k} {v}" for k, v in counts(mine).items()))
    terminalreporter.write_line(f"{'all':9s} " + ", ".join(f"{k} {v}" for k, v in counts(results).items()))
