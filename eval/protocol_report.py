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
import math
from collections.abc import Mapping
from pathlib import Path

from eval.protocols import CYCLE_HORIZONS, DRIFT_FRAMES, DRIFT_TOLERANCE, HORIZON_WINDOW

__all__ = ["DRIFT_PLOT_NAME", "VIDEO_PANELS", "AWAY_FACTOR", "headline", "protocol_columns", "sections",
           "format_headline", "plot_drift"]

DRIFT_PLOT_NAME = "drift_curve.png"
VIDEO_PANELS = ("ground truth", "full", "working_only", "memory render (full)", "oracle")
AWAY_FACTOR = 3
"""An excursion must stay away from the revisited view for at least AWAY_FACTOR x the working window."""


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _fmt(x, spec="{:.2f}") -> str:
    return "n/a" if x is None else spec.format(x)


def protocol_columns(protocol: str) -> list[tuple[str, str, str]]:
    """The protocol table's columns: (summary key, title, best rule: "max" or "one" = nearest 1)."""
    cols: list[tuple[str, str, str]] = []
    if protocol == "recall":
        cols += [("same_pose_psnr", "same-pose PSNR (dB)", "max"),
                 ("return_psnr_covered", "return vs GT, covered (dB)", "max")]
    if protocol == "cycle":
        for h in CYCLE_HORIZONS:
            cols += [(f"same_pose_psnr_at_{h}", f"same-pose @{h} (dB)", "max"),
                     (f"gt_psnr_at_{h}", f"vs GT @{h} (dB)", "max")]
    cols += [(f"drift_at_{f}", f"drift @{f} (dB)", "max") for f in DRIFT_FRAMES]
    return cols + [("sharpness", "sharpness", "one")]


def headline(results: Mapping) -> dict:
    """The protocol's headline figures (module doc); ``results`` with ``summary`` filled in."""
    protocol, summary = results["config"]["protocol"], results["summary"]
    out: dict = {"protocol": protocol,
                 "table": {v: {key: row.get(key) for key, _, _ in protocol_columns(protocol)} for v, row in summary.items()}}
    if protocol == "given-half":
        return out
    scenes: dict[str, list[Mapping]] = {}
    for s in results["scenes"]:
        scenes.setdefault(str(s["scene"]), []).append(s)
    rows = []
    for scene, entries in scenes.items():
        full = _mean(e["variants"].get("full", {}).get("same_pose_psnr") for e in entries)
        work = _mean(e["variants"].get("working_only", {}).get("same_pose_psnr") for e in entries)
        gain = None if full is None or work is None else full - work
        rows.append({"scene": scene, "paths": len(entries), "full": full, "working_only": work, "gain": gain})
    gains = [r["gain"] for r in rows if r["gain"] is not None]
    out["same_pose"] = {
        "per_scene": rows,
        "mean": {k: _mean(r[k] for r in rows) for k in ("full", "working_only", "gain")},
        "scenes_full_worse": sum(g < 0 for g in gains), "scenes_compared": len(gains),
    }
    return out


# ---------------------------------------------------------------------------------------------- rendering
def _variant_table(results: Mapping) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    protocol, table = results["config"]["protocol"], results["headline"]["table"]
    cols = protocol_columns(protocol)
    header = ["variant"] + [title for _, title, _ in cols]
    rows, bold = [], []
    best = {}
    for key, _, rule in cols:
        vals = [(v, row[key]) for v, row in table.items() if row.get(key) is not None]
        score = (lambda x: x) if rule == "max" else (lambda x: -abs(x - 1.0))
        best[key] = max(score(x) for _, x in vals) if len(vals) > 1 else None
    for v, row in table.items():
        rows.append([v] + [_fmt(row.get(key), "{:.3f}" if rule == "one" else "{:.2f}") for key, _, rule in cols])
        bold.append([False] + [row.get(key) is not None and best[key] is not None and
                               ((row[key] if rule == "max" else -abs(row[key] - 1.0)) == best[key])
                               for key, _, rule in cols])
    return header, rows, bold


def _gain_table(results: Mapping) -> tuple[list[str], list[list[str]]] | None:
    same = results["headline"].get("same_pose")
    if same is None:
        return None
    rows = [[r["scene"], str(r["paths"]), _fmt(r["full"]), _fmt(r["working_only"]), _fmt(r["gain"], "{:+.2f}")]
            for r in same["per_scene"]]
    m = same["mean"]
    rows.append(["mean", "", _fmt(m["full"]), _fmt(m["working_only"]), _fmt(m["gain"], "{:+.2f}")])
    return ["scene", "paths", "full (dB)", "working_only (dB)", "gain (dB)"], rows


def _md_table(header, rows, bold=None) -> str:
    cells = [[f"**{c}**" if bold and bold[k][n] else c for n, c in enumerate(r)] for k, r in enumerate(rows)]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in cells])


def _html_table(header, rows, bold=None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td><b>{e(c)}</b></td>" if bold and bold[k][n] else f"<td>{e(c)}</td>"
                                    for n, c in enumerate(r)) + "</tr>\n" for k, r in enumerate(rows))
    return f"<table><tr>{head}</tr>\n{body}</table>"


def _text_table(header, rows) -> str:
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(str(c).ljust(widths[k]) if k == 0 else str(c).rjust(widths[k]) for k, c in enumerate(r))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _worse_line(results: Mapping) -> str | None:
    same = results["headline"].get("same_pose")
    if same is None:
        return None
    return (f"full memory is worse than working_only on same-pose PSNR in {same['scenes_full_worse']} of "
            f"{same['scenes_compared']} scenes")


def format_headline(results: Mapping) -> str:
    """The headline as terminal text: the protocol table, then (recall, cycle) the per-scene gain table."""
    protocol = results["config"]["protocol"]
    header, rows, _ = _variant_table(results)
    parts = [f"protocol {protocol} (means over scenes and paths):", _text_table(header, rows)]
    gain = _gain_table(results)
    if gain is not None:
        parts += ["", "same-pose PSNR per scene:", _text_table(*gain), _worse_line(results)]
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
    header, rows, bold = _variant_table(results)
    md, page = [_md_table(header, rows, bold)], [_html_table(header, rows, bold)]
    gain = _gain_table(results)
    if gain is not None:
        md += ["", "Same-pose PSNR per scene (mean over its paths):", "", _md_table(*gain), "", _worse_line(results)]
        page += ["<p>Same-pose PSNR per scene (mean over its paths):</p>", _html_table(*gain),
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
