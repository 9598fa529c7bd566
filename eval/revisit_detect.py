"""Geometric revisit detection: which frames of a path show again what an earlier, since-abandoned view showed.

Covisibility. ``covisibility(cameras, depth, i, j)`` is the fraction of frame j's valid pixels (depth > 0)
whose 3D points frame i also sees: each point, unprojected with camera j, must project inside image i, in
front of camera i, with a z-depth consistent with frame i's depth there (within ``rel_tol``, default 5%, of
the range spanned by the valid depths at the four pixel centres around the projection). A point behind what
frame i shows is occluded in i and does not count. Covisibility is asymmetric: it asks "how much of what j
shows was already shown by i?", i.e. how much of frame j a memory of frame i could supply. In the matrix
returned by :func:`covisibility_matrix`, ``S[i, j]`` is this quantity.

The revisit rule (X = ``min_covisibility``, default :data:`DEFAULT_MIN_COVISIBILITY` = 0.5; G = ``min_gap``,
default :data:`DEFAULT_MIN_GAP` = 8 frames). Frame j is a revisit of an earlier frame i when all three hold:

1. ``j - i >= G``: the earlier view is at least G frames old (choose G larger than the generator's working
   window plus one chunk, so that only long-term memory can know what frame i showed; the tiny model keeps
   2 working frames and makes 4-frame chunks, hence 8);
2. ``S[i, j] >= X``: at least X of what frame j shows was shown by frame i;
3. the camera left frame i's view in between: some frame k with ``i < k < j`` has ``S[i, k] < X``. This
   excludes frames that simply continue the current view (a forward walk keeps seeing what the first frame
   saw, a slow pan keeps overlapping the previous frames), whatever their age.

Each revisit frame is reported once, with the qualifying earlier frame of highest covisibility (the earliest on
ties). Depth is z-depth (T, 1, H, W), 0 = unknown; cameras follow worldmem's convention (OpenCV axes,
``cam_from_world``; see docs/conventions.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from worldmem.geometry import Cameras
from worldmem.geometry.transforms import project_points
from worldmem.metrics import DEFAULT_MIN_GAP  # the library's, re-exported here
from worldmem.utils.checks import as_float_tensor, check_finite, check_shape

__all__ = [
    "DEFAULT_MIN_COVISIBILITY",
    "DEFAULT_MIN_GAP",
    "Revisit",
    "covisibility",
    "covisibility_matrix",
    "find_revisits",
    "revisit_mask",
    "revisit_segments",
]

DEFAULT_MIN_COVISIBILITY = 0.5


@dataclass(frozen=True)
class Revisit:
    """One revisit: ``frame`` shows again (``covisibility`` of its pixels) what ``earlier_frame`` showed."""

    frame: int
    earlier_frame: int
    covisibility: float


def _check_inputs(cameras: Cameras, depth) -> torch.Tensor:
    if not isinstance(cameras, Cameras) or len(cameras.batch_shape) != 1:
        if isinstance(cameras, Cameras):
            got = f"Cameras with batch shape {tuple(cameras.batch_shape)}"
        else:
            got = type(cameras).__name__
        raise ValueError(f"cameras: expected Cameras with batch shape (T,), got {got}")
    d = as_float_tensor("depth", depth, dtype=cameras.dtype)
    check_shape("depth", d, (len(cameras), 1, cameras.height, cameras.width))
    check_finite("depth", d)
    if d.numel() and float(d.min()) < 0:
        raise ValueError(f"depth: expected z-depth >= 0 (0 = unknown), got minimum {float(d.min()):.3g}")
    return d


def _seen_fraction(cameras: Cameras, depth: torch.Tensor, points: torch.Tensor, j: int, others: torch.Tensor,
                   rel_tol: float, stride: int) -> torch.Tensor:
    """Fraction of frame j's valid pixels (every ``stride``-th row and column) seen by each frame in ``others``.

    ``points`` (T, H, W, 3) are all frames' unprojected pixels (``cameras.unproject(depth)``).
    """
    h, w = cameras.height, cameras.width
    o = stride // 2
    valid = depth[j, 0, o::stride, o::stride] > 0
    if not bool(valid.any()):
        return torch.zeros(len(others), dtype=torch.float64)
    pts = points[j, o::stride, o::stride][valid]  # (N, 3)
    # Into every other camera at once: (M, N). Raw matrices: these subsets need no re-validation.
    uv, z = project_points(pts, cameras.cam_from_world[others], cameras.K[others])
    u, v = uv[..., 0], uv[..., 1]
    inside = (z > 1e-9) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    # The four pixel centres (at +0.5) around each projection; out-of-image neighbours are clamped (an edge
    # pixel simply repeats), which is what a bilinear lookup of frame i's depth would use.
    x0 = torch.floor(u - 0.5).clamp(0, w - 1).long()
    y0 = torch.floor(v - 0.5).clamp(0, h - 1).long()
    x1 = (x0 + 1).clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    flat = depth[others, 0].reshape(len(others), h * w)
    neigh = torch.stack([torch.gather(flat, 1, yy * w + xx) for yy, xx in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))],
                        dim=-1)  # (M, N, 4)
    known = neigh > 0
    lo = torch.where(known, neigh, torch.full_like(neigh, float("inf"))).amin(-1)
    hi = neigh.amax(-1)  # unknown depth is 0, never the maximum of a known one
    consistent = known.any(-1) & (z >= lo * (1.0 - rel_tol)) & (z <= hi * (1.0 + rel_tol))
    return (inside & consistent).double().mean(dim=1)


def covisibility(cameras: Cameras, depth: torch.Tensor, i: int, j: int, rel_tol: float = 0.05, stride: int = 1) -> float:
    """Fraction of frame j's valid pixels whose 3D points frame i also sees (see the module docstring).

    Args:
        cameras: :class:`Cameras` with batch shape (T,).
        depth: (T, 1, H, W) z-depth, 0 = unknown (such pixels of j do not count; such pixels of i see nothing).
        i, j: frame indices in [0, T).
        rel_tol: relative depth tolerance of the occlusion test.
        stride: use every ``stride``-th row and column of frame j (faster, coarser).

    Returns:
        a float in [0, 1]; 0 when frame j has no valid pixel.
    """
    d = _check_inputs(cameras, depth)
    num = len(cameras)
    for name, idx in (("i", i), ("j", j)):
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < num:
            raise ValueError(f"{name}: expected a frame index in [0, {num}), got {idx!r}")
    _check_options(rel_tol, stride)
    pair = torch.tensor([i, j])
    sub = Cameras(cameras.cam_from_world[pair], cameras.K[pair], cameras.height, cameras.width)
    return float(_seen_fraction(sub, d[pair], sub.unproject(d[pair]), 1, torch.tensor([0]), rel_tol, stride)[0])


def _check_options(rel_tol: float, stride: int) -> None:
    if not 0.0 <= rel_tol < 1.0:
        raise ValueError(f"rel_tol: expected a value in [0, 1), got {rel_tol!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride: expected an int >= 1, got {stride!r}")


def covisibility_matrix(cameras: Cameras, depth: torch.Tensor, rel_tol: float = 0.05, stride: int = 1) -> torch.Tensor:
    """All pairwise covisibilities: ``S[i, j] = covisibility(cameras, depth, i, j)``.

    Args:
        cameras: :class:`Cameras` with batch shape (T,).
        depth: (T, 1, H, W) z-depth, 0 = unknown.
        rel_tol, stride: as in :func:`covisibility`.

    Returns:
        (T, T) float64; column j holds how much of frame j every frame i sees. The cost is T^2 H W / stride^2.
    """
    d = _check_inputs(cameras, depth)
    _check_options(rel_tol, stride)
    num = len(cameras)
    out = torch.zeros(num, num, dtype=torch.float64)
    everyone = torch.arange(num)
    points = cameras.unproject(d)
    for j in range(num):
        out[:, j] = _seen_fraction(cameras, d, points, j, everyone, rel_tol, stride)
    return out


def find_revisits(cameras: Cameras, depth: torch.Tensor, min_covisibility: float = DEFAULT_MIN_COVISIBILITY,
                  min_gap: int = DEFAULT_MIN_GAP, rel_tol: float = 0.05, stride: int = 1,
                  matrix: torch.Tensor | None = None) -> list[Revisit]:
    """The revisit frames of a path, by the rule in the module docstring.

    Args:
        cameras: :class:`Cameras` with batch shape (T,) (the path).
        depth: (T, 1, H, W) ground-truth z-depth along the path, 0 = unknown.
        min_covisibility: X, in (0, 1].
        min_gap: G, in frames (>= 1).
        rel_tol, stride: as in :func:`covisibility`.
        matrix: an already computed (T, T) :func:`covisibility_matrix` to reuse (then ``depth`` is only checked).

    Returns:
        the revisits sorted by frame, at most one per frame.
    """
    number = isinstance(min_covisibility, (int, float)) and not isinstance(min_covisibility, bool)
    if not number or not 0.0 < float(min_covisibility) <= 1.0:
        raise ValueError(f"min_covisibility: expected a value in (0, 1], got {min_covisibility!r}")
    if isinstance(min_gap, bool) or not isinstance(min_gap, int) or min_gap < 1:
        raise ValueError(f"min_gap: expected an int >= 1, got {min_gap!r}")
    num = len(cameras) if isinstance(cameras, Cameras) and len(cameras.batch_shape) == 1 else None
    if matrix is None:
        s = covisibility_matrix(cameras, depth, rel_tol=rel_tol, stride=stride)
    else:
        _check_inputs(cameras, depth)
        s = torch.as_tensor(matrix, dtype=torch.float64)
        check_shape("matrix", s, (num, num))
    num = s.shape[0]
    x = float(min_covisibility)
    below = s < x
    # first_left[i]: the first k > i whose view frame i mostly did not see (num if none).
    first_left = []
    for i in range(num):
        later = torch.nonzero(below[i, i + 1 :])
        first_left.append(i + 1 + int(later[0, 0]) if len(later) else num)
    cov = s.tolist()
    out = []
    for j in range(num):
        best = None
        for i in range(0, j - min_gap + 1):
            if cov[i][j] >= x and first_left[i] < j and (best is None or cov[i][j] > cov[best][j]):
                best = i
        if best is not None:
            out.append(Revisit(frame=j, earlier_frame=best, covisibility=cov[best][j]))
    return out


def revisit_mask(revisits: Sequence[Revisit] | Sequence[int], num_frames: int) -> torch.Tensor:
    """(T,) bool, True at the revisit frames (``revisits`` as :class:`Revisit` items or frame indices)."""
    mask = torch.zeros(num_frames, dtype=torch.bool)
    for r in revisits:
        frame = r.frame if isinstance(r, Revisit) else int(r)
        if not 0 <= frame < num_frames:
            raise ValueError(f"revisits: frame {frame} outside [0, {num_frames})")
        mask[frame] = True
    return mask


def revisit_segments(mask) -> list[tuple[int, int]]:
    """Runs of True in a (T,) boolean mask as half-open ``(start, end)`` frame ranges, e.g. for plot shading.

    ``[F, T, T, F, T]`` gives ``[(1, 3), (4, 5)]``: frames 1-2 and frame 4.
    """
    m = torch.as_tensor(mask)
    if m.dim() != 1:
        raise ValueError(f"mask: expected shape (T,), got {tuple(m.shape)}")
    values = [bool(v) for v in m.tolist()]
    segments, start = [], None
    for t, v in enumerate(values + [False]):
        if v and start is None:
            start = t
        elif not v and start is not None:
            segments.append((start, t))
            start = None
    return segments
