"""Procedural, seamlessly tiling textures, their bilinear sampling, shading and the sky.

A texture is an (S, S, 3) float32 image in [0, 1] that is periodic with period S along both axes (every
pattern uses whole numbers of cycles per tile), so it can be sampled with wrap-around anywhere.
Texel coordinates follow the pixel convention: ``(u, v)`` addresses column ``u`` and row ``v``, texel centres
sit at integer + 0.5. Surfaces turn their metric ``uv`` into texels by dividing by a texel size in metres.

All randomness comes from the ``numpy.random.Generator`` passed in, never from global state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["PATTERNS", "TEXTURE_SIZE", "random_texture", "TextureAtlas", "shade", "sky_colour", "LIGHT_DIR"]

TEXTURE_SIZE = 128
PATTERNS = ("checker", "stripes", "noise", "gradient", "bricks", "dots", "mix")

# Fixed direction towards the light (world, +z up); shading = albedo * (AMBIENT + DIFFUSE * max(n . l, 0)).
LIGHT_DIR = (0.42, 0.27, 0.87)
AMBIENT, DIFFUSE = 0.5, 0.5


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    i = np.floor(h * 6.0) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    return np.array(table[int(i)], dtype=np.float64)


def _palette(rng: np.random.Generator, k: int) -> np.ndarray:
    """(k, 3) colours with spread-out hues and alternating brightness, so neighbours always contrast."""
    hue0 = rng.random()
    out = []
    for j in range(k):
        hue = (hue0 + j / k + rng.uniform(-0.08, 0.08)) % 1.0
        value = rng.uniform(0.6, 0.95) if j % 2 == 0 else rng.uniform(0.2, 0.5)
        out.append(_hsv_to_rgb(hue, rng.uniform(0.35, 0.9), value))
    return np.stack(out)


def _lattice(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(S, S) smooth value noise on a ``cells`` x ``cells`` periodic lattice (wraps at the tile border)."""
    g = rng.random((cells, cells))
    x = np.arange(size) * cells / size
    i0 = np.floor(x).astype(int)
    f = x - i0
    f = f * f * (3 - 2 * f)
    i1 = (i0 + 1) % cells
    rows = g[i0] * (1 - f)[:, None] + g[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]


def _fbm(rng: np.random.Generator, size: int, base: int = 2, octaves: int = 4) -> np.ndarray:
    """Multi-octave value noise in [0, 1]; the finest octave has cells of size / (base * 2**(octaves-1))."""
    total = sum(0.55**k * _lattice(rng, size, base * 2**k) for k in range(octaves))
    return (total - total.min()) / max(total.max() - total.min(), 1e-9)


