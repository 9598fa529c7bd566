"""Revisit-benchmark reports: ``results.json`` in, ``report.md``, ``report.html`` and ``psnr_per_frame.png`` out.

The ``results`` dict (what ``python -m eval revisit`` writes to ``results.json``; also in docs/evaluation.md)::

    {
      "config": {...},                      # the run's settings (checkpoint, seeds, X, G, ...), shown verbatim
      "scenes": [                           # one entry per (scene, trajectory) rollout
        {
          "scene": "synthetic:1000",        # scene id (str or int)
          "trajectory": "out-and-back",     # trajectory name
          "num_frames": 48,                 # optional; default: len(psnr_per_frame) of the first variant
          "revisit_frames": [30, 31, ...],  # frame indices found by eval.revisit_detect.find_revisits
          "video": "videos/x.mp4",          # optional, relative to the report folder: linked from the report
          "variants": {
            "full": {                       # variant name -> metrics of that variant's rollout
              "psnr_per_frame": [...],      # (T,) PSNR (dB) vs ground truth, every frame
              "ssim_per_frame": [...],      # (T,) SSIM vs ground truth, every frame
              "revisit_psnr": 24.1,         # mean PSNR over the revisit frames, vs ground truth
              "revisit_ssim": 0.81,         # mean SSIM over the revisit frames, vs ground truth
              "revisit_psnr_vs_first_visit": 26.0,  # mean PSNR of revisit frames vs the frames this variant
                                                    # generated at the first visit (Revisit.earlier_frame)
              "lpips": 0.12,                # mean LPIPS over the revisit frames vs ground truth, or null
              "depth_abs_rel": 0.08,        # mean AbsRel of the generated depth, every frame
              "warp_psnr": 27.5             # mean warp_consistency (dB) over consecutive pairs
            }, ...
          }
        }, ...
      ],
      "summary": {"full": {"revisit_psnr": 24.1, ..., "psnr": 22.0, "ssim": 0.7}, ...},  # see summarize()
      "lpips": {"available": false, "reason": "no AlexNet weights given ..."}
    }

A protocol (:mod:`eval.protocols`) adds keys to each scene and variant (``same_pose_psnr``, ``drift_curve``,
``sharpness``, ...; docs/evaluation.md), and ``python -m eval revisit`` a ``headline``; :func:`summarize` averages
every scalar variant key. A metric that could not be computed (no revisit frame, LPIPS absent, NaN) is ``null``.
``summary`` holds, per variant, the mean over scenes of every scalar metric above (nulls skipped) plus
``psnr`` and ``ssim``, the mean over scenes of the per-frame curves' means; :func:`summarize` computes it and
:func:`write_report` fills it in when it is missing. :func:`save_results` writes the dict as strict json
(NaN and inf become null).

Every table (the ablation table, the scenes, and :mod:`eval.protocol_report`'s) is an :class:`eval.table.Table`,
one renderer for the terminal's text, ``report.md`` and ``report.html``.

The plot has one panel per trajectory: per variant, the per-frame PSNR averaged over that trajectory's scenes
(:func:`eval.metrics.drift_curve`), with the frames that are revisits in at least half of those scenes shaded.
matplotlib (the ``viz`` extra) is imported only to draw it; without it the reports are written with a note in
place of the plot and a warning.
"""

from __future__ import annotations

import html
import json
import math
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from eval.metrics import drift_curve
from eval.revisit_detect import revisit_mask, revisit_segments
from eval.table import Column, Link, Table, metric_table
from worldmem.metrics import finite_mean
from worldmem.utils.io import atomic_write

__all__ = ["TABLE_COLUMNS", "SCALAR_METRICS", "check_results", "summarize", "save_results", "write_report",
           "plot_psnr_per_frame", "ablation_table", "scenes_table", "format_summary_table", "print_summary_table"]

# Per-variant scalar metrics of a scene, in table order.
SCALAR_METRICS = ("revisit_psnr", "revisit_ssim", "revisit_psnr_vs_first_visit", "lpips", "depth_abs_rel", "warp_psnr")
# The ablation table's columns (summary key, title, number format, which value is best).
TABLE_COLUMNS = (
    Column("revisit_psnr", "revisit PSNR (dB)", "{:.2f}", "max"),
    Column("revisit_ssim", "revisit SSIM", "{:.4f}", "max"),
    Column("revisit_psnr_vs_first_visit", "revisit PSNR vs 1st visit (dB)", "{:.2f}", "max"),
    Column("lpips", "revisit LPIPS", "{:.4f}", "min"),
    Column("depth_abs_rel", "depth AbsRel", "{:.4f}", "min"),
    Column("warp_psnr", "warp PSNR (dB)", "{:.2f}", "max"),
    Column("psnr", "overall PSNR (dB)", "{:.2f}", "max"),
)
PLOT_NAME = "psnr_per_frame.png"


