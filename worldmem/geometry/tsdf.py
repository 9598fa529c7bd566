"""A sparse-voxel TSDF (truncated signed distance field) with colour, fused incrementally in torch.

The spatial memory's persistent static map. Only voxels near observed surfaces exist: they live in dense,
growable arrays indexed through :class:`~worldmem.geometry.voxel_blocks.VoxelBlockIndex`, so storage grows with
the surface seen, not with the number of frames, and integrating a frame costs in proportion to its pixels,
never to the size of the map.

Conventions:

- World units are scene units; voxel ``(i, j, k)`` covers ``[i, i+1) x [j, j+1) x [k, k+1)`` times
  ``voxel_size`` and its centre is ``(c + 0.5) * voxel_size``.
- Cameras are :class:`~worldmem.geometry.cameras.Cameras` (OpenCV axes, ``cam_from_world``, pixel centres at
  integer + 0.5). A point projects to pixel ``(row, col) = (floor(v), floor(u))``.
- Depth is z-depth, 0 = unknown. The signed distance is projective and measured along the optical axis:
  ``sdf = D(pixel) - z_voxel`` (positive in front of the surface), truncated to ``trunc = trunc_voxels *
  voxel_size`` and stored normalised to [-1, 1]. Voxels with ``sdf < -trunc`` (occluded) are not updated.
- Each observation has weight 1; a voxel's tsdf and colour are running weighted averages and its weight is
  capped at ``max_weight`` (so old observations can still be outvoted).
- Space carving removes moving things: a voxel met by a pixel ray in front of ``D - trunc`` and confirmed
  in front of the surface by more than ``trunc`` in this frame (along z against the nearest depth of the 3x3
  pixels it projects to, and perpendicular to the surface seen there; :mod:`worldmem.geometry.tsdf_carving`)
  loses ``carve_weight``, once per frame; at weight <= 0 it is dead (not counted, not extracted) until a later
  observation revives it. An object seen in n frames therefore needs about ``n / carve_weight`` frames through
  its old place (capped by ``max_weight``) to disappear.
- Bounded storage: dead voxels are freed (the arrays compacted, survivors keeping their order) whenever they
  make up a quarter of the allocated ones. With ``max_voxels`` the live voxels are also kept within a budget:
  when an integration leaves more, the least recently used are evicted (used = fused, or rendered as the
  winning surface of a pixel: :meth:`touch`; ties go to the lower weight, then the lower dense index) down to
  ``EVICT_TO`` of the budget, so a rollout longer than the budget forgets the places it has not seen for the
  longest time first.

The class owns the storage (a :class:`~worldmem.geometry.voxel_blocks.VoxelBlockIndex` and dense per-voxel arrays)
and the running averages; :mod:`~worldmem.geometry.tsdf_fusion` (which voxels a frame's band samples),
:mod:`~worldmem.geometry.tsdf_carving` (which voxels a frame sees through) and
:mod:`~worldmem.geometry.tsdf_surface` (the zero level set) are functions of that storage, passed to them as
arguments.
"""

from __future__ import annotations

import math

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.transforms import pixel_centers
from worldmem.geometry.tsdf_carving import carved_voxels
from worldmem.geometry.tsdf_fusion import band_voxels, pad_image, project_voxels
from worldmem.geometry.tsdf_surface import update_crossings, zero_crossings
from worldmem.geometry.voxel_blocks import VoxelBlockIndex
from worldmem.geometry.voxel_keys import COORD_LIMIT, key_centers, point_keys
from worldmem.utils import checks

__all__ = ["SparseTSDF"]

_STATE_KEYS = ("keys", "tsdf", "weight", "color", "used", "clock")
EVICT_TO = 0.9
"""Over budget, live voxels are evicted down to this fraction of ``max_voxels`` (amortises the compaction)."""
_DEAD_FRACTION = 0.25
"""Dead voxels are freed when they are at least this fraction of the allocated ones."""


