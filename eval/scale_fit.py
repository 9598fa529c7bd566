"""``python -m eval scale-fit``: how well the cameras fix a monocular depth estimator's scale and shift.

    python -m eval scale-fit --out docs/scale_fit.png [--start 1000000] [--clips 12] [--frames 24]

Held-out synthetic clips (seeds from ``--start``, at least 1,000,000: never trained on; the curation's own camera
paths, frames and exact depth, ``worldmem.data.readers.synthetic``) stand in for an RGB-only source. For each
clip, each kind of estimator output (``depth``, ``disparity``), each ``(a, b)`` in :data:`A_B` and each noise
level in :data:`NOISE`, the estimator's output is ``a * x + b`` (x the true depth, or inverse depth) times
``1 + noise * N(0, 1)`` per pixel (unknown pixels stay 0), and :func:`worldmem.data.depth_fit.fit_depth_affine`
fits it to the clip's cameras. The recovered ``a`` is ``1 / scale``; the depth error is the median relative
difference between the fitted map applied to the noise-free output and the true depth.

Writes the png (recovered vs true ``a``; the relative error of ``a`` and the depth error per noise level) and,
next to it with the suffix ``.json``, every fit and a summary per noise level. matplotlib is the ``viz`` extra.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from worldmem.data.config import CurationConfig
from worldmem.data.depth_fit import fit_depth_affine, triangulate_clip
from worldmem.data.readers.synthetic import EVAL_SEEDS, synthetic_clip
from worldmem.utils.cli_errors import UsageError
from worldmem.utils.io import atomic_write, atomic_write_json

__all__ = ["A_B", "NOISE", "scale_fit_rows", "summarise", "plot_scale_fit", "add_arguments", "run"]

PROG = "python -m eval scale-fit"
A_B = ((1.0, 0.0), (3.0, 0.5), (0.2, 0.1))
"""(a, b) of the simulated estimator output ``a * x + b``."""
NOISE = (0.0, 0.02, 0.05, 0.10)
"""Per-pixel multiplicative noise levels (standard deviation)."""


def _output(x: torch.Tensor, known: torch.Tensor, a: float, b: float, noise: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = (a * x + b) * (1.0 + noise * torch.randn(x.shape, generator=g, dtype=x.dtype))
    return torch.where(known, out, torch.zeros_like(out))


def scale_fit_rows(start: int, clips: int, frames: int) -> list[dict]:
    """One row per (clip, kind, (a, b), noise): the fit and its errors (json-able)."""
    config = CurationConfig()
    rows = []
    for seed in range(start, start + clips):
        clip = synthetic_clip(seed, config, frames=slice(0, frames))
        depth, known = clip.depth.double(), clip.depth > 0
        tri = triangulate_clip(clip.frames, clip.cameras)  # the estimator-independent part, once per clip
        for kind in ("depth", "disparity"):
            x = depth if kind == "depth" else torch.where(known, 1.0 / depth.clamp(min=1e-12), torch.zeros_like(depth))
            for a, b in A_B:
                for level, noise in enumerate(NOISE):
                    out = _output(x, known, a, b, noise, seed * 100 + level)
                    fit = fit_depth_affine(out, clip.frames, clip.cameras, kind, triangulation=tri)
                    row = {"seed": seed, "path": clip.meta["path"], "dynamic": clip.meta["dynamic"], "kind": kind,
                           "a": a, "b": b, "noise": noise, "reliable": fit.reliable, "reason": fit.reason,
                           "points": fit.points, "parallax_px": round(fit.parallax_px, 3)}
                    if fit.reliable:
                        fitted = fit.apply(_output(x, known, a, b, 0.0, 0))
                        row |= {"a_fit": round(1.0 / fit.scale, 6), "b_fit": round(-fit.shift / fit.scale, 6),
                                "a_rel_error": round(1.0 / fit.scale / a - 1.0, 6),
                                "depth_rel_error": round(float(((fitted - depth).abs() / depth)[known].median()), 6)}
                    rows.append(row)
    return rows


def _quantile(values: list[float], q: float) -> float:
    return round(float(torch.tensor(values, dtype=torch.float64).quantile(q)), 6) if values else math.nan


def summarise(rows: list[dict]) -> dict:
    """Per noise level: fits, reliable fits, |relative error of a| (median, 90th percentile, max, share within
    2 %), median depth error; and the clips whose fit was unreliable, with the reason."""
    per_noise = {}
    for noise in NOISE:
        mine = [r for r in rows if r["noise"] == noise]
        ok = [r for r in mine if r["reliable"]]
        err = [abs(r["a_rel_error"]) for r in ok]
        per_noise[f"{noise:g}"] = {
            "fits": len(mine), "reliable": len(ok), "a_abs_rel_error_median": _quantile(err, 0.5),
            "a_abs_rel_error_p90": _quantile(err, 0.9), "a_abs_rel_error_max": round(max(err), 6) if err else math.nan,
            "a_within_2_percent": round(sum(e < 0.02 for e in err) / len(err), 4) if err else math.nan,
            "depth_rel_error_median": _quantile([r["depth_rel_error"] for r in ok], 0.5)}
    unreliable = {}
    for r in rows:
        if not r["reliable"]:
            unreliable.setdefault(f"{r['seed']} ({r['path']})", set()).add(r["reason"].split(":")[0])
    return {"per_noise": per_noise, "unreliable_clips": {k: sorted(v) for k, v in unreliable.items()}}


def plot_scale_fit(rows: list[dict], summary: dict, out: str | Path) -> Path:
    """Writes the figure (png) to ``out``; ImportError with the install hint when matplotlib is missing."""
    from eval.report import pyplot

    plt = pyplot("the scale-fit figure")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ok = [r for r in rows if r["reliable"]]
    seeds = sorted({r["seed"] for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    colours = {"depth": "tab:blue", "disparity": "tab:orange"}
    for kind, colour in colours.items():
        mine = [r for r in ok if r["kind"] == kind]
        jitter = [1.0 + 0.04 * (NOISE.index(r["noise"]) - 1.5) for r in mine]
        axes[0].scatter([r["a"] * j for r, j in zip(mine, jitter, strict=True)], [r["a_fit"] for r in mine], s=9,
                        alpha=0.6, color=colour, label=f"{kind} output")
    lim = (0.15, 4.0)
    axes[0].plot(lim, lim, color="0.3", linewidth=0.8)
    axes[0].set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="true a (jittered by noise level)",
                ylabel="recovered a = 1 / scale", title="recovered vs true scale (reliable fits)")
    for axis in (axes[0].xaxis, axes[0].yaxis):
        axis.set_major_locator(FixedLocator([0.2, 0.5, 1.0, 2.0, 3.0]))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_locator(NullLocator())
    axes[0].legend(fontsize=8)
    for panel, key, title in ((1, "a_rel_error", "relative error of a (%)"),
                              (2, "depth_rel_error", "median relative depth error (%)")):
        ax = axes[panel]
        for k, (kind, colour) in enumerate(colours.items()):
            for level, noise in enumerate(NOISE):
                vals = [100 * r[key] for r in ok if r["kind"] == kind and r["noise"] == noise]
                xs = [level + (k - 0.5) * 0.3 + 0.1 * ((i % 5) - 2) / 2 for i in range(len(vals))]
                ax.scatter(xs, vals, s=8, alpha=0.6, color=colour, label=kind if level == 0 else None)
        ax.axhspan(-2 if panel == 1 else 0, 2, color="tab:green", alpha=0.12, zorder=0, label="within 2 %")
        ax.set_xticks(range(len(NOISE)), [f"{100 * n:g} %" for n in NOISE])
        ax.set(xlabel="per-pixel noise of the estimator output", title=title)
        ax.legend(fontsize=8)
    notes = "; ".join(f"{n}: {v['reliable']}/{v['fits']} reliable, |err a| median {100 * v['a_abs_rel_error_median']:.2f} %"
                      for n, v in list(summary["per_noise"].items())[::3])
    bad = summary["unreliable_clips"]
    fig.suptitle(f"fit_depth_affine on {len(seeds)} held-out synthetic clips (seeds {seeds[0]}-{seeds[-1]}; "
                 f"{len(bad)} with unreliable fits: {', '.join(bad) or 'none'})\n{notes}", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=80, format="png"), suffix=".png")
    plt.close(fig)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="the png to write (docs/scale_fit.png); the json beside it")
    p.add_argument("--start", type=int, default=EVAL_SEEDS.start, help="first scene seed (>= 1,000,000: held out)")
    p.add_argument("--clips", type=int, default=12, help="number of clips (consecutive seeds)")
    p.add_argument("--frames", type=int, default=24, help="frames per clip (from its start)")


def _is_ours(path: Path) -> bool:
    """Whether the JSON file ``path`` is a previous scale-fit result (its ``command`` names this command)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and str(record.get("command", "")).startswith(PROG)


