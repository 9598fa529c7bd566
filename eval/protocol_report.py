"""The protocol part of the revisit reports: headline figures, their tables, the drift plot and the notes.

:func:`headline` condenses a results dict (``config.protocol`` one of :data:`eval.protocols.PROTOCOLS`) into
the figures the protocol is judged by (``results["headline"]``): for recall and cycle the same-pose PSNR of
``full`` against ``working_only`` per scene (mean over the scene's paths), their mean, the gain and the number
of scenes where full is worse (dynamic: the same, on every pixel); for cycle the same-pose and ground-truth
PSNR at each horizon; for offset each variant's reprojection PSNR, the ground truth's (the ceiling) and the
fraction of the ceiling-minus-working_only gap it closes (``offset_gap_closed``); for every
protocol the drift at frames 4 and 40 and the sharpness, per variant. :func:`sections` renders them (and the
protocol's notes) as ``(title, markdown, html)`` report sections; :func:`format_headline` as terminal text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

from eval.dynamic import GHOST_MIN_CHANGE
from eval.offset import OCCLUSION_REL_TOL, OFFSET_SHIFT, OFFSET_TURN_DEG, gap_closed
from eval.protocols import CYCLE_HORIZONS, DRIFT_FRAMES, DRIFT_TOLERANCE, HORIZON_WINDOW
from eval.ranking import MIN_MOTION, MIN_SHARPNESS, rank, rank_key
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
    if protocol == "offset":
        cols += [Column("offset_psnr", "offset reprojection (dB)"),
                 Column("offset_psnr_truth", "ground truth, same warp (dB)"),
                 Column("offset_gap_closed", "gap closed", "{:.3f}"),
                 Column("offset_psnr_own_depth", "own-depth reprojection (dB)"),
                 Column("return_psnr_covered", "return vs GT, covered (dB)")]
    if protocol == "dynamic":
        cols += [Column("static_same_pose_psnr", "static same-pose PSNR (dB)"),
                 Column("static_return_psnr", "static return vs GT (dB)"),
                 Column("ghost_rate", "ghost rate", "{:.3f}", "min")]
    cols += [Column(f"drift_at_{f}", f"drift @{f} (dB)") for f in DRIFT_FRAMES]
    return cols + [Column("sharpness", "sharpness", "{:.3f}", "one"), Column("motion", "motion", "{:.3f}", "one")]


def headline(results: Mapping) -> dict:
    """The protocol's headline figures (module doc); ``results`` with ``summary`` filled in."""
    protocol, summary = results["config"]["protocol"], results["summary"]
    no_memory = summary.get("working_only", {}).get("offset_psnr")
    out: dict = {"protocol": protocol,
                 "table": {v: {c.key: row.get(c.key) if c.key != "offset_gap_closed" else
                               gap_closed(row.get("offset_psnr"), no_memory, row.get("offset_psnr_truth"))
                               for c in protocol_columns(protocol)} for v, row in summary.items()}}
    out["ranking"] = [{"variant": v, "rank": k, "unranked": why} for v, k, why in rank(summary, protocol)]
    if protocol in ("given-half", "offset"):
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
    """The headline table: one row per variant in the order of the ranking rule (:mod:`eval.ranking`; its rank
    or why it is unranked in the first column), the :func:`protocol_columns`, the best in bold."""
    protocol, rows = results["config"]["protocol"], results["headline"]["table"]
    summary = results.get("summary") or rows
    order = rank({name: summary.get(name, row) for name, row in rows.items()}, protocol)
    table = metric_table("variant", {name: rows[name] for name, _, _ in order}, protocol_columns(protocol))
    table.header = ["rank", *table.header]
    table.rows = [[str(k) if k is not None else f"unranked: {why}", *row]
                  for (_, k, why), row in zip(order, table.rows, strict=True)]
    table.bold = [[False, *b] for b in table.bold] if table.bold else None
    return table


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
             "offset": f"the first {cfg['context_rule']} of each retracing path whose way back is shifted "
                       f"{OFFSET_SHIFT} scene units sideways and turned {OFFSET_TURN_DEG:g} degrees",
             "dynamic": f"the first {cfg['context_rule']} of each retracing path, in scenes whose objects move",
             "cycle": f"the first {cfg['context_rule']} of each retracing path of {cfg['num_frames']} frames",
             "given-half": f"the first {cfg['context_rule']} of each path"}[protocol]
    notes = [f"Protocol {protocol}. Given frames: {given} (ground truth, fused into the memory); the rest is "
             "generated along the ground-truth cameras. PSNR/SSIM per frame are null on the given frames."]
    if protocol == "offset":
        notes += [f"Offset reprojection: each generated return frame j against the generated outward frame i that "
                  f"sees most of it with j - i >= {cfg['min_gap']}, frame i warped into camera j through the true "
                  f"depth with an occlusion test ({OCCLUSION_REL_TOL:g} relative), PSNR on the valid pixels. Ground "
                  "truth, same warp: the ceiling at this resolution. Gap closed: (variant - working_only) / "
                  "(ceiling - working_only). Own depth: the same warp through the variant's own depth.",
                  f"Return vs GT, covered: PSNR against the ground truth on the return-half frames of which a given "
                  f"frame sees >= {cfg['min_covisibility']} (covisibility)."]
    if protocol == "dynamic":
        notes += [f"Static same-pose PSNR and static return vs GT: as recall's, on the pixels static in the truth "
                  f"at both times (moving pixels grown by one pixel). Ghost rate: of the pixels a mover left between "
                  f"frame i and frame T-1-i (gap >= {cfg['min_gap']}, truth change >= {GHOST_MIN_CHANGE:g}), the "
                  "fraction where the return frame is nearer the old truth than the new (0 = no ghost; a frozen "
                  "first visit scores 1)."]
    if protocol in ("recall", "cycle", "dynamic"):
        notes += [f"Same-pose PSNR: frame i (way out) against frame T-1-i (way back) of the same video, for every "
                  f"i >= C with a gap T-1-2i >= {cfg['min_gap']} frames"
                  + (f" (> working window {cfg['working_window']} + chunk {cfg['chunk_size']})"
                     if cfg.get("working_window") is not None and cfg.get("chunk_size") is not None else "")
                  + ": both generated, neither given.",
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
              f"Videos: {' | '.join(cfg.get('video_panels') or VIDEO_PANELS)}.",
              f"Ranking (eval/ranking.py): a variant is ranked by {rank_key(protocol)} only when its sharpness >= "
              f"{MIN_SHARPNESS} and its motion >= {MIN_MOTION} (mean absolute change between consecutive generated "
              "frames over the ground truth's); the others are listed unranked, with the gate they failed."]
    reference = [f"Ground truth warp PSNR (the camera-following ceiling): {_fmt(ref.get('warp_psnr'))} dB",
                 f"Ground truth PSNR vs 1st visit (same pairs): {_fmt(ref.get('revisit_psnr_vs_first_visit'))} dB"]
    if protocol in ("recall", "cycle", "dynamic"):
        reference.append(f"Ground truth same-pose PSNR (100 dB on static scenes; lower where things move): "
                         f"{_fmt(ref.get('same_pose_psnr'))} dB")
    aways = [s["away_frames"] for s in results["scenes"] if s["trajectory"] == "excursion" and s["away_frames"] is not None]
    if any(s["trajectory"] == "excursion" for s in results["scenes"]) and cfg.get("working_window") is not None:
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
