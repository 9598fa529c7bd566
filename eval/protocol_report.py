"""The protocol part of the revisit reports: headline figures, their tables, the drift plot and the notes.

:func:`headline` condenses a results dict (``config.protocol`` one of :data:`eval.protocols.PROTOCOLS`) into
the figures the protocol is judged by (``results["headline"]``): for recall and cycle the same-pose PSNR of
``full`` against ``working_only`` per scene (mean over the scene's paths), their mean, the gain and the number
of scenes where full is worse; for cycle the same-pose and ground-truth PSNR at each horizon; for every
protocol the drift at frames 4 and 40 and the sharpness, per variant. :func:`sections` renders them (and the
protocol's notes) as ``(title, markdown, html)`` report sections; :func:`format_headline` as terminal text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

from eval.protocols import CYCLE_HORIZONS, DRIFT_FRAMES, DRIFT_TOLERANCE, HORIZON_WINDOW
from eval.table import Column, Table, metric_table
from worldmem.metrics import finite_mean

__all__ = ["DRIFT_PLOT_NAME", "VIDEO_PANELS", "AWAY_FACTOR", "headline", "protocol_columns", "variant_table",
           "gain_table", "sections", "format_headline", "plot_drift"]

DRIFT_PLOT_NAME = "drift_curve.png"
VIDEO_PANELS = ("ground truth", "full", "working_only", "memory render (full)", "oracle")
AWAY_FACTOR = 3
"""An excursion must stay away from the revisited view for at least AWAY_FACTOR x the working window."""


def _fmt(x, spec="{:.2f}") -> str:
    return "n/a" if x is None else spec.format(x)


def protocol_columns(protocol: str) -> list[Column]:
    """The protocol table's columns: PSNRs in dB (2 decimals, largest best), the sharpness ratio (3 decimals,
    nearest 1 best)."""
    cols: list[Column] = []
    if protocol == "recall":
        cols += [Column("same_pose_psnr", "same-pose PSNR (dB)"),
                 Column("return_psnr_covered", "return vs GT, covered (dB)")]
    if protocol == "cycle":
        for h in CYCLE_HORIZONS:
            cols += [Column(f"same_pose_psnr_at_{h}", f"same-pose @{h} (dB)"),
                     Column(f"gt_psnr_at_{h}", f"vs GT @{h} (dB)")]
    cols += [Column(f"drift_at_{f}", f"drift @{f} (dB)") for f in DRIFT_FRAMES]
    return cols + [Column("sharpness", "sharpness", "{:.3f}", "one")]


def headline(results: Mapping) -> dict:
    """The protocol's headline figures (module doc); ``results`` with ``summary`` filled in."""
    protocol, summary = results["config"]["protocol"], results["summary"]
    out: dict = {"protocol": protocol,
                 "table": {v: {c.key: row.get(c.key) for c in protocol_columns(protocol)} for v, row in summary.items()}}
    if protocol == "given-half":
        return out
    scenes: dict[str, list[Mapping]] = {}
    for s in results["scenes"]:
        scenes.setdefault(str(s["scene"]), []).append(s)
    rows = []
    for scene, entries in scenes.items():
        full = finite_mean(e["variants"].get("full", {}).get("same_pose_psnr") for e in entries)
        work = finite_mean(e["variants"].get("working_only", {}).get("same_pose_psnr") for e in entries)
        gain = None if full is None or work is None else full - work
        rows.append({"scene": scene, "paths": len(entries), "full": full, "working_only": work, "gain": gain})
    gains = [r["gain"] for r in rows if r["gain"] is not None]
    out["same_pose"] = {
        "per_scene": rows,
        "mean": {k: finite_mean(r[k] for r in rows) for k in ("full", "working_only", "gain")},
        "scenes_full_worse": sum(g < 0 for g in gains), "scenes_compared": len(gains),
    }
    return out


# ---------------------------------------------------------------------------------------------- rendering
def variant_table(results: Mapping) -> Table:
    """The headline table: one row per variant, the :func:`protocol_columns`, the best in bold."""
    return metric_table("variant", results["headline"]["table"], protocol_columns(results["config"]["protocol"]))


def gain_table(results: Mapping) -> Table | None:
    """Same-pose PSNR of full and working_only per scene, their gain, and the means (None for given-half)."""
    same = results["headline"].get("same_pose")
    if same is None:
        return None
    rows = [[str(r["scene"]), str(r["paths"]), _fmt(r["full"]), _fmt(r["working_only"]), _fmt(r["gain"], "{:+.2f}")]
            for r in same["per_scene"]]
    m = same["mean"]
    rows.append(["mean", "", _fmt(m["full"]), _fmt(m["working_only"]), _fmt(m["gain"], "{:+.2f}")])
    return Table(["scene", "paths", "full (dB)", "working_only (dB)", "gain (dB)"], rows)


def _worse_line(results: Mapping) -> str | None:
    same = results["headline"].get("same_pose")
    if same is None:
        return None
    return (f"full memory is worse than working_only on same-pose PSNR in {same['scenes_full_worse']} of "
            f"{same['scenes_compared']} scenes")


def format_headline(results: Mapping) -> str:
    """The headline as terminal text: the protocol table, then (recall, cycle) the per-scene gain table."""
    protocol = results["config"]["protocol"]
    parts = [f"protocol {protocol} (means over scenes and paths):", variant_table(results).text()]
    gain = gain_table(results)
    if gain is not None:
        parts += ["", "same-pose PSNR per scene:", gain.text(), _worse_line(results)]
    return "\n".join(parts)


