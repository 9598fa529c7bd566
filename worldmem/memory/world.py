"""WorldMemory: the one place that knows all three memories, and the memory's boundary in scene units.

``write`` sends new frames to the spatial map (TSDF fusion), the working window and the episodic keyframes;
``read`` renders the map along the target cameras, takes the working window, and retrieves the keyframes that
co-see what the targets see (the targets' visible voxels come from the map's rendered depth). ``save`` /
``load`` store the complete state as ``memory.safetensors`` + ``memory.json`` in a folder, written atomically;
a round trip is exact (the same reads, and the same behaviour under further writes).

Units: callers speak **scene units** (their depth and camera translations, any scale). Inside, the memory
works in normalised units (:mod:`worldmem.memory.units`): scene units divided by ``scene_scale``, fixed by the
first write (the median of its known depth) unless given, and saved with the state. ``write``, ``fuse``,
``render``, ``surface_points`` and ``last_camera`` take and return scene units; ``read`` returns a
:class:`MemoryReadout` in normalised units because it is what the model sees, and ``write_generated`` takes
a chunk generated for such a readout back, returning its depth in scene units. No caller converts units.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from worldmem.geometry.cameras import MAX_IMAGE_SIDE, Cameras
from worldmem.memory.config import MemoryConfig
from worldmem.memory.episodic import EpisodicMemory
from worldmem.memory.readout import MemoryReadout, SpatialRender
from worldmem.memory.spatial import SpatialMemory
from worldmem.memory.units import SceneUnits
from worldmem.memory.working import WorkingMemory
from worldmem.utils.checks import check_depth, check_images, check_mask
from worldmem.utils.io import atomic_directory

__all__ = ["WorldMemory"]

FORMAT_VERSION = 1
MAX_FRAMES = 1_000_000
"""The most frames a memory may hold (``num_frames``, by writes or in memory.json): a resumed path builds one camera
per frame, so a claim of 10**9 frames would allocate tens of GB before any work (``worldmem generate`` writes at
most :data:`~worldmem.pipelines.cost.MAX_RUN_FRAMES` per run)."""
MAX_VOXELS = 50_000_000
"""The most map voxels :meth:`WorldMemory.load` reads (about 2.2 GB; the default budget keeps maps at 2 M)."""
MAX_HEADER_BYTES = 1 << 20
"""The largest memory.safetensors header read (a memory's has about 20 tensors: under 2 kB)."""
MAX_JSON_BYTES = 16 << 20
"""The largest memory.json read (its camera path record and prompt: a few kB)."""
MIN_SCENE_SCALE, MAX_SCENE_SCALE = 1e-9, 1e9
"""The scene scale's range (scene units per normalised unit: the median known depth of the first write, or given).
Outside it the normalised cameras and depth lose float32 precision or overflow (depth 1e30 everywhere, 1e-40)."""


class WorldMemory:
    """Spatial + working + episodic memory for one generated (or observed) world.

    Args:
        config: sizes and thresholds of the three memories (:class:`MemoryConfig`), in normalised units;
            defaults when None.
        scene_scale: scene units per normalised unit. None (the default): the median known depth of the first
            write, so that the memory's sizes are relative to the scene; 1.0 for data that is already
            normalised (curated clips) or whose units the config's sizes are meant in.
    """

    def __init__(self, config: MemoryConfig | dict | None = None, scene_scale: float | None = None):
        if isinstance(config, dict):
            config = MemoryConfig.from_dict(config)
        self.config = config or MemoryConfig()
        self.spatial = SpatialMemory(self.config.spatial)
        self.working = WorkingMemory(self.config.working)
        self.episodic = EpisodicMemory(self.config.episodic)
        self.num_frames = 0
        self.image_size: tuple[int, int] | None = None
        units = None if scene_scale is None else SceneUnits(scene_scale)  # finite and > 0
        if units is not None and not MIN_SCENE_SCALE <= units.scale <= MAX_SCENE_SCALE:
            raise ValueError(f"scene_scale: expected None or a number in [{MIN_SCENE_SCALE:g}, {MAX_SCENE_SCALE:g}] "
                             f"(scene units per normalised unit), got {scene_scale!r}")
        self._units = units
        self.metadata: dict = {}  # json-able notes saved with the state (e.g. the camera path that wrote it)

    def __repr__(self) -> str:
        return (f"WorldMemory(frames={self.num_frames}, voxels={self.spatial.num_voxels}, "
                f"working={len(self.working)}, keyframes={len(self.episodic)}, scene_scale={self.scene_scale})")

    @property
    def scene_scale(self) -> float | None:
        """Scene units per normalised unit; None until the first write fixes it."""
        return None if self._units is None else self._units.scale

    def empty_like(self) -> WorldMemory:
        """A new, empty memory with this one's config and units."""
        return WorldMemory(self.config, self.scene_scale)

    # ------------------------------------------------------------------ checks
    def _check_cameras(self, name: str, cameras, count: int | None) -> Cameras:
        if not isinstance(cameras, Cameras):
            raise ValueError(f"{name}: expected a Cameras instance, got {type(cameras).__name__}")
        if len(cameras.batch_shape) != 1:
            raise ValueError(f"{name}: expected batch shape (T,), got {tuple(cameras.batch_shape)}")
        if count is not None and len(cameras) != count:
            raise ValueError(f"{name}: expected {count} cameras (one per frame), got {len(cameras)}")
        if self.image_size is not None and (cameras.height, cameras.width) != self.image_size:
            raise ValueError(
                f"{name}: expected image size {self.image_size} (the memory's), got {(cameras.height, cameras.width)}"
            )
        return cameras

    def _check_write(self, frames, depth, cameras, mask):
        frames = check_images("frames", frames, *(self.image_size or (None, None)))
        t, _, h, w = frames.shape
        depth = check_depth("depth", depth, t, h, w)
        cameras = self._check_cameras("cameras", cameras, t)
        if (cameras.height, cameras.width) != (h, w):
            raise ValueError(f"cameras: expected image size {(h, w)} to match frames, got {(cameras.height, cameras.width)}")
        if mask is not None:
            mask = check_mask("mask", mask, t, h, w)
        return frames, depth, cameras, mask

    def _units_for(self, depth: torch.Tensor) -> SceneUnits:
        if self._units is None:
            units = SceneUnits.from_depth(depth)
            if not MIN_SCENE_SCALE <= units.scale <= MAX_SCENE_SCALE:
                raise ValueError(f"depth: its median known value {units.scale:.3g} would set the scene scale; expected "
                                 f"one in [{MIN_SCENE_SCALE:g}, {MAX_SCENE_SCALE:g}] scene units (or give scene_scale)")
            self._units = units
        return self._units

    def _require_units(self, what: str) -> SceneUnits:
        if self._units is None:
            raise ValueError(f"{what}: the memory is empty (write frames first: they fix its scene scale)")
        return self._units

    # ------------------------------------------------------------------ write
    def write(self, frames, depth, cameras: Cameras, mask=None) -> None:
        """Writes new frames into all three memories.

        Args:
            frames: (T, 3, H, W) float in [0, 1].
            depth: (T, 1, H, W) z-depth in scene units, 0 = unknown. The first write fixes the scene scale
                (unless given to the constructor) and needs some known depth.
            cameras: :class:`Cameras` (T,) for images of H x W, in scene units.
            mask: optional (T, 1, H, W) bool; False pixels are not fused into the spatial map (they still count
                for the working window and keyframes).
        """
        frames, depth, cameras, mask = self._check_write(frames, depth, cameras, mask)
        if frames.shape[0] == 0:
            return
        units = self._units_for(depth)
        self._write_normalised(frames, units.depth_to_normalised(depth), units.cameras_to_normalised(cameras), mask)

    def write_generated(self, frames, depth, readout: MemoryReadout, mask=None) -> torch.Tensor:
        """Writes back a chunk generated for ``readout`` (from :meth:`read`) at its target cameras.

        Args:
            frames: (T, 3, H, W) in [0, 1].
            depth: (T, 1, H, W) z-depth in the readout's (normalised) units, 0 = unknown (e.g. aligned to
                ``readout.reference.depth``).
            mask: optional (T, 1, H, W) bool of the pixels to fuse into the map.

        Returns:
            ``depth`` in scene units.
        """
        units = self._require_units("write_generated")
        frames, depth, cameras, mask = self._check_write(frames, depth, readout.target_cameras, mask)
        if frames.shape[0]:
            self._write_normalised(frames, depth, cameras, mask)
        return units.depth_to_scene(depth)

    def fuse(self, frames, depth, cameras: Cameras, mask=None) -> None:
        """Fuses frames into the spatial map only (no working window, no keyframes); scene units as in
        :meth:`write`. Does not count towards ``num_frames``."""
        frames, depth, cameras, mask = self._check_write(frames, depth, cameras, mask)
        if frames.shape[0] == 0:
            return
        units = self._units_for(depth)
        self.image_size = tuple(frames.shape[-2:])
        self.spatial.write(frames, units.depth_to_normalised(depth), units.cameras_to_normalised(cameras), mask)

    def _write_normalised(self, frames, depth, cameras, mask) -> None:
        t = frames.shape[0]
        if self.num_frames + t > MAX_FRAMES:
            raise ValueError(f"frames: a memory holds at most {MAX_FRAMES} frames (MAX_FRAMES), it has "
                             f"{self.num_frames} and got {t} more")
        self.image_size = tuple(frames.shape[-2:])
        indices = torch.arange(self.num_frames, self.num_frames + t, dtype=torch.int64)
        self.spatial.write(frames, depth, cameras, mask)
        self.working.write(frames, depth, cameras, indices)
        self.episodic.write(frames, depth, cameras, indices)
        self.num_frames += t

    # ------------------------------------------------------------------ read
    def read(self, target_cameras: Cameras, working_window: int | None = None, use_spatial: bool = True,
             use_episodic: bool = True) -> MemoryReadout:
        """Reads the memories for the frames about to be generated at ``target_cameras`` (T,), in scene units.

        Args:
            working_window: the number of newest frames the model reads (None: the memory's whole window;
                0: none); at most ``config.working.window``.
            use_spatial / use_episodic: whether the model sees the map's render / retrieved keyframes.

        Returns:
            :class:`MemoryReadout` in normalised units, exactly what the model sees (a path switched off, or
            empty, is None), plus ``reference``, the map's render at the targets for the write-back.
        """
        cams = self._check_cameras("target_cameras", target_cameras, None)
        capacity = self.config.working.window
        if working_window is not None and (isinstance(working_window, bool) or not isinstance(working_window, int)
                                           or not 0 <= working_window <= capacity):
            raise ValueError(f"working_window: expected an int in [0, {capacity}] (the memory's window), "
                             f"got {working_window!r}")
        units = self._require_units("read")
        cams = units.cameras_to_normalised(cams)
        # One render per chunk: the keyframe retrieval and the write-back alignment need its depth even when
        # the model does not see the map.
        render = self.spatial.render(cams)
        keyframes = None
        if use_episodic and len(self.episodic):
            keyframes = self.episodic.retrieve(self.episodic.visibility(render.depth, cams))
        working = None if working_window == 0 else self.working.read(working_window)
        distant = self.spatial.render_distant(cams)
        if distant is not None:  # the sky shows only where no surface does
            distant.mask = distant.mask & ~render.mask
            distant.rgb = distant.rgb * distant.mask
            distant = distant if bool(distant.mask.any()) else None
        return MemoryReadout(target_cameras=cams, spatial=render if use_spatial else None, working=working,
                             keyframes=keyframes, reference=render, distant=distant)

    def render(self, cameras: Cameras) -> SpatialRender:
        """The map rendered into ``cameras`` (T,) in scene units: rgb (T, 3, H, W), depth (T, 1, H, W) in scene
        units (0 where the map has nothing), mask (T, 1, H, W)."""
        cams = self._check_cameras("cameras", cameras, None)
        units = self._require_units("render")
        out = self.spatial.render(units.cameras_to_normalised(cams))
        return SpatialRender(rgb=out.rgb, depth=units.depth_to_scene(out.depth), mask=out.mask)

    def surface_points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The map's surface points (N, 3) in scene units and their colours (N, 3) in [0, 1]."""
        pts, cols = self.spatial.points()
        return (pts if self._units is None else self._units.points_to_scene(pts)), cols

    def last_camera(self) -> Cameras:
        """The camera (1,) of the newest written frame, in scene units."""
        working = self.working.read(1)
        if working is None:
            raise ValueError("memory: holds no frames (expected a memory with at least one written frame)")
        return self._require_units("last_camera").cameras_to_scene(working.cameras)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for prefix, part in (("spatial", self.spatial), ("working", self.working), ("episodic", self.episodic)):
            for k, v in part.state_dict().items():
                state[f"{prefix}.{k}"] = v.contiguous()
        return state

    def save(self, path: str | os.PathLike) -> None:
        """Saves the state to folder ``path`` (``memory.safetensors`` + ``memory.json``), atomically.

        ``path`` may be new, an empty folder or a saved memory (which is replaced); any other folder is a
        ``ValueError`` (nothing of the user's is deleted; :func:`worldmem.utils.io.atomic_directory`).
        """
        state = self.state_dict()
        meta = {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "num_frames": self.num_frames,
            "image_size": list(self.image_size) if self.image_size else None,
            "scene_scale": self.scene_scale,
            "metadata": self.metadata,
        }

        def fill(tmp: Path) -> None:
            save_file(state, str(tmp / "memory.safetensors"))
            with open(tmp / "memory.json", "w") as f:
                json.dump(meta, f, indent=2)
                f.write("\n")

        atomic_directory(path, fill, marker="memory.json")

    @classmethod
    def load(cls, path: str | os.PathLike) -> WorldMemory:
        """Loads a folder written by :meth:`save`; anything else is one ``ValueError`` line naming the folder."""
        path = Path(path)
        meta_file, tensor_file = path / "memory.json", path / "memory.safetensors"
        if not meta_file.is_file() or not tensor_file.is_file():
            raise ValueError(f"path: expected a saved memory folder with memory.json and memory.safetensors, got {path}")
        try:
            return cls._load(path, meta_file, tensor_file)
        except _BadMemory as err:
            raise ValueError(f"path: {path}: not a valid saved memory: {err}") from None

    @classmethod
    def _load(cls, path: Path, meta_file: Path, tensor_file: Path) -> WorldMemory:
        try:
            if meta_file.stat().st_size > MAX_JSON_BYTES:
                raise _BadMemory(f"memory.json: larger than {MAX_JSON_BYTES // 2**20} MB (MAX_JSON_BYTES), got "
                                 f"{meta_file.stat().st_size} bytes")
            with open(meta_file) as f:
                meta = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _BadMemory(f"memory.json: not readable JSON ({' '.join(str(err).split())})") from None
        if not isinstance(meta, dict):
            raise _BadMemory(f"memory.json: expected an object, got {type(meta).__name__}")
        if meta.get("format_version") != FORMAT_VERSION:
            raise _BadMemory(f"memory.json: format_version {meta.get('format_version')!r} is not {FORMAT_VERSION}")
        missing = [k for k in ("config", "num_frames", "image_size", "scene_scale") if k not in meta]
        if missing:
            raise _BadMemory(f"memory.json: missing {', '.join(missing)}")
        try:
            config = MemoryConfig.from_dict(meta["config"])
        except ValueError as err:
            raise _BadMemory(f"memory.json: config: {err}") from None
        num_frames, size, scale = meta["num_frames"], meta["image_size"], meta["scene_scale"]
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 0:
            raise _BadMemory(f"memory.json: num_frames: expected an int >= 0, got {num_frames!r}")
        if num_frames > MAX_FRAMES:
            raise _BadMemory(f"memory.json: num_frames: expected at most {MAX_FRAMES} frames (MAX_FRAMES), got "
                             f"{num_frames!r}"[:200])
        if size is not None and not (isinstance(size, list) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_IMAGE_SIDE for v in size)):
            raise _BadMemory(f"memory.json: image_size: expected null or [height, width] (ints in [1, "
                             f"{MAX_IMAGE_SIDE}]), got {size!r}"[:200])
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))
                                  or not math.isfinite(scale) or scale <= 0):
            raise _BadMemory(f"memory.json: scene_scale: expected null or a finite number > 0, got {scale!r}")
        if scale is not None and not MIN_SCENE_SCALE <= scale <= MAX_SCENE_SCALE:
            raise _BadMemory(f"memory.json: scene_scale: expected null or a number in [{MIN_SCENE_SCALE:g}, "
                             f"{MAX_SCENE_SCALE:g}] (MIN_SCENE_SCALE, MAX_SCENE_SCALE), got {scale!r}")
        _check_header(tensor_file, config, None if size is None else tuple(size), num_frames)
        try:
            state = load_file(str(tensor_file))
        except Exception as err:  # safetensors raises its own error types for truncated or corrupted files
            reason = " ".join(str(err).split())[:120]
            raise _BadMemory(f"memory.safetensors: not a readable safetensors file ({reason})") from None
        for key, value in state.items():
            if value.is_floating_point() and value.numel() and not math.isfinite(float(value.abs().amax())):
                raise _BadMemory(f"memory.safetensors: {key} holds NaN or inf values")
        metadata = meta.get("metadata", {})  # absent in memories saved before it existed
        if not isinstance(metadata, dict):
            raise _BadMemory(f"memory.json: metadata: expected an object, got {type(metadata).__name__}")
        memory = cls(config, None if scale is None else float(scale))
        memory.num_frames = num_frames
        memory.metadata = metadata
        memory.image_size = tuple(size) if size else None

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}

        unknown = sorted(k for k in state if k.split(".", 1)[0] not in ("spatial", "working", "episodic"))
        if unknown:
            raise _BadMemory(f"memory.safetensors: unexpected tensors {unknown[:3]}")
        try:
            memory.spatial.load_state_dict(part("spatial"))
            for name, memory_part in (("working", memory.working), ("episodic", memory.episodic)):
                sub = part(name)
                if sub and memory.image_size is None:
                    raise _BadMemory(f"memory.json: image_size is null but {name} frames are stored")
                if sub:
                    _check_frames_state(name, sub, *memory.image_size, num_frames)
                    memory_part.load_state_dict(sub, *memory.image_size)
        except _BadMemory:
            raise
        except (ValueError, KeyError, RuntimeError, IndexError) as err:
            raise _BadMemory(f"memory.safetensors: {' '.join(str(err).split())[:200]}") from None
        if len(memory.working) > config.working.window or len(memory.episodic) > config.episodic.keyframe_pool:
            raise _BadMemory("memory.safetensors: more working frames or keyframes than the config holds")
        return memory