def run(args: argparse.Namespace) -> Path:
    """Fits, draws and writes the figure and its json for parsed ``args``; a bad input raises
    :class:`~worldmem.utils.cli_errors.UsageError`."""
    from worldmem.utils.io import output_file_problem

    beside = args.out.with_suffix(".json")
    problem = output_file_problem(args.out, ".png") or output_file_problem(beside, ".json")
    if problem is None and beside.exists() and not _is_ours(beside):
        problem = f"{beside} (written beside the figure) exists and is not a {PROG} result; choose another name"
    if problem:
        raise UsageError(f"--out: {problem}")
    if args.start not in EVAL_SEEDS or args.clips < 1 or args.start + args.clips > EVAL_SEEDS.stop:
        raise UsageError(f"--start/--clips: expected held-out seeds in [{EVAL_SEEDS.start}, {EVAL_SEEDS.stop})")
    if not 8 <= args.frames <= CurationConfig().synthetic_frames:
        raise UsageError(f"--frames: expected 8 .. {CurationConfig().synthetic_frames}")
    rows = scale_fit_rows(args.start, args.clips, args.frames)
    summary = summarise(rows)
    try:
        out = plot_scale_fit(rows, summary, args.out)
    except ImportError as err:
        raise UsageError(str(err)) from None
    command = f"{PROG} --out {args.out} --start {args.start} --clips {args.clips} --frames {args.frames}"
    atomic_write_json(out.with_suffix(".json"), {"command": command, "a_b": A_B, "noise": NOISE, **summary,
                                                 "rows": rows})
    for noise, v in summary["per_noise"].items():
        print(f"noise {noise}: {v['reliable']}/{v['fits']} reliable; |a error| median {100 * v['a_abs_rel_error_median']:.2f} %"
              f", p90 {100 * v['a_abs_rel_error_p90']:.2f} %, max {100 * v['a_abs_rel_error_max']:.2f} %, within 2 % "
              f"{100 * v['a_within_2_percent']:.0f} %; depth error median {100 * v['depth_rel_error_median']:.2f} %")
    print(f"unreliable: {summary['unreliable_clips']}")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return out