class SparseTSDF:
    """Sparse-voxel TSDF with per-voxel colour.

    Args:
        voxel_size: edge length of a voxel in scene units (> 0).
        trunc_voxels: truncation distance in voxels (> 0); ``trunc = trunc_voxels * voxel_size``.
        max_weight: cap on a voxel's accumulated weight (> 0).
        carve: whether to run space carving (removal of voxels seen to be free space).
        carve_weight: weight a voxel loses per frame that sees through it (> 0).
        carve_stride: carve along every ``carve_stride``-th pixel ray in each image direction (int >= 1), a
            speed/thoroughness trade-off (integration always uses every pixel); None picks, per frame, the
            largest stride whose rays are at most one voxel apart at the frame's median depth.
        depth_max: depth beyond which pixels are treated as unknown (None: no limit).
        max_voxels: budget of live voxels (None: unbounded); see the module notes for the eviction rule.
    """

    def __init__(self, voxel_size: float = 0.05, trunc_voxels: float = 4, max_weight: float = 32.0,
                 carve: bool = True, carve_weight: float = 1.0, carve_stride: int | None = None,
                 depth_max: float | None = None, max_voxels: int | None = None) -> None:
        for name, value in (("voxel_size", voxel_size), ("trunc_voxels", trunc_voxels),
                            ("max_weight", max_weight), ("carve_weight", carve_weight)):
            checks.check_number(name, value, 0)
        if depth_max is not None:
            checks.check_number("depth_max", depth_max, 0)
        if carve_stride is not None and (type(carve_stride) is not int or carve_stride < 1):
            raise ValueError(f"carve_stride: expected None or an int >= 1, got {carve_stride!r}")
        if not isinstance(carve, bool):
            raise ValueError(f"carve: expected a bool, got {carve!r}")
        if max_voxels is not None and (type(max_voxels) is not int or max_voxels < 1):
            raise ValueError(f"max_voxels: expected None or an int >= 1, got {max_voxels!r}")
        self.max_voxels = max_voxels
        self.voxel_size = float(voxel_size)
        self.trunc_voxels = float(trunc_voxels)
        self.max_weight = float(max_weight)
        self.carve = carve
        self.carve_weight = float(carve_weight)
        self.carve_stride = carve_stride
        self.depth_max = None if depth_max is None else float(depth_max)
        self._table = VoxelBlockIndex()
        self._tsdf = torch.zeros(0)
        self._weight = torch.zeros(0)
        self._color = torch.zeros(3, 0)  # channels first: per-voxel gathers and updates run on whole rows
        self._used = torch.zeros(0, dtype=torch.int64)  # the clock at each voxel's last use
        self._clock = 0  # one tick per integrated frame and per touch
        self._changed: list[torch.Tensor] = []  # voxels fused or carved since the last surface()
        self._changed_count = 0
        self._all_changed = True  # surface() must extract everything (nothing extracted yet, a prune, a load)

    # ------------------------------------------------------------------ config and state
    @property
    def trunc(self) -> float:
        """Truncation distance in scene units."""
        return self.trunc_voxels * self.voxel_size

    def config(self) -> dict:
        """The constructor arguments as a JSON-ready dict (``SparseTSDF(**tsdf.config())``)."""
        return {"voxel_size": self.voxel_size, "trunc_voxels": self.trunc_voxels,
                "max_weight": self.max_weight, "carve": self.carve, "carve_weight": self.carve_weight,
                "carve_stride": self.carve_stride, "depth_max": self.depth_max, "max_voxels": self.max_voxels}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors that, with :meth:`config`, rebuild this TSDF exactly (allocated voxels incl. dead ones).

        ``keys`` (N,) int64 packed voxel coordinates in dense-index order, ``tsdf`` (N,), ``weight`` (N,),
        ``color`` (N, 3) float32, ``used`` (N,) int64 the use clock of each voxel's last use and ``clock`` ()
        int64 the clock now.
        """
        n = self._table.size
        return {"keys": self._table.keys.clone(), "tsdf": self._tsdf[:n].clone(),
                "weight": self._weight[:n].clone(), "color": self._color[:, :n].T.contiguous(),
                "used": self._used[:n].clone(), "clock": torch.tensor(self._clock, dtype=torch.int64)}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], config: dict) -> SparseTSDF:
        """Rebuilds a TSDF from :meth:`state_dict` and :meth:`config` outputs."""
        tsdf = cls(**config)
        tsdf.load_state_dict(state)
        return tsdf

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replaces the voxels with those of a :meth:`state_dict`."""
        if set(state) != set(_STATE_KEYS):
            raise ValueError(f"state: expected keys {sorted(_STATE_KEYS)}, got {sorted(state)}")
        keys, n = state["keys"], state["keys"].numel()
        integer = ("keys", "used", "clock")
        for name, shape in (("keys", (n,)), ("tsdf", (n,)), ("weight", (n,)), ("color", (n, 3)), ("used", (n,)),
                            ("clock", ())):
            value, dtype = state[name], "int64" if name in integer else "float"
            if tuple(value.shape) != shape or (name in integer) != (value.dtype == torch.int64):
                raise ValueError(f"state[{name!r}]: expected shape {shape} {dtype}, got {tuple(value.shape)} "
                                 f"{value.dtype}")
        self._table = VoxelBlockIndex.from_keys(keys.clone())
        self._tsdf = state["tsdf"].to(torch.float32).clone()
        self._weight = state["weight"].to(torch.float32).clone()
        self._color = state["color"].to(torch.float32).T.contiguous()
        self._used = state["used"].clone()
        self._clock = int(state["clock"])
        self._changed, self._changed_count, self._all_changed = [], 0, True

    # ------------------------------------------------------------------ voxel queries
    @property
    def num_voxels(self) -> int:
        """Number of live voxels (weight > 0)."""
        return int((self._weight[: self._table.size] > 0).sum())

    @property
    def num_allocated(self) -> int:
        """Number of allocated voxels, live or dead (the storage in use)."""
        return self._table.size

    def voxel_keys(self, points: torch.Tensor) -> torch.Tensor:
        """Packed int64 keys (N,) of the voxels containing world ``points`` (N, 3)."""
        # float32 like integrate(), so a point on a voxel boundary gets the same key in both
        p = checks.as_float_tensor("points", points, dtype=torch.float32)
        checks.check_shape("points", p, ("N", 3))
        checks.check_finite("points", p)
        if p.numel() and float(p.abs().max()) / self.voxel_size >= COORD_LIMIT:
            raise ValueError(f"points: expected coordinates within +-{COORD_LIMIT * self.voxel_size:.4g}")
        return point_keys(p, self.voxel_size, check=False)  # the range is checked above

    def lookup(self, keys: torch.Tensor) -> torch.Tensor:
        """Dense voxel indices (N,) int64 of ``keys`` (N,); -1 where no voxel is allocated.

        Indices of dead voxels (weight <= 0) are returned too; check :meth:`weights` when that matters.
        """
        return self._table.lookup(keys)

    def weights(self, indices: torch.Tensor | None = None) -> torch.Tensor:
        """Weights (N,) of the voxels at dense ``indices`` (N,) (all allocated voxels if None)."""
        w = self._weight[: self._table.size]
        return w.clone() if indices is None else w[indices]

    def voxel_centers(self, indices: torch.Tensor | None = None) -> torch.Tensor:
        """World centres (N, 3) of the voxels at dense ``indices`` (all allocated voxels if None)."""
        keys = self._table.keys if indices is None else self._table.keys[indices]
        return key_centers(keys, self.voxel_size)

    # ------------------------------------------------------------------ integration
    def integrate(self, rgb: torch.Tensor, depth: torch.Tensor, cameras: Cameras,
                  mask: torch.Tensor | None = None) -> None:
        """Fuses frames into the volume, one after another.

        Args:
            rgb: (T, 3, H, W) float colours in [0, 1].
            depth: (T, 1, H, W) z-depth in scene units, 0 = unknown.
            cameras: (T,) cameras for images of H x W.
            mask: optional (T, 1, H, W) bool; False pixels are treated as unknown depth (e.g. known movers).
        """
        if not isinstance(cameras, Cameras):
            raise ValueError(f"cameras: expected a Cameras of batch shape (T,), got {type(cameras).__name__}")
        rgb = checks.check_images("rgb", rgb)
        t, _, h, w = rgb.shape
        depth = checks.check_depth("depth", depth, num_frames=t, height=h, width=w)
        if tuple(cameras.batch_shape) != (t,):
            raise ValueError(f"cameras: expected batch shape ({t},) to match the {t} frames, got "
                             f"{tuple(cameras.batch_shape)}")
        if (cameras.height, cameras.width) != (h, w):
            raise ValueError(f"cameras: expected image size {(h, w)} to match the frames, got "
                             f"{(cameras.height, cameras.width)}")
        valid = depth > 0
        if mask is not None:
            valid &= checks.check_mask("mask", mask, t, h, w).to(valid.device)
        if self.depth_max is not None:
            valid &= depth <= self.depth_max
        depth = torch.where(valid, depth, torch.zeros_like(depth)).float()
        cams = cameras.to(dtype=torch.float32)
        # Camera rays (z = 1) as Cameras.ray_directions() gives them (bit for bit), one (H * W, 3) product per
        # frame, and only where carving needs them.
        uv = pixel_centers(h, w, torch.float32, depth.device)
        pix = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
        k_inv = torch.linalg.inv(cams.K)
        # Every sample lies within (depth + trunc) * |ray| of its camera: one check up front spares a range
        # check per sample and leaves the map untouched by a call that would fail half-way. |ray| is convex
        # over the image, so the longest ray is a corner's.
        longest = (pix[[0, 0, -1, -1], [0, -1, 0, -1]] @ k_inv.transpose(1, 2)).norm(dim=-1).amax(-1)
        reach = cams.centers.abs().amax(-1) + (depth.amax((1, 2, 3)) + self.trunc) * longest
        if t and float(cams.centers.abs().amax()) * 1.01 / self.voxel_size >= COORD_LIMIT:
            raise ValueError("cameras: centres beyond the volume's range "
                             f"+-{COORD_LIMIT * self.voxel_size:.4g} (scene units), got one at "
                             f"{float(cams.centers.abs().amax()):.3g}")
        if t and float(reach.max()) * 1.01 / self.voxel_size >= COORD_LIMIT:
            raise ValueError("depth: reaches points beyond the volume's range "
                             f"+-{COORD_LIMIT * self.voxel_size:.4g} (scene units)")
        for i in range(t):
            m, k, center = cams.cam_from_world[i], cams.K[i], cams.centers[i]
            if self.carve and self._table.size:
                rays = (pix.reshape(-1, 3) @ k_inv[i].T).view(h, w, 3)
                self._carve_frame(depth[i, 0], rays, rays @ m[:3, :3], center, m, k)  # R^T r in row-vector form
            self._clock += 1
            self._integrate_frame(rgb[i].float(), depth[i, 0], center, m, k)
        self._bound_storage()

    def _integrate_frame(self, rgb, depth, center, cam_from_world, k) -> None:
        valid = depth > 0
        if not bool(valid.any()):
            return
        # Band samples every voxel_size in z over [d - trunc, d + trunc] (<= ~1.2 voxels along the ray for
        # usual fields of view; neighbouring rays fill the gaps).
        coords, idx, allocate = band_voxels(self._table, depth, valid, center, cam_from_world, k,
                                            voxel_size=self.voxel_size, trunc_voxels=self.trunc_voxels)
        # Existing voxels take any observation in front of the surface (free-space evidence, clamped to +1);
        # new voxels are allocated only inside the band, where they can carry a surface.
        pix, zv, dv = project_voxels(coords, self.voxel_size, cam_from_world, k, pad_image(depth))
        sdf = dv - zv
        observed = (dv > 0) & (sdf >= -self.trunc)
        new = observed & (idx < 0) & (sdf <= self.trunc)
        if bool(new.any()):
            idx[new] = allocate(new)  # in ascending key order, as the voxels come
            self._grow_arrays(self._table.size)
        upd = (observed & (idx >= 0)).nonzero()[:, 0]
        idx, pix = idx.index_select(0, upd), pix.index_select(0, upd)  # unique voxels: no write conflicts
        tsdf_obs = (sdf.index_select(0, upd) / self.trunc).clamp(max=1.0)
        color_obs = pad_image(rgb).reshape(3, -1).index_select(1, pix)  # (3, U)
        w_old = self._weight.index_select(0, idx).clamp_min(0.0)  # dead voxels restart from scratch
        w_new = w_old + 1.0
        self._tsdf.index_copy_(0, idx, (self._tsdf.index_select(0, idx) * w_old + tsdf_obs) / w_new)
        self._color.index_copy_(1, idx, (self._color.index_select(1, idx) * w_old + color_obs) / w_new)
        self._weight.index_copy_(0, idx, w_new.clamp(max=self.max_weight))
        self._used.index_fill_(0, idx, self._clock)
        self._note_changed(idx)

    def _carve_frame(self, depth, rays_cam, rays_world, center, cam_from_world, k) -> None:
        carved = carved_voxels(self._table, self._weight[: self._table.size], depth, rays_cam, rays_world, center,
                               cam_from_world, k, voxel_size=self.voxel_size, trunc=self.trunc,
                               stride=self.carve_stride)
        self._weight[carved] = (self._weight[carved] - self.carve_weight).clamp_min(0.0)
        self._note_changed(carved)

    def _grow_arrays(self, n: int) -> None:
        """Ensures room for n voxels in the dense arrays (amortised doubling); new entries start empty."""
        cap = self._tsdf.shape[0]
        if n > cap:
            new_cap = 1 << max(10, math.ceil(math.log2(n)), cap.bit_length())
            self._tsdf, self._weight, self._used = (torch.cat([a, a.new_zeros(new_cap - cap)])
                                                    for a in (self._tsdf, self._weight, self._used))
            self._color = torch.cat([self._color, self._color.new_zeros(3, new_cap - cap)], dim=1)

    # ------------------------------------------------------------------ bounded storage
    def touch(self, indices: torch.Tensor) -> None:
        """Marks the voxels at dense ``indices`` as used now (e.g. rendered), for the budget's eviction order."""
        self._clock += 1
        idx = indices.to(torch.int64).reshape(-1)
        if idx.numel():
            self._used[idx[(idx >= 0) & (idx < self._table.size)]] = self._clock

    def prune(self, keep: torch.Tensor | None = None) -> int:
        """Frees the dead voxels (and, with ``keep`` (N,) bool over the allocated voxels, those it rejects);
        survivors keep their relative order. Returns the number of voxels freed."""
        n = self._table.size
        alive = self._weight[:n] > 0
        if keep is not None:
            alive &= keep
        freed = n - int(alive.sum())
        if freed:
            self._changed, self._changed_count, self._all_changed = [], 0, True  # dense indices move
            self._table = VoxelBlockIndex.from_keys(self._table.keys[alive])
            self._tsdf, self._weight, self._used = (a[:n][alive].clone() for a in (self._tsdf, self._weight, self._used))
            self._color = self._color[:, :n][:, alive].contiguous()
        return freed

    def _bound_storage(self) -> None:
        n = self._table.size
        if not n:
            return
        weight = self._weight[:n]
        live = weight > 0
        n_live = int(live.sum())
        if self.max_voxels is not None and n_live > self.max_voxels:
            target = max(1, int(EVICT_TO * self.max_voxels))
            # Least recently used first; ties: lower weight, then lower dense index (a stable sort).
            order = torch.argsort(weight, stable=True)
            order = order[torch.argsort(self._used[:n][order], stable=True)]
            order = order[live[order]]
            keep = torch.ones(n, dtype=torch.bool)
            keep[order[: n_live - target]] = False
            self.prune(keep)
        elif n - n_live >= max(1024, _DEAD_FRACTION * n):
            self.prune()

    # ------------------------------------------------------------------ extraction
    def extract_points(self, min_weight: float = 1.0, return_voxels: bool = False):
        """Points on the zero level set and their colours.

        For every live voxel with weight >= ``min_weight`` and each axis x, y, z in turn: if the +axis
        neighbour is live with weight >= ``min_weight``, both tsdf values are untruncated (|tsdf| < 1) and
        their signs differ, the linearly interpolated zero crossing between the two centres is emitted.

        Returns:
            points: (N, 3) world points, colours: (N, 3) in [0, 1]; ordered by axis, then by dense voxel
            index (deterministic for a given sequence of integrations); with ``return_voxels`` also the dense
            index (N,) of the voxel each point belongs to (for :meth:`touch`).
        """
        if min_weight <= 0:
            raise ValueError(f"min_weight: expected a value > 0, got {min_weight}")
        n = self._table.size
        pts, cols, vox, _ = zero_crossings(self._table, self._tsdf[:n], self._weight[:n], self._color[:, :n].T,
                                           self.voxel_size, min_weight)
        return (pts, cols, vox) if return_voxels else (pts, cols)

    def surface(self, previous: tuple[torch.Tensor, ...] | None = None, min_weight: float = 1.0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(points, colours, voxels, axes) of the zero level set, as :meth:`extract_points` with the voxel and the
        axis (0, 1, 2) of each crossing.

        ``previous``: what this TSDF's previous call returned. The voxels fused or carved since then are
        tracked, and only the crossings next to them are recomputed (the result equals a fresh extraction, in
        the same order); after a :meth:`prune` or a load, or with no ``previous``, everything is extracted.
        """
        n = self._table.size
        arrays = (self._table, self._tsdf[:n], self._weight[:n], self._color[:, :n].T, self.voxel_size, min_weight)
        if previous is None or self._all_changed:
            out = zero_crossings(*arrays)
        elif self._changed:
            out = update_crossings(*arrays, previous, torch.cat(self._changed))
        else:
            out = previous
        self._changed, self._changed_count, self._all_changed = [], 0, False
        return out

    def _note_changed(self, indices: torch.Tensor) -> None:
        """Records voxels whose values changed, for :meth:`surface`; once more than the allocated voxels were
        recorded, a full extraction is cheaper and the record stops growing."""
        if self._all_changed:
            return
        self._changed.append(indices)
        self._changed_count += indices.numel()
        if self._changed_count > max(1024, self._table.size):
            self._changed, self._changed_count, self._all_changed = [], 0, True
