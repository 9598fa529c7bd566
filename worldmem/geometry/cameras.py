"""Pinhole cameras in one convention.

Conventions (the only ones used inside worldmem; see docs/conventions.md):

- Camera axes are OpenCV's: +x right, +y down, +z forward (the viewing direction).
- Extrinsics are ``cam_from_world``: a rigid 4x4 matrix with ``x_cam = R @ x_world + t``.
  ``world_from_cam`` is its inverse; a camera's centre is ``world_from_cam[..., :3, 3]``.
- Intrinsics ``K`` are in pixels for the stated ``(height, width)``: ``u = fx * x / z + cx``,
  ``v = fy * y / z + cy``. Pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``; its centre is at
  ``(u, v) = (j + 0.5, i + 0.5)``.
- Depth is z-depth along the optical axis (not the distance along the ray), in scene units; 0 = unknown.

Other conventions enter and leave only through the named converters: :meth:`Cameras.from_opengl` /
:meth:`Cameras.to_opengl` (OpenGL/Blender/nerfstudio ``world_from_cam``, +y up, +z backward) and
:meth:`Cameras.from_realestate10k` / :meth:`Cameras.to_realestate10k`.

The tensor-level math (rigid inversion, projection, pixel grids) is in :mod:`worldmem.geometry.transforms`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from worldmem.geometry.transforms import (
    OPENGL_FROM_OPENCV,
    intrinsics_from_fov,
    invert_rigid,
    pixel_centers,
    project_points,
)
from worldmem.utils.checks import as_float_tensor, check_finite, check_shape

__all__ = ["Cameras", "intrinsics_from_fov", "invert_rigid", "OPENGL_FROM_OPENCV", "MAX_IMAGE_SIDE", "FOCAL_RANGE"]

_ROTATION_TOL = 1e-3
MAX_IMAGE_SIDE = 16384
"""The largest image height or width a camera may have (a render allocates (T, C, H, W) buffers)."""
FOCAL_RANGE = (1e-4, 1e4)
"""Focal lengths (and the principal point's and skew's magnitude, upper bound only) relative to the image's longer
side: fields of view between about 0.006 and 179.99 degrees. Outside it projections collapse onto one pixel or
overflow float32 (a focal length of 1e-30 or 1e30 pixels)."""


@dataclass(frozen=True)
class Cameras:
    """A batch of pinhole cameras sharing one image size.

    Attributes:
        cam_from_world: (..., 4, 4) rigid transforms, OpenCV axes, ``x_cam = R @ x_world + t``.
        K: (..., 3, 3) intrinsics in pixels for images of ``height`` x ``width``, with the batch shape of
            ``cam_from_world`` (a single (3, 3) ``K`` is expanded to it; other shapes that merely broadcast are
            refused), upper triangular with last row (0, 0, 1), stored in ``cam_from_world``'s dtype and device.
        height, width: the image size ``K`` refers to.

    Construction checks shapes, finiteness, that rotations are orthonormal with determinant +1 and that
    ``K`` has positive focal lengths within :data:`FOCAL_RANGE`; violations raise ``ValueError`` naming the
    argument. The constructor, :meth:`from_opengl`, :meth:`from_realestate10k`, :meth:`from_dict` and the
    methods that take new numbers (:meth:`transform_world`, :meth:`resize`, :meth:`crop`) are where values enter,
    so they run every check. Cameras derived from checked ones (indexing, :meth:`cat`, :meth:`unsqueeze`,
    :meth:`to` without narrowing the dtype, :meth:`relative_to`) only have their shapes checked: their values are
    rearranged, widened or multiplied by rigid transforms, never made up.
    """

    cam_from_world: torch.Tensor
    K: torch.Tensor
    height: int
    width: int

    def __post_init__(self) -> None:
        m = as_float_tensor("cam_from_world", self.cam_from_world)
        k = as_float_tensor("K", self.K, dtype=m.dtype).to(m.device)
        check_shape("cam_from_world", m, (..., 4, 4))
        check_shape("K", k, (..., 3, 3))
        if k.shape[:-2] != m.shape[:-2]:
            if k.dim() == 2:
                k = k.expand(*m.shape[:-2], 3, 3).clone()
            else:
                raise ValueError(
                    f"K: expected shape {tuple(m.shape[:-2]) + (3, 3)} (or (3, 3)) to match cam_from_world "
                    f"{tuple(m.shape)}, got {tuple(k.shape)}"
                )
        for name, value in (("height", self.height), ("width", self.width)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_IMAGE_SIDE:
                raise ValueError(f"{name}: expected a positive int <= {MAX_IMAGE_SIDE} (MAX_IMAGE_SIDE), got {value!r}")
        check_finite("cam_from_world", m)
        check_finite("K", k)
        if m.numel():
            bottom = m[..., 3, :]
            ref = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=m.dtype, device=m.device)
            if not torch.allclose(bottom, ref.expand_as(bottom), atol=1e-5):
                raise ValueError("cam_from_world: expected last row (0, 0, 0, 1) in every 4x4 matrix")
            r = m[..., :3, :3].double()
            eye = torch.eye(3, dtype=r.dtype, device=r.device)
            ortho_err = (r @ r.transpose(-1, -2) - eye).abs().amax()
            det = torch.linalg.det(r)
            if float(ortho_err) > _ROTATION_TOL or bool(((det - 1.0).abs() > _ROTATION_TOL).any()):
                raise ValueError(
                    "cam_from_world: expected rigid transforms (orthonormal rotation with det +1); got a "
                    f"singular, scaled or reflecting matrix (max |R R^T - I| = {float(ortho_err):.3g})"
                )
            if bool((k[..., 0, 0] <= 0).any()) or bool((k[..., 1, 1] <= 0).any()):
                raise ValueError("K: expected positive focal lengths fx = K[0, 0] and fy = K[1, 1]")
            side = max(self.height, self.width)
            lo, hi = FOCAL_RANGE[0] * side, FOCAL_RANGE[1] * side
            focal = torch.stack([k[..., 0, 0], k[..., 1, 1]])
            if float(focal.amin()) < lo or float(focal.amax()) > hi:
                raise ValueError(f"K: expected focal lengths in [{lo:.3g}, {hi:.3g}] pixels ({FOCAL_RANGE[0]:g} to "
                                 f"{FOCAL_RANGE[1]:g} x the image's longer side {side}), got "
                                 f"[{float(focal.amin()):.3g}, {float(focal.amax()):.3g}]")
            if float(k[..., :2, 1:].abs().amax()) > hi:  # skew and principal point
                raise ValueError(f"K: expected a principal point and skew within +-{hi:.3g} pixels, got "
                                 f"{float(k[..., :2, 1:].abs().amax()):.3g}")
            if bool((k[..., 2, :] - torch.tensor([0.0, 0.0, 1.0], dtype=k.dtype, device=k.device)).abs().amax() > 1e-6):
                raise ValueError("K: expected last row (0, 0, 1)")
            if bool((k[..., 1, 0] != 0).any()):
                raise ValueError("K: expected an upper-triangular intrinsics matrix (K[1, 0] = 0), got "
                                 f"K[1, 0] = {float(k[..., 1, 0].flatten()[(k[..., 1, 0] != 0).flatten()][0]):.4g}")
        object.__setattr__(self, "cam_from_world", m)
        object.__setattr__(self, "K", k)

    @classmethod
    def _derived(cls, cam_from_world: torch.Tensor, K: torch.Tensor, height: int, width: int) -> Cameras:
        """Cameras made from the tensors of checked cameras (a slice, a concatenation, a wider dtype, another
        device, a change of reference frame), which need no value checks.

        The shapes are checked (an index can reach into the matrices); tensors that are not two float32 or float64
        matrix stacks of one batch shape, dtype and device go through every check of the constructor instead.
        """
        m, k = cam_from_world, K
        if not (m.shape[-2:] == (4, 4) and k.shape[-2:] == (3, 3) and m.shape[:-2] == k.shape[:-2]
                and m.dtype == k.dtype and m.dtype in (torch.float32, torch.float64) and m.device == k.device):
            return cls(m, k, height, width)
        cameras = object.__new__(cls)
        object.__setattr__(cameras, "cam_from_world", m)
        object.__setattr__(cameras, "K", k)
        object.__setattr__(cameras, "height", height)
        object.__setattr__(cameras, "width", width)
        return cameras

    # ------------------------------------------------------------------ container protocol
    @property
    def batch_shape(self) -> torch.Size:
        return self.cam_from_world.shape[:-2]

    @property
    def dtype(self) -> torch.dtype:
        return self.cam_from_world.dtype

    @property
    def device(self) -> torch.device:
        return self.cam_from_world.device

    def __len__(self) -> int:
        if len(self.batch_shape) == 0:
            raise TypeError("len() of a single (unbatched) camera")
        return self.batch_shape[0]

    def __getitem__(self, index) -> Cameras:
        if len(self.batch_shape) == 0:
            raise IndexError("cannot index a single (unbatched) camera")
        return Cameras._derived(self.cam_from_world[index], self.K[index], self.height, self.width)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @staticmethod
    def cat(cameras: Sequence[Cameras]) -> Cameras:
        """Concatenates batches of cameras along the first dimension; all must share the image size."""
        cameras = list(cameras)
        if not cameras:
            raise ValueError("cameras: expected at least one Cameras to concatenate")
        h, w = cameras[0].height, cameras[0].width
        for c in cameras:
            if (c.height, c.width) != (h, w):
                raise ValueError(f"cameras: expected one image size {(h, w)}, got {(c.height, c.width)}")
        for c in cameras:
            if (c.height, c.width) != (h, w):
                raise ValueError(f"cameras: expected one image size {(h, w)}, got {(c.height, c.width)}")
        as_batch = [c.unsqueeze(0) if len(c.batch_shape) == 0 else c for c in cameras]
        return Cameras._derived(
            torch.cat([c.cam_from_world for c in as_batch]), torch.cat([c.K for c in as_batch]), h, w
        )

    def unsqueeze(self, dim: int) -> Cameras:
        """The cameras with a batch dimension of size 1 inserted at ``dim`` (a tensor dimension: 0 .. batch dims)."""
        return Cameras._derived(self.cam_from_world.unsqueeze(dim), self.K.unsqueeze(dim), self.height, self.width)

    def to(self, device=None, dtype=None) -> Cameras:
        """The same cameras on ``device`` and/or in ``dtype``; a narrower dtype (float64 to float32) is checked
        again, since rounding can overflow or leave the valid ranges."""
        m = self.cam_from_world.to(device=device, dtype=dtype)
        k = self.K.to(device=device, dtype=dtype)
        if m.dtype == self.dtype or m.dtype == torch.float64:
            return Cameras._derived(m, k, self.height, self.width)
        return Cameras(m, k, self.height, self.width)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Cameras)
            and (self.height, self.width) == (other.height, other.width)
            and self.cam_from_world.shape == other.cam_from_world.shape
            and bool(torch.equal(self.cam_from_world, other.cam_from_world))
            and bool(torch.equal(self.K, other.K))
        )

    __hash__ = None  # mutable tensors inside

    def allclose(self, other: Cameras, atol: float = 1e-5) -> bool:
        return (
            (self.height, self.width) == (other.height, other.width)
            and self.cam_from_world.shape == other.cam_from_world.shape
            and torch.allclose(self.cam_from_world, other.cam_from_world, atol=atol)
            and torch.allclose(self.K, other.K, atol=atol * max(1.0, float(self.K.abs().max())))
        )

    def __repr__(self) -> str:
        return f"Cameras(batch_shape={tuple(self.batch_shape)}, height={self.height}, width={self.width})"

    # ------------------------------------------------------------------ extrinsics
    @property
    def world_from_cam(self) -> torch.Tensor:
        """(..., 4, 4) camera-to-world transforms (OpenCV camera axes)."""
        return invert_rigid(self.cam_from_world)

    @property
    def centers(self) -> torch.Tensor:
        """(..., 3) camera centres in world coordinates."""
        r = self.cam_from_world[..., :3, :3]
        t = self.cam_from_world[..., :3, 3:]
        return (-r.transpose(-1, -2) @ t)[..., 0]

    @property
    def forward(self) -> torch.Tensor:
        """(..., 3) unit viewing directions (camera +z) in world coordinates."""
        return self.cam_from_world[..., 2, :3]

    def relative_to(self, reference: Cameras) -> Cameras:
        """Re-expresses these cameras in the frame of one ``reference`` camera (which becomes the identity).

        ``new.cam_from_world = cam_from_world @ reference.world_from_cam``; the reference must be a single
        camera (batch shape () or (1,)).
        """
        ref = reference.cam_from_world
        if ref.dim() == 3 and ref.shape[0] == 1:
            ref = ref[0]
        if ref.dim() != 2:
            raise ValueError(f"reference: expected one camera (batch shape () or (1,)), got {tuple(reference.batch_shape)}")
        world_from_ref = invert_rigid(ref.to(self.dtype))
        return Cameras._derived(self.cam_from_world @ world_from_ref, self.K, self.height, self.width)

    def transform_world(self, new_from_world: torch.Tensor, scale: float = 1.0) -> Cameras:
        """Cameras in a new world frame ``x_new = scale * (R @ x_world + t)`` (e.g. to normalise scene scale)."""
        m = as_float_tensor("new_from_world", new_from_world, dtype=self.dtype)
        check_shape("new_from_world", m, (4, 4))
        if scale <= 0:
            raise ValueError(f"scale: expected a positive value, got {scale}")
        out = self.cam_from_world @ invert_rigid(m)
        out = out.clone()
        out[..., :3, 3] = out[..., :3, 3] * scale
        return Cameras(out, self.K, self.height, self.width)

    # ------------------------------------------------------------------ projection
    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projects world points into the images.

        Args:
            points: (..., N, 3) world points whose leading dims broadcast against the camera batch
                (e.g. (N, 3) for every camera, or (T, N, 3) with T cameras).

        Returns:
            uv: (..., N, 2) pixel coordinates (pixel centres at integer + 0.5),
            z: (..., N) z-depth in the camera; points with z <= 0 are behind the camera (their uv is not
            meaningful).
        """
        p = as_float_tensor("points", points, dtype=self.dtype)
        check_shape("points", p, (..., 3))
        return project_points(p, self.cam_from_world, self.K)

    def ray_directions(self) -> torch.Tensor:
        """(..., H, W, 3) camera-space rays through pixel centres, scaled so that their z is 1."""
        uv = pixel_centers(self.height, self.width, self.dtype, self.device)
        k_inv = torch.linalg.inv(self.K)[..., None, None, :, :]
        pix = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1)
        return (k_inv @ pix[..., None])[..., 0]

    def unproject(self, depth: torch.Tensor) -> torch.Tensor:
        """Lifts z-depth maps to world points.

        Args:
            depth: (..., 1, H, W) or (..., H, W) z-depth for the cameras' batch (pixels with depth 0 lift to the
                camera centre; mask them out with ``depth > 0``).

        Returns:
            (..., H, W, 3) world points through each pixel centre.
        """
        d = as_float_tensor("depth", depth, dtype=self.dtype)
        nb = len(self.batch_shape)
        if d.dim() == nb + 3:
            check_shape("depth", d, (*self.batch_shape, 1, self.height, self.width))
            d = d[..., 0, :, :]
        else:
            check_shape("depth", d, (*self.batch_shape, self.height, self.width))
        x_cam = self.ray_directions() * d[..., None]
        wfc = self.world_from_cam[..., None, None, :, :]
        return (wfc[..., :3, :3] @ x_cam[..., None])[..., 0] + wfc[..., :3, 3]

    def plucker(self) -> torch.Tensor:
        """(..., 6, H, W) per-pixel Plücker ray coordinates in world space.

        Channels 0-2: the unit ray direction ``d`` (world); channels 3-5: the moment ``m = c x d`` with ``c``
        the camera centre. Use :meth:`relative_to` first for coordinates relative to a reference camera.
        """
        dirs_cam = self.ray_directions()
        r_wc = self.world_from_cam[..., None, None, :3, :3]
        d = (r_wc @ dirs_cam[..., None])[..., 0]
        d = d / d.norm(dim=-1, keepdim=True)
        c = self.centers[..., None, None, :].expand_as(d)
        m = torch.cross(c, d, dim=-1)
        return torch.cat([d, m], dim=-1).movedim(-1, -3)

    # ------------------------------------------------------------------ image-space edits
    def resize(self, height: int, width: int) -> Cameras:
        """The same cameras for images resized (stretched) to ``height`` x ``width``."""
        if height <= 0 or width <= 0:
            raise ValueError(f"resize: expected a positive size, got {(height, width)}")
        sx, sy = width / self.width, height / self.height
        k = self.K.clone()
        k[..., 0, :] = k[..., 0, :] * sx
        k[..., 1, :] = k[..., 1, :] * sy
        return Cameras(self.cam_from_world, k, height, width)

    def crop(self, top: int, left: int, height: int, width: int) -> Cameras:
        """The same cameras for the image window rows [top, top+height), columns [left, left+width)."""
        if top < 0 or left < 0 or height <= 0 or width <= 0 or top + height > self.height or left + width > self.width:
            raise ValueError(
                f"crop: expected a window inside the {self.height}x{self.width} image, got top={top}, left={left}, "
                f"height={height}, width={width}"
            )
        k = self.K.clone()
        k[..., 0, 2] = k[..., 0, 2] - left
        k[..., 1, 2] = k[..., 1, 2] - top
        return Cameras(self.cam_from_world, k, height, width)

    # ------------------------------------------------------------------ converters
    @staticmethod
    def from_opengl(world_from_cam_gl, K, height: int, width: int) -> Cameras:
        """From OpenGL/Blender/nerfstudio camera-to-world matrices (+x right, +y up, +z backward)."""
        m = as_float_tensor("world_from_cam_gl", world_from_cam_gl)
        check_shape("world_from_cam_gl", m, (..., 4, 4))
        check_finite("world_from_cam_gl", m)
        world_from_cam_cv = m @ OPENGL_FROM_OPENCV.to(m)
        return Cameras(_checked_inverse("world_from_cam_gl", world_from_cam_cv), K, height, width)

    def to_opengl(self) -> torch.Tensor:
        """(..., 4, 4) OpenGL/Blender/nerfstudio camera-to-world matrices."""
        return self.world_from_cam @ OPENGL_FROM_OPENCV.to(self.cam_from_world)

    @staticmethod
    def from_realestate10k(rows, height: int, width: int) -> Cameras:
        """From RealEstate10K camera-file rows.

        Args:
            rows: (N, 19) ``timestamp fx fy cx cy 0 0 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3`` or
                (N, 18) without the timestamp. Intrinsics are normalised by the image width (fx, cx) and height
                (fy, cy); the 3x4 matrix is ``cam_from_world`` in OpenCV axes, row-major.
            height, width: the pixel size the cameras are for.
        """
        r = as_float_tensor("rows", rows, dtype=torch.float64)
        if r.dim() != 2 or r.shape[1] not in (18, 19):
            raise ValueError(f"rows: expected shape (N, 19) or (N, 18) (without timestamp), got {tuple(r.shape)}")
        check_finite("rows", r)
        if r.shape[1] == 19:
            r = r[:, 1:]
        n = r.shape[0]
        k = torch.zeros(n, 3, 3, dtype=torch.float64)
        k[:, 0, 0] = r[:, 0] * width
        k[:, 1, 1] = r[:, 1] * height
        k[:, 0, 2] = r[:, 2] * width
        k[:, 1, 2] = r[:, 3] * height
        k[:, 2, 2] = 1.0
        m = torch.zeros(n, 4, 4, dtype=torch.float64)
        m[:, :3, :] = r[:, 6:18].reshape(n, 3, 4)
        m[:, 3, 3] = 1.0
        return Cameras(m.float(), k.float(), height, width)

    def to_realestate10k(self, timestamps=None) -> torch.Tensor:
        """(N, 19) RealEstate10K rows (timestamps default to 0, 1, 2, ...) for a 1-D batch of cameras."""
        if len(self.batch_shape) != 1:
            raise ValueError(f"cameras: expected a 1-D batch, got batch shape {tuple(self.batch_shape)}")
        n = len(self)
        ts = torch.arange(n, dtype=torch.float64) if timestamps is None else torch.as_tensor(timestamps, dtype=torch.float64)
        k = self.K.double()
        out = torch.zeros(n, 19, dtype=torch.float64)
        out[:, 0] = ts
        out[:, 1] = k[:, 0, 0] / self.width
        out[:, 2] = k[:, 1, 1] / self.height
        out[:, 3] = k[:, 0, 2] / self.width
        out[:, 4] = k[:, 1, 2] / self.height
        out[:, 7:] = self.cam_from_world.double()[:, :3, :].reshape(n, 12)
        return out

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """A JSON-ready dict (see docs/conventions.md, "cameras.json")."""
        return {
            "convention": "opencv_cam_from_world",
            "height": self.height,
            "width": self.width,
            "cam_from_world": self.cam_from_world.tolist(),
            "K": self.K.tolist(),
        }

    @staticmethod
    def from_dict(d: dict) -> Cameras:
        if not isinstance(d, dict):
            raise ValueError(f"cameras: expected a mapping with height, width, cam_from_world, K, got {type(d).__name__}")
        for key in ("height", "width", "cam_from_world", "K"):
            if key not in d:
                raise ValueError(f"cameras: missing key {key!r} (expected height, width, cam_from_world, K)")
        if d.get("convention", "opencv_cam_from_world") != "opencv_cam_from_world":
            raise ValueError(f"cameras: expected convention 'opencv_cam_from_world', got {d['convention']!r}")
        for key in ("height", "width"):  # an int, or a float with an integer value (JSON writers vary)
            value = d[key]
            ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
                  and value == int(value) and value > 0)
            if not ok:
                raise ValueError(f"cameras: {key}: expected a positive integer, got {value!r}")
        matrices = []
        for key in ("cam_from_world", "K"):
            try:
                matrices.append(torch.tensor(d[key], dtype=torch.float32))
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"cameras: {key}: expected nested lists of numbers "
                                 f"(..., {4 if key == 'cam_from_world' else 3} x same), got {str(d[key])[:60]!r}") from None
        return Cameras(matrices[0], matrices[1], int(d["height"]), int(d["width"]))


def _checked_inverse(name: str, m: torch.Tensor) -> torch.Tensor:
    r = m[..., :3, :3].double()
    det = torch.linalg.det(r) if m.numel() else torch.ones(0)
    if m.numel() and bool(((det - 1.0).abs() > _ROTATION_TOL).any()):
        raise ValueError(f"{name}: expected rigid transforms (rotation with det +1), got det {float(det.flatten()[0]):.3g}")
    return invert_rigid(m)
