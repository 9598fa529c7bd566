"""Z-buffered point splatting in plain torch.

``render_points(points, features, cameras)`` projects world points into every camera and keeps, per pixel,
the nearest point (smallest z-depth); exact ties go to the lowest point index, so the result is
deterministic. With ``radius`` (world units) each point is a disc facing the camera that covers every pixel
whose centre lies within ``fx * radius / z`` pixels of its projection (capped at ``max_splat_px``), so near
points cover the pixels they should and surfaces sampled at voxel spacing have no pinholes.

The z-buffer is one ``scatter_reduce('amin')`` over packed 64-bit keys ``(z_bits << 31) | point_index``:
for positive float32 the IEEE bit pattern orders like the value, so the minimum key is the nearest point
with the lowest index. No sorting, no Python loop over pixels; plain points are taken in cache-sized chunks
(the result does not depend on the chunking).

pytorch3d's point rasterizer can be chosen with ``backend="pytorch3d"`` when it is installed (useful on a
GPU); it is never required.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.utils.checks import as_float_tensor, check_number, check_shape, finite_range

__all__ = ["RenderedPoints", "render_points", "MAX_SPLAT_PX", "point_blocks", "cull_points", "downsample_render",
           "available_backends"]

_IDX_BITS = 31
_IDX_MASK = (1 << _IDX_BITS) - 1
_EMPTY = torch.iinfo(torch.int64).max
_INF_BITS = 0x7FF0000000000000  # float64 +inf as int64: above every key of a finite positive float32 depth
# Points per chunk (times cameras) of the plain z-buffer: small enough for its intermediates to stay in cache.
_CHUNK = 1 << 16
MAX_SPLAT_PX = 64
"""The largest ``max_splat_px``: the splat loop visits every ring of offsets up to it ((2r + 1)**2 scatters for a
point near the camera), so 10**6 would run for days."""


@dataclass
class RenderedPoints:
    """The result of :func:`render_points` for T cameras.

    Attributes:
        features: (T, C, H, W) features of the winning point per pixel (``background`` where empty).
        depth: (T, 1, H, W) z-depth of the winning point (0 where empty).
        mask: (T, 1, H, W) bool, True where some point covers the pixel.
        index: (T, 1, H, W) int64 index of the winning point (-1 where empty).
    """

    features: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    index: torch.Tensor


def available_backends() -> list[str]:
    backends = ["torch"]
    try:
        import pytorch3d.renderer  # noqa: F401

        backends.append("pytorch3d")
    except ImportError:
        pass
    return backends


def render_points(points: torch.Tensor, features: torch.Tensor, cameras: Cameras, radius=None,
                  max_splat_px: int = 4, near: float = 1e-3, background: float = 0.0,
                  backend: str = "torch", max_batch_points: int = 8_000_000) -> RenderedPoints:
    """Renders coloured points into cameras with a z-buffer.

    Args:
        points: (N, 3) world points.
        features: (N, C) per-point features (e.g. RGB in [0, 1]).
        cameras: :class:`Cameras` with batch shape (T,) (or () for one camera); T = 0 gives empty (0, ...) results.
        radius: None (each point covers only the pixel it falls in), a float, or an (N,) tensor: the world
            radius of each point's disc.
        max_splat_px: the largest splat radius in pixels (bounds the work for points very close to a camera).
        near: points with z-depth <= ``near`` are clipped.
        background: feature value of empty pixels.
        backend: ``"torch"`` or ``"pytorch3d"`` (when installed).
        max_batch_points: caps T * N per internal batch of cameras (memory bound).

    Returns:
        :class:`RenderedPoints` with (T, ...) tensors.
    """
    if not isinstance(cameras, Cameras):
        raise ValueError(f"cameras: expected a Cameras instance, got {type(cameras).__name__}")
    single = len(cameras.batch_shape) == 0
    if single:
        cameras = cameras.unsqueeze(0)
    if len(cameras.batch_shape) != 1:
        raise ValueError(f"cameras: expected batch shape (T,), got {tuple(cameras.batch_shape)}")
    pts = as_float_tensor("points", points, dtype=cameras.dtype)
    check_shape("points", pts, ("N", 3))
    extent = max(abs(b) for b in finite_range("points", pts))  # max |t| (0 when empty)
    feats = as_float_tensor("features", features)
    check_shape("features", feats, (pts.shape[0], "C"))
    finite_range("features", feats)
    # The z-buffer orders depths by their float bits, valid for positive depths only: near must be >= 0.
    check_number("near", near, 0, strict=False)
    check_number("background", background)
    rad = None
    if radius is not None:
        rad = as_float_tensor("radius", radius, dtype=cameras.dtype)
        if rad.dim() == 0:
            rad = rad.expand(pts.shape[0])
        check_shape("radius", rad, (pts.shape[0],))
        if bool((rad < 0).any()) or not bool(torch.isfinite(rad).all()):
            raise ValueError("radius: expected finite values >= 0")
    if isinstance(max_splat_px, bool) or not isinstance(max_splat_px, int) or not 0 <= max_splat_px <= MAX_SPLAT_PX:
        raise ValueError(f"max_splat_px: expected an int in [0, {MAX_SPLAT_PX}] (MAX_SPLAT_PX), got {max_splat_px!r}")
    if pts.shape[0] >= _IDX_MASK:
        raise ValueError(f"points: at most {_IDX_MASK - 1} points per call, got {pts.shape[0]}")

    if backend not in ("torch", "pytorch3d"):
        raise ValueError(f"backend: expected one of {available_backends()}, got {backend!r}")
    if len(cameras) == 0:  # no views: empty (0, ...) results, as for any T
        h, w, dev = cameras.height, cameras.width, pts.device
        out = RenderedPoints(feats.new_full((0, feats.shape[1], h, w), float(background)),
                             torch.zeros(0, 1, h, w, device=dev), torch.zeros(0, 1, h, w, dtype=torch.bool, device=dev),
                             torch.full((0, 1, h, w), -1, dtype=torch.int64, device=dev))
    elif backend == "pytorch3d":
        out = _render_pytorch3d(pts, feats, cameras, rad, max_splat_px, near, background)
    else:
        outs = []
        per = max(1, max_batch_points // max(pts.shape[0], 1))
        for start in range(0, len(cameras), per):
            outs.append(_render_torch(pts, feats, cameras[start:start + per], rad, max_splat_px, near, background,
                                     extent))
        fields = zip(*((o.features, o.depth, o.mask, o.index) for o in outs), strict=True)
        out = RenderedPoints(*(torch.cat(parts) for parts in fields))
    if single:
        out = RenderedPoints(out.features[0], out.depth[0], out.mask[0], out.index[0])
    return out


def point_blocks(points: torch.Tensor, block: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inverse, centres)``: the cube of side ``block`` each point (N, 3) lies in, as an index (N,) into the
    occupied cubes' centres (B, 3). Computed once per point set, reused by every :func:`cull_points` call."""
    from worldmem.geometry.voxel_keys import key_centers, point_keys

    # Packed 64-bit cube keys: a flat unique is several times faster than a unique over coordinate rows.
    uniq, inverse = torch.unique(point_keys(points.float(), block), return_inverse=True)
    return inverse, key_centers(uniq, block)


