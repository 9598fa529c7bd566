"""One training sample: a target chunk and the memory readout a generator would get for it.

On disk a sample is two files (the members of a shard that share its key):

- ``sample.safetensors``: tensors named ``<group>.<field>`` with groups ``target``, ``working``,
  ``keyframes`` (absent when no keyframe qualified) and ``spatial``. Frame groups hold ``frames`` (N, 3, H, W)
  uint8, ``depth`` (N, 1, H, W) float32, ``cam_from_world`` (N, 4, 4) float32, ``K`` (N, 3, 3) float32,
  ``indices`` (N,) int64 and, for keyframes, ``scores`` (N,) float32; ``spatial`` holds ``rgb`` (T, 3, H, W)
  uint8, ``depth`` (T, 1, H, W) float32 and ``mask`` (T, 1, H, W) bool; optionally ``text.embedding``
  (L, D), the T5 embedding of the clip's caption (``meta["caption"]``; docs/prompts.md) in the encoder's dtype.
- ``meta.json``: ``format_version``, ``height``, ``width`` and the provenance and statistics (see
  docs/data.md).

Images are stored as uint8 (``round(x * 255)``); curation quantises them before a sample is made, so
``from_bytes(to_bytes(s))`` equals ``s`` exactly. No pickle anywhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import torch
from safetensors.torch import load, save

from worldmem.geometry.cameras import Cameras
from worldmem.memory.readout import FrameSet, MemoryReadout, SpatialRender

__all__ = ["TrainingSample", "SAMPLE_FORMAT_VERSION", "quantize_images"]

SAMPLE_FORMAT_VERSION = 1
_FRAME_GROUPS = ("target", "working", "keyframes")


def quantize_images(x: torch.Tensor) -> torch.Tensor:
    """Rounds images in [0, 1] to the uint8 grid (what a sample stores), keeping float32."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