class _BadMemory(Exception):
    """Why a folder is not a valid saved memory (reported by :meth:`WorldMemory.load` as one line)."""


_DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "U8": 1, "I8": 1, "BOOL": 1}


def _check_header(tensor_file: Path, config: MemoryConfig, size: tuple[int, int] | None, num_frames: int) -> None:
    """The safetensors header's tensor names and shapes against memory.json's claims, before any tensor is read:
    a header of at most :data:`MAX_HEADER_BYTES`, tensors that fit in the file, at most :data:`MAX_VOXELS` map
    voxels, working frames / keyframes within the config's window / capacity and the claimed ``num_frames``,
    frames of the claimed image size, a sky layer of the config's resolution."""
    from worldmem.geometry.cubemap import num_bins

    where = "memory.safetensors: header"
    try:
        file_size = tensor_file.stat().st_size
        with open(tensor_file, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            if not 2 <= length <= min(MAX_HEADER_BYTES, file_size - 8):
                raise _BadMemory(f"memory.safetensors: not a readable safetensors file (header length {length}: "
                                 f"expected 2 .. {MAX_HEADER_BYTES} bytes within the file)")
            header = json.loads(f.read(length))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise _BadMemory("memory.safetensors: not a readable safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise _BadMemory(f"{where}: expected an object")
    shapes, total = {}, 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not (isinstance(shape, list) and len(shape) <= 4 and all(type(v) is int and v >= 0 for v in shape)
                and entry.get("dtype") in _DTYPE_BYTES):
            raise _BadMemory(f"{where}: {key}: expected a dtype and a shape of at most 4 sizes")
        shapes[key] = tuple(shape)
        total += math.prod(shape) * _DTYPE_BYTES[entry["dtype"]]
    if total > file_size:
        raise _BadMemory(f"{where}: its tensors claim {total} bytes, more than the file's {file_size}")
    voxels = shapes.get("spatial.keys", (0,))
    if voxels[:1] and voxels[0] > MAX_VOXELS:
        raise _BadMemory(f"{where}: spatial.keys: expected at most {MAX_VOXELS} map voxels (MAX_VOXELS), got "
                         f"{voxels[0]}")
    capacity = {"working": config.working.window, "episodic": config.episodic.keyframe_pool}
    for name, most in capacity.items():
        frames = shapes.get(f"{name}.frames")
        if frames is None:
            continue
        count = frames[0] if frames else -1
        if len(frames) != 4 or count > min(most, num_frames):
            raise _BadMemory(f"{where}: {name}.frames: expected at most {min(most, num_frames)} frames (the config's "
                             f"{'window' if name == 'working' else 'keyframe_pool'} and memory.json's num_frames), "
                             f"got shape {frames}")
        if size is not None and frames[1:] != (3, *size):
            raise _BadMemory(f"memory.safetensors: {name}.frames: expected shape (n, 3, {size[0]}, {size[1]}) "
                             f"(memory.json's image_size), got {frames}")
    sky = [k for k in shapes if k.startswith("spatial.sky.")]
    if sky and config.spatial.sky_resolution:
        n = num_bins(config.spatial.sky_resolution)
        for key in sky:
            if shapes[key][:1] != (n,):
                raise _BadMemory(f"{where}: {key}: expected {n} bins (memory.json's sky_resolution "
                                 f"{config.spatial.sky_resolution}), got shape {shapes[key]}")


def _check_frames_state(name: str, state: dict[str, torch.Tensor], height: int, width: int, num_frames: int) -> None:
    """The working window's or keyframes' tensors: shapes, value ranges and frame indices."""
    need = {"frames", "depth", "indices", "cam_from_world", "K"} | ({"keys", "key_counts"} if name == "episodic" else set())
    if set(state) != need:
        raise _BadMemory(f"memory.safetensors: {name}: expected tensors {sorted(need)}, got {sorted(state)}")
    n = state["frames"].shape[0] if state["frames"].dim() == 4 else -1
    shapes = {"frames": (n, 3, height, width), "depth": (n, 1, height, width), "indices": (n,),
              "cam_from_world": (n, 4, 4), "K": (n, 3, 3)}
    for key, shape in shapes.items():
        if tuple(state[key].shape) != shape:
            raise _BadMemory(f"memory.safetensors: {name}.{key}: expected shape {shape}, got {tuple(state[key].shape)}")
    frames, depth, indices = state["frames"], state["depth"], state["indices"]
    if n and (float(frames.min()) < 0 or float(frames.max()) > 1):
        raise _BadMemory(f"memory.safetensors: {name}.frames: expected values in [0, 1]")
    if n and float(depth.min()) < 0:
        raise _BadMemory(f"memory.safetensors: {name}.depth: expected depth >= 0")
    if indices.dtype != torch.int64 or (n and (int(indices.min()) < 0 or int(indices.max()) >= num_frames)):
        raise _BadMemory(f"memory.safetensors: {name}.indices: expected int64 frame indices in [0, num_frames)")
    if name == "episodic":
        counts = state["key_counts"]
        per_keyframe = tuple(counts.shape) == (n,) and counts.dtype == torch.int64
        if not per_keyframe or (n and int(counts.min()) < 0) or int(counts.sum()) != state["keys"].numel():
            raise _BadMemory("memory.safetensors: episodic.key_counts: expected one count per keyframe summing to "
                             "the number of keys")