def cull_points(points: torch.Tensor, cameras: Cameras, max_splat_px: int, block: float,
                near: float = 1e-3, blocks: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor | None:
    """Indices of the points that :func:`render_points` could draw into any of ``cameras``, found per block.

    Points are grouped in cubes of side ``block`` (world units); a cube is dropped when its bounding sphere lies
    wholly behind ``near`` or wholly outside one side plane of a camera's frustum widened by ``max_splat_px``
    pixels, where the renderer drops every point anyway, so rendering the kept points gives exactly the render
    of all of them. Returns None (keep everything) when nothing would be dropped or the intrinsics are skewed.

    Args:
        points: (N, 3) world points.
        cameras: (T,) cameras.
        max_splat_px: the renderer's ``max_splat_px`` (its margin around the image).
        block: cube side, world units.
        blocks: :func:`point_blocks` of these points and ``block`` (computed here when None).
    """
    if len(cameras.batch_shape) == 0:
        cameras = cameras.unsqueeze(0)
    n = points.shape[0]
    k = cameras.K.float()
    if n == 0 or bool((k[:, 0, 1] != 0).any()) or bool((k[:, 1, 0] != 0).any()):
        return None
    inverse, centres = point_blocks(points, block) if blocks is None else blocks
    radius = 0.5 * math.sqrt(3.0) * block * 1.001 + 1e-6
    cam = cameras.cam_from_world.float()
    c = centres @ cam[:, :3, :3].transpose(1, 2) + cam[:, None, :3, 3]  # (T, B, 3) in camera axes
    x, y, z = c.unbind(-1)
    m = float(max_splat_px)
    visible = z > near - radius

    def inside(coord, lo_px, hi_px, f, centre):  # both side planes of one image axis
        a_lo = ((lo_px - centre) / f)[:, None]
        a_hi = ((hi_px - centre) / f)[:, None]
        d_lo = (coord - a_lo * z) / torch.sqrt(1 + a_lo * a_lo)
        d_hi = (a_hi * z - coord) / torch.sqrt(1 + a_hi * a_hi)
        return (d_lo >= -radius) & (d_hi >= -radius)

    visible &= inside(x, -m, cameras.width + m, k[:, 0, 0], k[:, 0, 2])
    visible &= inside(y, -m, cameras.height + m, k[:, 1, 1], k[:, 1, 2])
    keep_block = visible.any(dim=0)
    if bool(keep_block.all()):
        return None
    return keep_block[inverse].nonzero()[:, 0]


def downsample_render(rendered: RenderedPoints, factor: int, min_coverage: float = 0.5) -> RenderedPoints:
    """A render made at ``factor`` times the size per side, box-filtered down to one sample per pixel.

    A pixel is covered when at least ``min_coverage`` of its ``factor**2`` samples are; its features and depth
    are the means over its covered samples (so edges are anti-aliased rather than picked by one sample), and
    its index is the winning point of its first covered sample in row-major order. Uncovered pixels keep the
    background features of the first sample, depth 0 and index -1.
    """
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"factor: expected an int >= 1, got {factor!r}")
    if factor == 1:
        return rendered
    t, c, hh, ww = rendered.features.shape
    if hh % factor or ww % factor:
        raise ValueError(f"rendered: expected a size divisible by {factor}, got {(hh, ww)}")
    h, w = hh // factor, ww // factor

    def blocks(x: torch.Tensor) -> torch.Tensor:  # (T, C, hh, ww) -> (T, C, h, w, factor * factor)
        x = x.reshape(t, x.shape[1], h, factor, w, factor).permute(0, 1, 2, 4, 3, 5)
        return x.reshape(t, x.shape[1], h, w, factor * factor)

    m = blocks(rendered.mask)
    count = m.sum(-1)
    mask = count >= min_coverage * factor * factor
    denom = count.clamp_min(1).to(rendered.features.dtype)
    feats = (blocks(rendered.features) * m).sum(-1) / denom
    feats = torch.where(mask, feats, blocks(rendered.features)[..., 0])
    depth = torch.where(mask, (blocks(rendered.depth) * m).sum(-1) / denom.to(rendered.depth.dtype),
                        torch.zeros((), dtype=rendered.depth.dtype))
    first = m.to(torch.uint8).argmax(-1, keepdim=True)
    index = torch.gather(blocks(rendered.index), -1, first)[..., 0]
    index = torch.where(mask, index, torch.full_like(index, -1))
    return RenderedPoints(features=feats.contiguous(), depth=depth.contiguous(), mask=mask, index=index)


