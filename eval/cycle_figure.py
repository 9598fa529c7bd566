"""The cycle protocol's figure: revisit error against the horizon and against the memory's size, in one figure.

A long cycle tests two things at once: how far back in time a revisit reaches (the horizon h: frames between the
first visit and the return) and how much the memory holds by then (the map's voxels, the episodic keyframes). For
each variant that keeps a memory, the rollout records the memory's size after every chunk
(:attr:`eval.variants.Rollout.memory_sizes`); :func:`memory_at_horizons` gives, per horizon, the mean size of the
memory that the return frames of that horizon's pairs were generated from (the memory as written after the chunk
before each return frame's chunk). results.json stores them as ``memory_voxels_at_<h>`` and
``memory_keyframes_at_<h>`` beside ``same_pose_psnr_at_<h>``. :func:`plot_cycle` draws ``cycle_memory.png``: on
the left the same-pose PSNR at each horizon (per variant, means over scenes), on the right the same PSNR against
the map's voxels at that horizon, with the keyframe counts written at the points.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from worldmem.metrics import finite_mean

__all__ = ["CYCLE_PLOT_NAME", "memory_at_horizons", "plot_cycle", "cycle_section"]

CYCLE_PLOT_NAME = "cycle_memory.png"


def _size_before(sizes: list[tuple[int, int, int]], frame: int) -> tuple[int, int] | None:
    """(voxels, keyframes) of the memory the chunk holding ``frame`` read: the last record written before it."""
    before = [(v, k) for end, v, k in sizes if end <= frame]
    return before[-1] if before else None


def memory_at_horizons(sizes: list[tuple[int, int, int]] | None, horizons: Mapping[int, list[tuple[int, int]]]
                       ) -> dict[str, float | None]:
    """``memory_voxels_at_<h>`` and ``memory_keyframes_at_<h>`` for each horizon ``h`` of ``horizons`` (h -> its
    same-pose pairs ``(i, j)``); ``sizes``: ``(frames so far, voxels, keyframes)`` after each write. None where a
    horizon has no pair or no memory was recorded."""
    out: dict[str, float | None] = {}
    for h, pairs in horizons.items():
        found = [] if not sizes else [s for s in (_size_before(sizes, j) for _, j in pairs) if s is not None]
        out[f"memory_voxels_at_{h}"] = finite_mean(float(v) for v, _ in found)
        out[f"memory_keyframes_at_{h}"] = finite_mean(float(k) for _, k in found)
    return out


def _mean_over_scenes(results: Mapping, variant: str, key: str) -> float | None:
    return finite_mean(s["variants"][variant].get(key) for s in results["scenes"] if variant in s["variants"])


def plot_cycle(results: Mapping, out_dir: Path) -> tuple[Path | None, str | None]:
    """Draws :data:`CYCLE_PLOT_NAME` for a cycle report: ``(path, None)``, or ``(None, why not)`` (another
    protocol, no horizon scored, or no matplotlib)."""
    config = results["config"]
    if config["protocol"] != "cycle":
        return None, "(only the cycle protocol has horizons)"
    horizons = sorted(int(k.rpartition("_")[2]) for s in results["scenes"] for v in s["variants"].values()
                      for k in v if k.startswith("same_pose_psnr_at_"))
    horizons = sorted(set(horizons))
    if not horizons:
        return None, "(no horizon had a pair)"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        return None, f"(plot not drawn: {err})"
    from worldmem.utils.io import atomic_write

    variants = list(config["variants"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in variants:
        psnr = [_mean_over_scenes(results, name, f"same_pose_psnr_at_{h}") for h in horizons]
        left.plot(horizons, [float("nan") if p is None else p for p in psnr], marker="o", label=name)
        voxels = [_mean_over_scenes(results, name, f"memory_voxels_at_{h}") for h in horizons]
        keyframes = [_mean_over_scenes(results, name, f"memory_keyframes_at_{h}") for h in horizons]
        points = [(v, p, k) for v, p, k in zip(voxels, psnr, keyframes, strict=True) if v is not None and p is not None]
        if points:
            right.plot([v for v, _, _ in points], [p for _, p, _ in points], marker="o", label=name)
            for v, p, k in points:
                right.annotate(f"{k:.0f} kf" if k is not None else "", (v, p), fontsize=7,
                               textcoords="offset points", xytext=(3, 3))
    left.set_xlabel("horizon (frames between visit and return)")
    left.set_ylabel("same-pose PSNR (dB)")
    left.set_title("revisit consistency vs horizon")
    right.set_xlabel("map voxels when the return frames were generated")
    right.set_ylabel("same-pose PSNR (dB)")
    right.set_title("vs memory size (kf: episodic keyframes)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    fig.tight_layout()
    path = Path(out_dir) / CYCLE_PLOT_NAME
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path, None


def cycle_section(name: str = CYCLE_PLOT_NAME) -> tuple[str, str, str]:
    """The report section ``(title, markdown, html)`` that shows the figure ``name``."""
    title = "Revisit consistency against horizon and memory size"
    return title, f"![{title}]({name})", f'<img src="{name}" alt="{title}">'