def check_results(results: Mapping) -> None:
    """Raises a one-line ValueError naming the first missing or malformed part of a results dict."""
    if not isinstance(results, Mapping):
        raise ValueError(f"results: expected a dict, got {type(results).__name__}")
    scenes = results.get("scenes")
    if not isinstance(scenes, list) or not scenes:
        raise ValueError("results['scenes']: expected a non-empty list of scene entries")
    for k, scene in enumerate(scenes):
        where = f"results['scenes'][{k}]"
        if not isinstance(scene, Mapping):
            raise ValueError(f"{where}: expected a dict")
        for key in ("scene", "trajectory", "revisit_frames", "variants"):
            if key not in scene:
                raise ValueError(f"{where}: missing key {key!r}")
        if not isinstance(scene["variants"], Mapping) or not scene["variants"]:
            raise ValueError(f"{where}['variants']: expected a non-empty dict of variant name -> metrics")
        for name, metrics in scene["variants"].items():
            if not isinstance(metrics, Mapping):
                raise ValueError(f"{where}['variants'][{name!r}]: expected a dict of metrics")
            for key in ("psnr_per_frame", "ssim_per_frame", *SCALAR_METRICS):
                if key not in metrics:
                    raise ValueError(f"{where}['variants'][{name!r}]: missing key {key!r}")
    lp = results.get("lpips")
    if lp is not None and (not isinstance(lp, Mapping) or "available" not in lp or "reason" not in lp):
        raise ValueError("results['lpips']: expected {'available': bool, 'reason': str}")


def _variant_names(results: Mapping) -> list[str]:
    names: list[str] = []
    for scene in results["scenes"]:
        for name in scene["variants"]:
            if name not in names:
                names.append(name)
    return names