def _notes(results: Mapping) -> list[tuple[str, list[str]]]:
    cfg, ref = results["config"], results.get("reference", {})
    protocol = cfg["protocol"]
    given = {"recall": f"the first {cfg['context_rule']} of each retracing path (frame T-1-i has frame i's camera)",
             "cycle": f"the first {cfg['context_rule']} of each retracing path of {cfg['num_frames']} frames",
             "given-half": f"the first {cfg['context_rule']} of each path"}[protocol]
    notes = [f"Protocol {protocol}. Given frames: {given} (ground truth, fused into the memory); the rest is "
             "generated along the ground-truth cameras. PSNR/SSIM per frame are null on the given frames."]
    if protocol != "given-half":
        notes += [f"Same-pose PSNR: frame i (way out) against frame T-1-i (way back) of the same video, for every "
                  f"i >= C with a gap T-1-2i >= {cfg['min_gap']} frames (> working window {cfg['working_window']} "
                  f"+ chunk {cfg['chunk_size']}): both generated, neither given.",
                  f"Return vs GT, covered: PSNR against the ground truth on the return-half frames of which a given "
                  f"frame sees >= {cfg['min_covisibility']} (covisibility)."]
    if protocol == "cycle":
        notes.append(f"Horizons {', '.join(map(str, CYCLE_HORIZONS))}: the pairs whose gap j - i is within "
                     f"{HORIZON_WINDOW} frames of the horizon; same-pose PSNR and the return frame vs the ground truth.")
    notes += [f"Drift: PSNR vs the ground truth on generated frames a given frame covers (covisibility >= "
              f"{cfg['min_covisibility']}); @f is read at the nearest covered frame within {DRIFT_TOLERANCE} frames of f, "
              "else n/a. "
              "Sharpness: mean image-gradient magnitude of the generated frames over the ground truth's (1 = as sharp).",
              f"Revisit frames (ablation table): find_revisits on ground-truth depth and cameras, covisibility >= "
              f"{cfg['min_covisibility']}, min_gap {cfg['min_gap']} frames; only generated revisit frames are scored. "
              "PSNR vs 1st visit: the first-visit frame warped into the revisit view with ground-truth depth.",
              f"oracle: the spatial memory rendered from ground truth (every ground-truth frame before the chunk), "
              f"uncovered pixels filled with {cfg['oracle_fill']}; its depth AbsRel counts covered pixels only.",
              f"Videos: {' | '.join(VIDEO_PANELS)}."]
    reference = [f"Ground truth warp PSNR (the camera-following ceiling): {_fmt(ref.get('warp_psnr'))} dB",
                 f"Ground truth PSNR vs 1st visit (same pairs): {_fmt(ref.get('revisit_psnr_vs_first_visit'))} dB"]
    if protocol != "given-half":
        reference.append(f"Ground truth same-pose PSNR (100 dB on static scenes; lower where things move): "
                         f"{_fmt(ref.get('same_pose_psnr'))} dB")
    aways = [s["away_frames"] for s in results["scenes"] if s["trajectory"] == "excursion" and s["away_frames"] is not None]
    if any(s["trajectory"] == "excursion" for s in results["scenes"]):
        reference.append(f"Excursions stay away {min(aways) if aways else 'n/a'} frames at least before returning "
                         f"(required: {AWAY_FACTOR} x working window = {AWAY_FACTOR * cfg['working_window']}).")
    return [("Protocol", notes), ("Reference", reference)]


def sections(results: Mapping, plot_note: str | None) -> tuple[list, list]:
    """``(before, after)`` report sections ``(title, markdown, html)`` for :func:`eval.report.write_report`."""
    e = html.escape
    protocol = results["config"]["protocol"]
    variants = variant_table(results)
    md, page = [variants.markdown()], [variants.html()]
    gain = gain_table(results)
    if gain is not None:
        md += ["", "Same-pose PSNR per scene (mean over its paths):", "", gain.markdown(), "", _worse_line(results)]
        page += ["<p>Same-pose PSNR per scene (mean over its paths):</p>", gain.html(),
                 f"<p>{e(_worse_line(results))}</p>"]
    plot_md = plot_note or f"![drift curve]({DRIFT_PLOT_NAME})"
    plot_html = f"<p>{e(plot_note)}</p>" if plot_note else f'<img src="{DRIFT_PLOT_NAME}" alt="drift curve">'
    before = [(f"Headline: protocol {protocol} (means over scenes; best in bold)", "\n".join(md), "\n".join(page)),
              ("Drift (PSNR vs ground truth on frames the given frames cover)", plot_md, plot_html)]
    after = [(title, "\n".join(f"- {x}" for x in lines), "<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>")
             for title, lines in _notes(results)]
    return before, after


def plot_drift(results: Mapping, out_dir: Path) -> tuple[Path | None, str | None]:
    """Draws ``drift_curve.png`` (per variant, one panel per path): ``(path, None)`` or ``(None, why not)``."""
    from eval.report import plot_psnr_per_frame

    try:
        return plot_psnr_per_frame(results, Path(out_dir) / DRIFT_PLOT_NAME, key="drift_curve",
                                   ylabel="PSNR vs GT, covered frames (dB)"), None
    except ImportError as err:
        return None, f"(plot not drawn: {err})"