def _ramp(values: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Maps values in [0, 1] (S, S) through a piecewise-linear colour ramp (k, 3) -> (S, S, 3)."""
    x = np.clip(values, 0, 1) * (len(colours) - 1)
    i0 = np.minimum(np.floor(x).astype(int), len(colours) - 2)
    f = (x - i0)[..., None]
    return colours[i0] * (1 - f) + colours[i0 + 1] * f


def _smoothstep(a, b, x):
    t = np.clip((x - a) / (b - a), 0, 1)
    return t * t * (3 - 2 * t)


def _pattern(rng: np.random.Generator, size: int, name: str) -> np.ndarray:
    # Normalised texel-centre coordinates in [0, 1): X runs along columns (u), Y along rows (v).
    X, Y = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size, indexing="xy")
    if name == "checker":
        n = int(rng.choice([2, 4, 6, 8]))  # even counts keep the tile periodic
        pal = _palette(rng, 2)
        if rng.random() < 0.5:
            mask = (np.floor(n * X) + np.floor(n * Y)) % 2
        else:  # diamonds
            mask = (np.floor(n * (X + Y)) + np.floor(n * (X - Y))) % 2
        return pal[mask.astype(int)]
    if name == "stripes":
        kx, ky = [(1, 0), (0, 1), (1, 1), (1, -1), (2, 1), (1, 2), (2, -1), (1, -3), (3, 1)][rng.integers(9)]
        reps = int(rng.integers(2, 5))
        pal = _palette(rng, int(rng.integers(2, 4)))
        w = ((kx * X + ky * Y) * reps % 1.0) * len(pal)
        i = np.floor(w).astype(int) % len(pal)
        blend = _smoothstep(0.8, 1.0, w - np.floor(w))[..., None]  # soft edges alias less at low resolution
        return pal[i] * (1 - blend) + pal[(i + 1) % len(pal)] * blend
    if name == "noise":
        return _ramp(_fbm(rng, size, base=int(rng.choice([2, 4]))), _palette(rng, int(rng.integers(3, 5))))
    if name == "gradient":
        kx, ky = [(1, 0), (0, 1), (1, 1), (1, -1), (2, 1)][rng.integers(5)]
        g = 0.5 - 0.5 * np.cos(2 * np.pi * (kx * X + ky * Y))
        return _ramp(0.75 * g + 0.25 * _fbm(rng, size, base=4), _palette(rng, 3))
    if name == "bricks":
        rows, cols = int(rng.choice([4, 6, 8])), int(rng.choice([2, 3, 4]))
        pal = _palette(rng, 3)
        row = np.floor(rows * Y).astype(int)
        xo = cols * X + 0.5 * (row % 2)  # even row counts keep the running bond periodic
        col = np.floor(xo).astype(int) % cols
        jitter = rng.uniform(0.75, 1.15, size=(rows, cols, 1)) * pal[rng.integers(0, 2, size=(rows, cols))]
        img = jitter[row, col]
        gap = 2.5 / size  # mortar width in tile units (about two texels)
        fx, fy = (xo % 1.0) / cols, (rows * Y % 1.0) / rows
        mortar = (np.minimum(fx, 1 / cols - fx) < gap) | (np.minimum(fy, 1 / rows - fy) < gap)
        return np.where(mortar[..., None], pal[2], img)
    if name == "dots":
        n = int(rng.choice([3, 4, 6]))
        pal = _palette(rng, 4)
        cx, cy = np.floor(n * X), np.floor(n * Y)
        r = np.hypot(n * X - cx - 0.5, n * Y - cy - 0.5)
        which = rng.integers(1, 4, size=(n, n))[cy.astype(int), cx.astype(int)]
        inside = 1 - _smoothstep(0.3, 0.36, r)[..., None]
        return pal[which] * inside + pal[0] * (1 - inside)
    if name == "mix":
        a, b = rng.choice([p for p in PATTERNS if p != "mix"], size=2, replace=False)
        mask = _smoothstep(0.45, 0.55, _fbm(rng, size, base=2))[..., None]
        return _pattern(rng, size, a) * (1 - mask) + _pattern(rng, size, b) * mask
    raise ValueError(f"pattern: expected one of {PATTERNS}, got {name!r}")


def random_texture(rng: np.random.Generator, size: int = TEXTURE_SIZE, pattern: str | None = None):
    """A seeded tiling texture.

    Returns:
        (texture (S, S, 3) float32 numpy array in [0, 1], the pattern's name). Numpy, so that a scene stacks
        all its textures into one tensor at once (many small torch allocations are slow on some machines).
    """
    name = pattern if pattern is not None else str(rng.choice(PATTERNS))
    img = _pattern(rng, size, name)
    # Low-frequency grime breaks the exact repetition of cells within a tile.
    img = img * (0.8 + 0.35 * _fbm(rng, size, base=2, octaves=3))[..., None]
    return np.clip(img, 0.02, 0.98).astype(np.float32), name


class TextureAtlas:
    """A stack of equally sized tiling textures (n, S, S, 3), sampled bilinearly with wrap-around."""

    def __init__(self, textures: Sequence[torch.Tensor] | torch.Tensor):
        stack = torch.stack(list(textures)) if not isinstance(textures, torch.Tensor) else textures
        if stack.dim() != 4 or stack.shape[-1] != 3 or stack.shape[1] != stack.shape[2]:
            raise ValueError(f"textures: expected shape (n, S, S, 3), got {tuple(stack.shape)}")
        self.images = stack.float()
        self.size = stack.shape[1]
        self._flat = self.images.reshape(-1, 3)

    def to(self, device) -> TextureAtlas:
        return TextureAtlas(self.images.to(device))

    def sample(self, index: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
        """Colours (M, 3) of textures ``index`` (M,) at texel coordinates ``uv`` (M, 2) (column, row)."""
        s = self.size
        xy = uv - 0.5  # texel centres at integer + 0.5
        base = xy.floor()
        f = xy - base
        x0, y0 = base[:, 0].long() % s, base[:, 1].long() % s
        x1, y1 = (x0 + 1) % s, (y0 + 1) % s
        row0, row1 = index * (s * s) + y0 * s, index * (s * s) + y1 * s
        corners = self._flat.index_select(0, torch.cat([row0 + x0, row0 + x1, row1 + x0, row1 + x1]))
        c00, c01, c10, c11 = corners.reshape(4, -1, 3)
        fx, fy = f[:, :1], f[:, 1:]
        return (c00 * (1 - fx) + c01 * fx) * (1 - fy) + (c10 * (1 - fx) + c11 * fx) * fy


def shade(albedo: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """View-independent ambient + Lambert shading of albedos (M, 3) with unit normals (M, 3), in [0, 1]."""
    lx, ly, lz = (c / sum(v * v for v in LIGHT_DIR) ** 0.5 for c in LIGHT_DIR)
    # Explicit element-wise dot product: a matmul kernel may round differently depending on the batch layout.
    lambert = (normal[:, 0] * lx + normal[:, 1] * ly + normal[:, 2] * lz).clamp(min=0.0)
    return albedo * (AMBIENT + DIFFUSE * lambert)[:, None]


def sky_colour(dirs: torch.Tensor, horizon: torch.Tensor, zenith: torch.Tensor) -> torch.Tensor:
    """Sky (M, 3) for world ray directions (M, 3) of any length: horizon to zenith with elevation."""
    length = (dirs[:, 0] * dirs[:, 0] + dirs[:, 1] * dirs[:, 1] + dirs[:, 2] * dirs[:, 2]).sqrt()
    elevation = dirs[:, 2] / length.clamp(min=1e-12)
    e = elevation.clamp(min=0.0)
    w = (e * (2 - e))[:, None]  # ease-out: the blue deepens quickly above the horizon
    below = (elevation < 0)[:, None]  # a slightly darker haze under the horizon (only seen past low walls)
    return torch.where(below, horizon * 0.85, horizon * (1 - w) + zenith * w)
