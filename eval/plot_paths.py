"""``python -m eval plot-paths``: every path of the registry seen from above in one synthetic scene.

    python -m eval plot-paths --out docs/paths.png [--seed 1000000] [--num-frames 48] [--draws 3]

One panel per registry path (:data:`worldmem.geometry.paths.PATHS`): an orthographic top-down view of the
scene (:func:`top_down_view`), its free box (dashed), the canonical path's camera positions (coloured by frame,
first frame marked) and viewing directions (arrows); for the random families, ``--draws`` random members in
grey (seeded, so the figure is reproducible). This makes docs/paths.png. matplotlib is the ``viz`` extra.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.paths import KEYS_PREFIX, PATHS, make_path
from worldmem.utils.cli_errors import UsageError

__all__ = ["top_down_view", "plot_paths", "add_arguments", "run"]

_SIZE = 32  # image size of the plotted cameras (positions and directions do not depend on it)


def top_down_view(scene, pixels: int = 256) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """An orthographic view of ``scene`` from above: ``(image (H, W, 3) float in [0, 1], extent)``.

    One 1 x 1 pixel camera per image pixel, just under the top of the scene (below a room's ceiling), looking
    straight down (-z); ``extent`` = (x_min, x_max, y_min, y_max) of the scene's bounds, image row 0 at
    y_max (matplotlib's ``imshow(..., extent=extent)``).
    """
    lo, hi = scene.bounds[0].tolist(), scene.bounds[1].tolist()
    step = max(hi[0] - lo[0], hi[1] - lo[1]) / pixels
    w, h = max(1, round((hi[0] - lo[0]) / step)), max(1, round((hi[1] - lo[1]) / step))
    xs = lo[0] + (torch.arange(w, dtype=torch.float32) + 0.5) * (hi[0] - lo[0]) / w
    ys = hi[1] - (torch.arange(h, dtype=torch.float32) + 0.5) * (hi[1] - lo[1]) / h
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    centers = torch.stack([gx.flatten(), gy.flatten(), torch.full((h * w,), hi[2] - 0.02)], dim=-1)
    # Camera axes in the world: right = +x, down = -y, forward = -z (a right-handed OpenCV frame).
    rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    cam_from_world = torch.zeros(h * w, 4, 4)
    cam_from_world[:, :3, :3] = rot
    cam_from_world[:, :3, 3] = -centers @ rot.T
    cam_from_world[:, 3, 3] = 1.0
    K = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]]).expand(h * w, 3, 3)
    frames, _ = scene.render(Cameras(cam_from_world, K.clone(), 1, 1), times=torch.zeros(h * w))
    return frames[:, :, 0, 0].reshape(h, w, 3).numpy(), (lo[0], hi[0], lo[1], hi[1])


def _example_keys(num_frames: int) -> str:
    """A key path for the figure: forward, turn left, forward, turn right, back (trimmed to the frame count)."""
    base = "W" * 8 + "J" * 15 + "W" * 8 + "L" * 15 + "S" * 8
    return (base * math.ceil(num_frames / len(base)))[: num_frames - 1]


def _draw_cameras(ax, cams: Cameras, cmap, arrow_len: float, every: int) -> None:
    c = cams.centers[:, :2].numpy()
    f = cams.forward[:, :2].numpy()
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-9)
    t = np.arange(len(c))
    ax.plot(c[:, 0], c[:, 1], color="black", linewidth=1.2, alpha=0.8, zorder=2)
    ax.scatter(c[:, 0], c[:, 1], c=t, cmap=cmap, s=10, zorder=3)
    k = t[::every]
    ax.quiver(c[k, 0], c[k, 1], f[k, 0] * arrow_len, f[k, 1] * arrow_len, t[k], cmap=cmap, angles="xy",
              scale_units="xy", scale=1.0, width=0.006, zorder=4)
    ax.scatter(c[:1, 0], c[:1, 1], marker="o", s=60, facecolors="none", edgecolors="red", linewidths=1.5, zorder=5)


def plot_paths(out: str | Path, seed: int, num_frames: int = 48, draws: int = 3) -> Path:
    """Writes the figure of every registry path in synthetic scene ``seed`` to ``out`` (png); returns the path.

    Raises:
        ImportError with the install hint when matplotlib is missing.
    """
    from eval.report import pyplot

    plt = pyplot("the path plot")
    from matplotlib.patches import Rectangle

    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=seed)
    image, extent = top_down_view(scene)
    lo, hi = scene.free_box[0].tolist(), scene.free_box[1].tolist()
    names = [KEYS_PREFIX + _example_keys(num_frames) if n == "keys" else n for n in PATHS]
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.5 * rows), squeeze=False)
    arrow_len = 0.06 * max(extent[1] - extent[0], extent[3] - extent[2])
    for ax, name in zip(axes.flat, names, strict=False):
        spec_name = "keys" if name.startswith(KEYS_PREFIX) else name
        spec = PATHS[spec_name]
        ax.imshow(0.45 * image + 0.55, extent=extent, interpolation="bilinear", zorder=0)  # faded: paths stand out
        ax.add_patch(Rectangle((lo[0], lo[1]), hi[0] - lo[0], hi[1] - lo[1], fill=False, edgecolor="black",
                               linestyle="--", linewidth=1.0, zorder=1))
        if spec.draw is not None:
            for k in range(draws):
                drawn = make_path(name, scene.free_box, num_frames, _SIZE, _SIZE, rng=np.random.default_rng([seed, k]))
                c = drawn.centers[:, :2].numpy()
                ax.plot(c[:, 0], c[:, 1], color="0.45", linewidth=1.0, alpha=0.8, zorder=1)
        _draw_cameras(ax, make_path(name, scene.free_box, num_frames, _SIZE, _SIZE), "plasma", arrow_len,
                      max(1, num_frames // 12))
        title = "keys:W..J..W..L..S.." if spec_name == "keys" else name
        note = f" (+{draws} random, grey)" if spec.draw is not None and draws else ""
        ax.set_title(title + note, fontsize=9)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Registry paths in synthetic scene {seed} ({scene.kind}), seen from above: {num_frames} frames, "
                 "colour = frame (red ring: first), arrows = viewing direction, dashed = free box", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    from worldmem.data.readers.synthetic import EVAL_SEEDS

    p.add_argument("--out", type=Path, required=True, help="the png to write (docs/paths.png)")
    p.add_argument("--seed", type=int, default=EVAL_SEEDS.start, help="synthetic scene seed (default: the first eval seed)")
    p.add_argument("--num-frames", type=int, default=48, help="frames per path")
    p.add_argument("--draws", type=int, default=3, help="random members drawn for each random family")


def run(args: argparse.Namespace) -> Path:
    """Draws the figure for parsed ``args``; a bad input raises :class:`~worldmem.utils.cli_errors.UsageError`."""
    from worldmem.utils.io import output_file_problem

    problem = output_file_problem(args.out, ".png")
    if problem:
        raise UsageError(f"--out: {problem}")
    if args.seed < 0 or args.num_frames < 4 or args.draws < 0:
        raise UsageError("expected --seed >= 0, --num-frames >= 4, --draws >= 0")
    try:
        out = plot_paths(args.out, args.seed, args.num_frames, args.draws)
    except ImportError as err:
        raise UsageError(str(err)) from None
    print(f"wrote {out} ({len(PATHS)} paths in synthetic scene {args.seed})")
    return out