@dataclass
class TrainingSample:
    """A target chunk with its memory readout.

    Attributes:
        target: T target frames: ``frames`` (T, 3, H, W) in [0, 1], ``depth`` (T, 1, H, W) normalised z-depth,
            ``cameras`` (T,), ``indices`` (T,) int64 frame indices in the clip.
        readout: ``target_cameras`` == ``target.cameras``; ``spatial`` the source part's TSDF rendered along
            them (T,); ``working`` the W frames right before the target; ``keyframes`` up to K retrieved
            keyframes (best first, ``scores`` set) or None.
        meta: json-able provenance and statistics (source, clip_id, frame indices, scale, coverage, ...);
            ``caption`` when the clip has one.
        text_embedding: (L, D) the caption's prompt embedding (curated with a text encoder), or None.
    """

    target: FrameSet
    readout: MemoryReadout
    meta: dict
    text_embedding: torch.Tensor | None = None

    @property
    def caption(self) -> str | None:
        """The clip's caption, or None."""
        return self.meta.get("caption")

    @property
    def key(self) -> str:
        return self.meta["key"]

    def to_bytes(self) -> dict[str, bytes]:
        """``{"sample.safetensors": ..., "meta.json": ...}``."""
        tensors: dict[str, torch.Tensor] = {}
        for name, fs in (("target", self.target), ("working", self.readout.working),
                         ("keyframes", self.readout.keyframes)):
            if fs is None:
                if name != "keyframes":
                    raise ValueError(f"sample: {name} frames are required")
                continue
            tensors[f"{name}.frames"] = _to_uint8(fs.frames)
            tensors[f"{name}.depth"] = fs.depth.float()
            tensors[f"{name}.cam_from_world"] = fs.cameras.cam_from_world.float()
            tensors[f"{name}.K"] = fs.cameras.K.float()
            tensors[f"{name}.indices"] = fs.indices.to(torch.int64)
            if fs.scores is not None:
                tensors[f"{name}.scores"] = fs.scores.float()
        sp = self.readout.spatial
        if sp is None:
            raise ValueError("sample: the spatial render is required")
        tensors["spatial.rgb"] = _to_uint8(sp.rgb)
        tensors["spatial.depth"] = sp.depth.float()
        tensors["spatial.mask"] = sp.mask.bool()
        if self.text_embedding is not None:
            tensors["text.embedding"] = self.text_embedding
        h, w = self.target.frames.shape[-2:]
        meta = {**self.meta, "format_version": SAMPLE_FORMAT_VERSION, "height": int(h), "width": int(w)}
        return {
            "sample.safetensors": save({k: v.contiguous() for k, v in tensors.items()}),
            "meta.json": (json.dumps(meta, sort_keys=True, separators=(",", ":")) + "\n").encode(),
        }

    @classmethod
    def from_bytes(cls, files: dict[str, bytes], name: str = "sample", key: str | None = None) -> TrainingSample:
        """The sample stored as ``files`` (:meth:`to_bytes`), checked before use.

        Raises ``ValueError`` starting with ``name`` (e.g. ``"shards/shard-000000.tar: sample KEY"``) when a member
        is missing, ``meta.json`` is not a JSON object of this format, the safetensors header does not agree with
        its data, a tensor is missing, unknown or of the wrong dtype or shape (see the module docstring), or a
        value is not finite or a depth is negative (unknown depth is stored as 0, never NaN). ``key``: the key the
        sample is stored under (its shard members' names), which ``meta["key"]`` must equal.
        """
        for member in ("sample.safetensors", "meta.json"):
            if member not in files:
                raise ValueError(f"{name}: missing member {member!r} (got {sorted(files)})")
        meta = _read_meta(files["meta.json"], name, key)
        h, w = meta["height"], meta["width"]
        t = _read_tensors(files["sample.safetensors"], name)
        _check_tensors(t, h, w, name)

        def frame_set(group: str) -> FrameSet | None:
            if f"{group}.frames" not in t:
                return None
            try:
                cameras = Cameras(t[f"{group}.cam_from_world"], t[f"{group}.K"], h, w)
            except ValueError as err:
                raise ValueError(f"{name}: {group}.{err}") from None
            return FrameSet(frames=t[f"{group}.frames"].float() / 255.0, depth=t[f"{group}.depth"], cameras=cameras,
                            indices=t[f"{group}.indices"], scores=t.get(f"{group}.scores"))

        target = frame_set("target")
        spatial = SpatialRender(rgb=t["spatial.rgb"].float() / 255.0, depth=t["spatial.depth"], mask=t["spatial.mask"])
        readout = MemoryReadout(target_cameras=target.cameras, spatial=spatial, working=frame_set("working"),
                                keyframes=frame_set("keyframes"))
        return cls(target=target, readout=readout, meta=meta, text_embedding=t.get("text.embedding"))

    def equals(self, other: TrainingSample) -> bool:
        """Exact equality of every tensor and of the meta (what a shard stores)."""
        a, b = self.to_bytes(), other.to_bytes()
        return a == b


# What a stored sample holds: group -> {field: (dtype, shape)}; "N" is the group's frame count, "T" the target's.
_FRAME_FIELDS = {"frames": (torch.uint8, ("N", 3, "H", "W")), "depth": (torch.float32, ("N", 1, "H", "W")),
                 "cam_from_world": (torch.float32, ("N", 4, 4)), "K": (torch.float32, ("N", 3, 3)),
                 "indices": (torch.int64, ("N",)), "scores": (torch.float32, ("N",))}
_OPTIONAL_FIELDS = {"scores"}
_SPATIAL_FIELDS = {"rgb": (torch.uint8, ("T", 3, "H", "W")), "depth": (torch.float32, ("T", 1, "H", "W")),
                   "mask": (torch.bool, ("T", 1, "H", "W"))}
