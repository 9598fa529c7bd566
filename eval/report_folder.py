"""A results dict made whole and written as a report folder: the one ending of ``eval revisit`` and ``eval score``.

:func:`complete` adds the summary (per-variant means), the ground truth's reference scores and the headline to a
results dict holding ``config``, ``scenes`` and ``lpips``; :func:`write_folder` writes ``results.json``, the drift
plot, the cycle figure (cycle reports) and ``report.md`` / ``report.html`` into a staging folder.
"""

from __future__ import annotations

from pathlib import Path

from eval import report
from eval.cycle_figure import cycle_section, plot_cycle
from eval.protocol_report import headline, plot_drift, sections
from worldmem.metrics import finite_mean

__all__ = ["complete", "write_folder"]

REFERENCE_KEYS = ("warp_psnr", "revisit_psnr_vs_first_visit", "same_pose_psnr")


def complete(results: dict) -> dict:
    """Adds ``summary``, ``reference`` and ``headline`` to ``results`` (in place); returns it."""
    results["summary"] = report.summarize(results)
    results["reference"] = {key: finite_mean(s["reference"].get(key) for s in results["scenes"])
                            for key in REFERENCE_KEYS}
    results["headline"] = headline(results)
    return results


def write_folder(results: dict, stage: Path) -> None:
    """``results.json``, the plots and the report pages in ``stage`` (a staging folder, renamed by the caller)."""
    report.save_results(results, stage / "results.json")
    _, plot_note = plot_drift(results, stage)
    before, after = sections(results, plot_note)
    cycle_plot, _ = plot_cycle(results, stage)
    if cycle_plot is not None:
        before.append(cycle_section(cycle_plot.name))
    report.write_report(results, stage, before, after)