def _project(pts: torch.Tensor, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u, v, z), each (T, N) float32, of points (N, 3) in cameras (T,): one batched matrix product with
    ``P = K [R | t]`` whose (T, 3, N) output gives every later step contiguous rows."""
    proj = cameras.K.float() @ cameras.cam_from_world.float()[:, :3, :]  # (T, 3, 4)
    pts_t = pts.float().T  # (3, N), a transposed view: the product reads it without a copy
    uvw = torch.baddbmm(proj[:, :, 3:], proj[:, :, :3], pts_t.expand(len(proj), 3, -1))  # (T, 3, N): zu, zv, z
    z = uvw[:, 2]
    # No guard for z = 0: the inf / nan coordinates fail every bounds check below, as points behind ``near`` do.
    return uvw[:, 0] / z, uvw[:, 1] / z, z


def _plain_zbuffer(pts, cameras: Cameras, near: float, extent: float) -> torch.Tensor:
    """Packed keys (T * H * W,) of the nearest point per pixel (``_EMPTY`` where none), each point covering
    only the pixel it falls in; ``extent`` bounds |points|.

    No compaction and no bounds comparisons: the buffer has a one-pixel ring around each image, projections
    are clamped into image + ring (points off the image land on the ring, which is cropped away), and points
    behind ``near`` (and at z = 0, whose u, v may be nan) go to one dump slot; only points so far out that their
    projection could overflow (never in practice) need a finiteness check. Points are taken in chunks so
    that every intermediate stays in cache; the projection of a chunk is bit-identical to that of all points
    (each output column of the product depends on its own point only). The keys are reduced as float64 bit
    patterns: non-negative int64 values below the +inf pattern order exactly like the doubles they spell, and
    torch's float64 ``amin`` scatter is markedly faster than its int64 one.
    """
    t_count, h, w = len(cameras), cameras.height, cameras.width
    hp, wp = h + 2, w + 2
    dump = t_count * hp * wp
    flat_dtype = torch.float32 if dump < 1 << 24 else torch.float64  # exact integers either way
    proj = cameras.K.float() @ cameras.cam_from_world.float()[:, :3, :]  # (T, 3, 4)
    base = (torch.arange(t_count, dtype=flat_dtype, device=pts.device) * (hp * wp) + (wp + 1)).view(t_count, 1)
    width = torch.tensor(float(wp), dtype=flat_dtype, device=pts.device)
    ring = torch.full((dump + 1,), math.inf, dtype=torch.float64, device=pts.device)
    pts_t = pts.float().T  # (3, N), a transposed view
    overflow = 4.0 * (extent + 1.0) * float(proj.abs().amax()) > 1e37
    n = pts_t.shape[1]
    step = max(1, _CHUNK // t_count)
    for start in range(0, n, step):
        chunk = pts_t[:, start:start + step]
        uvw = torch.baddbmm(proj[:, :, 3:], proj[:, :, :3], chunk.expand(t_count, 3, -1))  # (T, 3, c)
        z = uvw[:, 2]
        cx = torch.floor(uvw[:, 0] / z).clamp_(-1.0, float(w)).to(flat_dtype).add_(base)
        cy = torch.floor(uvw[:, 1] / z).clamp_(-1.0, float(h)).to(flat_dtype)
        ok = z > near
        if overflow:
            ok &= torch.isfinite(cx) & torch.isfinite(cy)
        flat = torch.where(ok, torch.addcmul(cx, cy, width), float(dump)).to(torch.int64)
        # (z_bits << 31) | point index in one pass: positive float32 bits are below 2**31, so nothing overflows.
        keys = torch.add(torch.arange(start, start + z.shape[1], dtype=torch.int64, device=z.device), z.view(torch.int32),
                         alpha=1 << _IDX_BITS)  # the int32 bits are widened inside the add
        ring.scatter_reduce_(0, flat.reshape(-1), keys.reshape(-1).view(torch.float64), reduce="amin",
                             include_self=True)
    keys = ring[:dump].view(torch.int64).view(t_count, hp, wp)[:, 1:-1, 1:-1].reshape(-1)
    return torch.where(keys == _INF_BITS, _EMPTY, keys)


def _render_torch(pts, feats, cameras: Cameras, rad, max_splat_px, near, background, extent) -> RenderedPoints:
    t_count, h, w = len(cameras), cameras.height, cameras.width
    n, c = feats.shape
    hw = h * w
    dump = t_count * hw  # one extra z-buffer slot that takes every candidate outside the images
    zbuf = torch.full((dump + 1,), _EMPTY, dtype=torch.int64, device=pts.device)
    if rad is None:
        zbuf[:dump] = _plain_zbuffer(pts, cameras, near, extent)
    else:
        u, v, z = _project(pts, cameras)  # (T, N) each
        # Pixel containing the projection (pixel centres at integer + 0.5).
        px, py = torch.floor(u), torch.floor(v)
        # Flat pixel indices are formed in floating point (exact below 2**24 in float32) and converted once.
        flat_dtype = torch.float32 if dump < 1 << 24 else torch.float64
        width = torch.tensor(float(w), dtype=flat_dtype, device=pts.device)
        keep = ((z > near) & (px >= -max_splat_px) & (px < w + max_splat_px) & (py >= -max_splat_px)
                & (py < h + max_splat_px))
        sel = keep.reshape(-1).nonzero()[:, 0]
        cam_idx, pt_idx = sel // n, sel % n
        u, v, px, py, zk = (a.reshape(-1)[sel] for a in (u, v, px, py, z))
        keys = (zk.contiguous().view(torch.int32).to(torch.int64) << _IDX_BITS) | pt_idx
        flat_base = (cam_idx * hw).to(flat_dtype)

        def scatter(flat0, lkeys, ok, offset=0):
            flat = torch.where(ok, flat0 + offset, float(dump))
            zbuf.scatter_reduce_(0, flat.to(torch.int64), lkeys, reduce="amin", include_self=True)

        scatter(torch.addcmul(px.to(flat_dtype) + flat_base, py.to(flat_dtype), width), keys,
                (px >= 0) & (px < w) & (py >= 0) & (py < h))
        if len(zk):
            fx = cameras.K[:, 0, 0].float()[cam_idx]
            fy = cameras.K[:, 1, 1].float()[cam_idx]
            r_px = torch.clamp(0.5 * (fx + fy) * rad.float()[pt_idx] / zk, max=float(max_splat_px))
            reach = int(math.ceil(float(r_px.max()))) if r_px.numel() else 0
            for ring in range(1, reach + 1):
                # A pixel ``ring`` pixels away (Chebyshev) has its centre at least ring - 0.5 from any point in
                # the centre pixel: only points with a radius that large can reach it.
                level = (r_px >= ring - 0.5).nonzero()[:, 0]
                if level.numel() == 0:
                    break
                lpx, lpy, lr, lkeys = px[level], py[level], r_px[level], keys[level]
                r2 = lr * lr
                fu = lpx - u[level] + 0.5  # offset pixel centre minus projection = fu + ox
                fv = lpy - v[level] + 0.5
                flat0 = torch.addcmul(lpx.to(flat_dtype) + flat_base[level], lpy.to(flat_dtype), width)
                for oy in range(-ring, ring + 1):
                    dy = fv + oy
                    dy2 = dy * dy
                    row_ok = (lpy >= -oy) & (lpy < h - oy)
                    for ox in range(-ring, ring + 1):
                        if max(abs(ox), abs(oy)) != ring:
                            continue
                        dx = fu + ox
                        ok = row_ok & (lpx >= -ox) & (lpx < w - ox) & (torch.addcmul(dy2, dx, dx) <= r2)
                        scatter(flat0, lkeys, ok, oy * w + ox)

    zbuf = zbuf[:dump]
    mask = zbuf != _EMPTY
    index = torch.where(mask, zbuf & _IDX_MASK, torch.full_like(zbuf, -1))
    depth = torch.where(mask, (zbuf >> _IDX_BITS).to(torch.int32).view(torch.float32), torch.zeros((), dtype=torch.float32))
    out_feats = torch.full((t_count * hw, c), float(background), dtype=feats.dtype, device=feats.device)
    out_feats[mask] = feats.index_select(0, index[mask])
    return RenderedPoints(
        features=out_feats.view(t_count, h, w, c).permute(0, 3, 1, 2).contiguous(),
        depth=depth.view(t_count, 1, h, w),
        mask=mask.view(t_count, 1, h, w),
        index=index.view(t_count, 1, h, w),
    )


def _render_pytorch3d(pts, feats, cameras: Cameras, rad, max_splat_px, near, background) -> RenderedPoints:
    """The same contract through pytorch3d's rasterizer (square-ish discs in its NDC space)."""
    try:
        from pytorch3d.renderer.points import rasterize_points
        from pytorch3d.structures import Pointclouds
    except ImportError as err:
        raise ValueError("backend: 'pytorch3d' was requested but pytorch3d is not installed") from err
    t_count, h, w = len(cameras), cameras.height, cameras.width
    s = min(h, w)
    uv, z = cameras.project(pts)
    clouds, radii, index_maps = [], [], []
    for i in range(t_count):
        keep = z[i] > near
        ids = torch.nonzero(keep)[:, 0]
        # pytorch3d NDC: +x left, +y up, the shorter image side spans [-1, 1].
        x_ndc = -(uv[i, ids, 0] - w / 2.0) * 2.0 / s
        y_ndc = -(uv[i, ids, 1] - h / 2.0) * 2.0 / s
        clouds.append(torch.stack([x_ndc, y_ndc, z[i, ids]], dim=-1).float())
        if rad is None:
            r_px = torch.full_like(z[i, ids], 0.5)
        else:
            f = 0.5 * float(cameras.K[i, 0, 0] + cameras.K[i, 1, 1])
            r_px = torch.clamp(f * rad[ids] / z[i, ids], min=0.5, max=float(max_splat_px))
        radii.append((r_px * 2.0 / s).float())
        index_maps.append(ids)
    cloud = Pointclouds(points=clouds)
    radius = torch.nn.utils.rnn.pad_sequence(radii, batch_first=True)
    idx, zbuf, _ = rasterize_points(cloud, image_size=(h, w), radius=radius, points_per_pixel=1)
    idx = idx[..., 0]
    all_ids = torch.cat(index_maps)
    mask = idx >= 0
    index = torch.full_like(idx, -1)
    index[mask] = all_ids[idx[mask]]
    depth = torch.where(mask, zbuf[..., 0], torch.zeros_like(zbuf[..., 0]))
    out_feats = torch.full((t_count, h, w, feats.shape[1]), float(background), dtype=feats.dtype, device=feats.device)
    out_feats[mask] = feats[index[mask]]
    return RenderedPoints(out_feats.permute(0, 3, 1, 2).contiguous(), depth[:, None], mask[:, None], index[:, None])