_EMBEDDING_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# safetensors dtype names -> bytes per element (the header is checked against the data before it is read).
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
                "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def _read_meta(data: bytes, name: str, key: str | None) -> dict:
    try:
        meta = json.loads(data)
    except ValueError:  # also UnicodeDecodeError
        raise ValueError(f"{name}: meta.json: not valid JSON") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{name}: meta.json: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format_version") != SAMPLE_FORMAT_VERSION:
        raise ValueError(f"{name}: meta.json: format_version {meta.get('format_version')!r} is not "
                         f"{SAMPLE_FORMAT_VERSION}")
    if key is not None and meta.get("key") != key:
        shown = str(meta.get("key"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise ValueError(f"{name}: meta.json: key {shown!r} is not the key the sample is stored under")
    for field in ("height", "width"):
        value = meta.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: meta.json: {field}: expected an int >= 1, got {value!r}")
    return meta


def _counts(value) -> bool:
    return isinstance(value, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value)


def _read_tensors(data: bytes, name: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, its header checked against the data length first."""
    what = f"{name}: sample.safetensors"
    if len(data) < 8:
        raise ValueError(f"{what}: {len(data)} bytes, too short for a safetensors file")
    n = int.from_bytes(data[:8], "little")
    body = len(data) - 8 - n
    if body < 0:
        raise ValueError(f"{what}: the header length ({n} bytes) is more than the file holds ({len(data) - 8} bytes)")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError:
        raise ValueError(f"{what}: the header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ValueError(f"{what}: the header is not a JSON object")
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if dtype not in _DTYPE_BYTES or not _counts(shape) or not _counts(offsets) or len(offsets) != 2:
            raise ValueError(f"{what}: tensor {key!r}: expected a dtype, a shape and two data offsets in the header")
        begin, end = offsets
        if not begin <= end <= body:
            raise ValueError(f"{what}: tensor {key!r}: data offsets {offsets} lie outside the {body} bytes of data")
        size = math.prod(shape) * _DTYPE_BYTES[dtype]
        if end - begin != size:
            raise ValueError(f"{what}: tensor {key!r}: the header says {dtype} {tuple(shape)} ({size} bytes) but its "
                             f"offsets hold {end - begin} bytes")
    try:
        return load(data)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own SafetensorError (not ValueError)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"{what}: not a valid safetensors file ({first})") from None


def _check_tensors(t: dict[str, torch.Tensor], h: int, w: int, name: str) -> None:
    """Every tensor a stored sample must hold (and no other), with its dtype and shape; finite values; depth >= 0."""
    sizes = {"H": h, "W": w}
    expected: dict[str, tuple[torch.dtype, tuple]] = {}
    for group in _FRAME_GROUPS:
        if group == "keyframes" and not any(k.startswith("keyframes.") for k in t):
            continue
        frames = t.get(f"{group}.frames")
        if frames is None or frames.dim() < 1 or frames.shape[0] < 1:
            raise ValueError(f"{name}: missing tensor {group}.frames (or it holds no frame)")
        sizes[group] = frames.shape[0]
        for field, (dtype, shape) in _FRAME_FIELDS.items():
            if f"{group}.{field}" in t or field not in _OPTIONAL_FIELDS:
                expected[f"{group}.{field}"] = (dtype, tuple(group if s == "N" else s for s in shape))
    sizes["T"] = sizes["target"]
    for field, spec in _SPATIAL_FIELDS.items():
        expected[f"spatial.{field}"] = spec
    if "text.embedding" in t:
        emb = t["text.embedding"]
        if emb.dim() != 2 or emb.dtype not in _EMBEDDING_DTYPES:
            raise ValueError(f"{name}: text.embedding: expected a floating (L, D) tensor, got {emb.dtype} "
                             f"{tuple(emb.shape)}")
        expected["text.embedding"] = (emb.dtype, tuple(emb.shape))
    unknown = sorted(set(t) - set(expected))
    if unknown:
        raise ValueError(f"{name}: unexpected tensor {unknown[0]!r} (a sample holds {', '.join(sorted(expected))})")
    for key, (dtype, shape) in expected.items():
        if key not in t:
            raise ValueError(f"{name}: missing tensor {key!r}")
        want = tuple(sizes.get(s, s) for s in shape)
        x = t[key]
        if x.dtype != dtype or tuple(x.shape) != want:
            raise ValueError(f"{name}: {key}: expected {dtype} {want}, got {x.dtype} {tuple(x.shape)}")
        if x.is_floating_point():
            lo, hi = (float(v) for v in torch.aminmax(x.float())) if x.numel() else (0.0, 0.0)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"{name}: {key}: contains NaN or inf values (unknown depth is stored as 0)")
            if key.endswith(".depth") and lo < 0:
                raise ValueError(f"{name}: {key}: negative depth {lo:.4g}; expected z-depth >= 0 (0 = unknown)")