def _is_scalar(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def summarize(results: Mapping) -> dict[str, dict[str, float | None]]:
    """Per variant: the mean over scenes of each scalar metric (:data:`SCALAR_METRICS`, then any other number a
    protocol adds, e.g. ``same_pose_psnr``), plus ``psnr``/``ssim`` (means of per-frame curves)."""
    check_results(results)
    out: dict[str, dict[str, float | None]] = {}
    for name in _variant_names(results):
        entries = [s["variants"][name] for s in results["scenes"] if name in s["variants"]]
        keys = list(SCALAR_METRICS)
        for e in entries:
            keys += [k for k, v in e.items() if k not in keys and _is_scalar(v)]
        row = {key: finite_mean(e.get(key) for e in entries) for key in keys}
        row["psnr"] = finite_mean(finite_mean(e["psnr_per_frame"]) for e in entries)
        row["ssim"] = finite_mean(finite_mean(e["ssim_per_frame"]) for e in entries)
        out[name] = row
    return out


def _jsonable(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist"):  # tensors and numpy values
        return _jsonable(x.tolist())
    return x


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def save_results(results: Mapping, path: str | Path) -> Path:
    """Writes ``results`` as strict json (NaN/inf -> null, tensors -> lists), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(_jsonable(results), indent=2, allow_nan=False) + "\n")
    return path


# ---------------------------------------------------------------------------------------------- tables
def ablation_table(summary: Mapping) -> Table:
    """The ablation table: one row per variant of ``summary``, the :data:`TABLE_COLUMNS`, the best in bold."""
    return metric_table("variant", summary, TABLE_COLUMNS)


def scenes_table(results: Mapping) -> Table:
    """One row per rollout: scene, trajectory, frames, number of revisit frames and a link to its video."""
    rows = [[str(s["scene"]), str(s["trajectory"]), str(_num_frames(s)), str(len(s["revisit_frames"])),
             Link("mp4", str(s["video"])) if s.get("video") else ""] for s in results["scenes"]]
    return Table(["scene", "trajectory", "frames", "revisit frames", "video"], rows)


def format_summary_table(results: Mapping) -> str:
    """The ablation table as fixed-width text (rows = variants)."""
    return ablation_table(results.get("summary") or summarize(results)).text()


def print_summary_table(results: Mapping, file: TextIO | None = None) -> None:
    """Prints the ablation table (and the LPIPS status when LPIPS is absent)."""
    out = file or sys.stdout
    print(format_summary_table(results), file=out)
    lp = results.get("lpips")
    if lp is not None and not lp.get("available"):
        print(f"LPIPS: not computed: {lp.get('reason')}", file=out)


# ---------------------------------------------------------------------------------------------- plot
def _num_frames(scene: Mapping) -> int:
    if scene.get("num_frames") is not None:
        return int(scene["num_frames"])
    return max(len(v["psnr_per_frame"]) for v in scene["variants"].values())


def pyplot(figure: str):
    """``matplotlib.pyplot`` on the file-only Agg backend; an ImportError with the install hint naming
    ``figure`` when matplotlib (the ``viz`` extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(f"{figure} needs matplotlib: pip install -e '.[viz]'") from err
    return plt


def plot_psnr_per_frame(results: Mapping, path: str | Path, key: str = "psnr_per_frame",
                        ylabel: str = "PSNR vs ground truth (dB)") -> Path:
    """Draws per-frame PSNR per variant, one panel per trajectory, revisit segments shaded (see module doc).

    ``key``: the per-frame curve of each variant drawn (``drift_curve``: the drift curve, with markers, since
    it is null off the covered frames).

    Raises:
        ImportError with the install hint when matplotlib is missing.
    """
    plt = pyplot("the PSNR plot")
    check_results(results)
    trajectories: dict[str, list[Mapping]] = {}
    for scene in results["scenes"]:
        trajectories.setdefault(str(scene["trajectory"]), []).append(scene)
    names = _variant_names(results)
    fig, axes = plt.subplots(len(trajectories), 1, figsize=(9, 3.2 * len(trajectories)), squeeze=False)
    for ax, (traj, scenes) in zip(axes[:, 0], trajectories.items(), strict=True):
        length = max(_num_frames(s) for s in scenes)
        votes = [0] * length
        for s in scenes:
            for t, on in enumerate(revisit_mask(s["revisit_frames"], _num_frames(s)).tolist()):
                votes[t] += int(on)
        shaded = [2 * v >= len(scenes) and v > 0 for v in votes]
        for k, (start, end) in enumerate(revisit_segments(shaded)):
            ax.axvspan(start - 0.5, end - 0.5, color="0.85", zorder=0, label="revisit frames" if k == 0 else None)
        for name in names:
            curves = [s["variants"][name][key] for s in scenes if key in s["variants"].get(name, {})]
            if curves:
                ax.plot(drift_curve(curves).tolist(), label=name, linewidth=1.5,
                        marker="." if key != "psnr_per_frame" else None)
        ax.set_title(f"{traj} ({len(scenes)} scene{'s' if len(scenes) != 1 else ''})")
        ax.set_xlabel("frame")
        ax.set_ylabel(ylabel)
        ax.set_xlim(-0.5, length - 0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------- reports
def _lpips_line(results: Mapping) -> str:
    lp = results.get("lpips")
    if lp is None:
        return "LPIPS: status not recorded."
    return f"LPIPS: computed ({lp.get('reason')})." if lp.get("available") else f"LPIPS: not computed: {lp.get('reason')}"


def _markdown(results: Mapping, summary: Mapping, plot_note: str | None, before=(), after=()) -> str:
    lines = ["# Revisit-consistency report", ""]
    for title, md, _ in before:
        lines += [f"## {title}", "", md, ""]
    lines += ["## Ablation (means over scenes; best in bold)", "", ablation_table(summary).markdown()]
    lines += ["", _lpips_line(results), "", "## PSNR per frame (revisit frames shaded)", ""]
    lines.append(plot_note if plot_note else f"![per-frame PSNR]({PLOT_NAME})")
    lines += ["", "## Scenes", "", scenes_table(results).markdown()]
    lines += ["", "## Config", "", "```json", json.dumps(_jsonable(results.get("config", {})), indent=2), "```", ""]
    for title, md, _ in after:
        lines += [f"## {title}", "", md, ""]
    return "\n".join(lines)


def _html(results: Mapping, summary: Mapping, plot_note: str | None, before=(), after=()) -> str:
    e = html.escape
    plot = f"<p>{e(plot_note)}</p>" if plot_note else f'<img src="{PLOT_NAME}" alt="per-frame PSNR">'
    config = e(json.dumps(_jsonable(results.get("config", {})), indent=2))
    top, end = ("".join(f"<h2>{e(title)}</h2>\n{part}\n" for title, _, part in sections) for sections in (before, after))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Revisit-consistency report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child,th:first-child{{text-align:left}}
img{{max-width:100%}}</style></head>
<body>
<h1>Revisit-consistency report</h1>
{top}<h2>Ablation (means over scenes; best in bold)</h2>
{ablation_table(summary).html()}
<p>{e(_lpips_line(results))}</p>
<h2>PSNR per frame (revisit frames shaded)</h2>
{plot}
<h2>Scenes</h2>
{scenes_table(results).html()}
<h2>Config</h2>
<pre>{config}</pre>
{end}</body></html>
"""


def write_report(results: Mapping, out_dir: str | Path, before=(), after=()) -> dict[str, Path | None]:
    """Writes ``report.md``, ``report.html`` and ``psnr_per_frame.png`` into ``out_dir``.

    Args:
        results: the results dict (schema in the module docstring); ``summary`` is computed when missing.
        out_dir: the report folder (created); video paths in ``results`` are relative to it.
        before, after: extra sections ``(title, markdown, html)`` above the ablation table and at the end.

    Returns:
        ``{"markdown": path, "html": path, "plot": path or None}`` (None when matplotlib is missing).
    """
    check_results(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = results.get("summary") or summarize(results)
    plot_path: Path | None
    plot_note = None
    try:
        plot_path = plot_psnr_per_frame(results, out / PLOT_NAME)
    except ImportError as err:
        plot_path, plot_note = None, f"(plot not drawn: {err})"
        warnings.warn(str(err), stacklevel=2)
    md, page = out / "report.md", out / "report.html"
    _write_atomic(md, _markdown(results, summary, plot_note, before, after))
    _write_atomic(page, _html(results, summary, plot_note, before, after))
    return {"markdown": md, "html": page, "plot": plot_path}
