"""The model boundary: from memory readouts to the transformer's typed inputs (pipeline and trainer alike).

A :class:`~worldmem.memory.readout.MemoryReadout` holds frames and cameras in pixel space (normalised units);
the transformer reads latents and per-pixel Plücker rays at latent resolution. :func:`encode_readouts` encodes
a batch of readouts with a :class:`~worldmem.models.codecs.Codec` into one :class:`ModelInputs`:

- cameras are expressed relative to a reference camera (the newest working frame, or the first target camera
  when there is no working window), so the embedding does not depend on where the world's origin is;
- the working window becomes codec latents in front of the chunk;
- the spatial render becomes codec latents (RGB, and depth for RGB-D codecs) plus its coverage mask;
- keyframes are encoded one by one and padded to the batch's largest count with ``keyframe_mask`` False.

Switching a path off is :meth:`ModelInputs.without`, which returns new inputs (the transformer treats a None
path as absent); condition dropout in training and the unconditional branch of guidance both use it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.memory.readout import MemoryReadout
from worldmem.models.codecs import Codec

__all__ = ["ModelInputs", "PATHS", "encode_readouts", "reference_camera", "plucker_latent"]

PATHS = ("working", "spatial", "episodic", "camera")
"""The conditioning paths :meth:`ModelInputs.without` can switch off."""


@dataclass(frozen=True)
class ModelInputs:
    """The transformer's conditioning for a batch of B chunks of F latent frames (latent resolution h x w).

    Attributes:
        working: (B, Fw, C, h, w) working-window latents, or None.
        spatial: (B, F, C + 1, h, w) the map's render as latents plus its coverage, or None.
        keyframes: (B, K, C, h, w) retrieved keyframe latents (zero-padded), or None.
        keyframe_mask: (B, K) bool, True for real keyframes, or None.
        keyframe_plucker: (B, K, 6, h, w) keyframe Plücker rays, or None.
        working_plucker: (B, Fw, 6, h, w) Plücker rays of the working frames, or None.
        target_plucker: (B, F, 6, h, w) Plücker rays of the chunk's frames, or None (camera path off).
        text: (B, L, D) prompt embeddings (``encoder_hidden_states``; :mod:`worldmem.models.text`), or None (no
            text tokens). Not a path of :meth:`without`: "no prompt" is the empty prompt's embedding, not None;
            set it with :meth:`replace`.
    """

    working: torch.Tensor | None = None
    spatial: torch.Tensor | None = None
    keyframes: torch.Tensor | None = None
    keyframe_mask: torch.Tensor | None = None
    keyframe_plucker: torch.Tensor | None = None
    working_plucker: torch.Tensor | None = None
    target_plucker: torch.Tensor | None = None
    text: torch.Tensor | None = None

    def without(self, *paths: str) -> ModelInputs:
        """New inputs with the named paths (of :data:`PATHS`) switched off."""
        unknown = sorted(set(paths) - set(PATHS))
        if unknown:
            raise ValueError(f"paths: unknown path(s) {unknown}; expected some of {', '.join(PATHS)}")
        off: dict[str, None] = {}
        if "working" in paths:
            off.update(working=None, working_plucker=None)
        if "spatial" in paths:
            off.update(spatial=None)
        if "episodic" in paths:
            off.update(keyframes=None, keyframe_mask=None, keyframe_plucker=None)
        if "camera" in paths:
            off.update(working_plucker=None, target_plucker=None)
        return dataclasses.replace(self, **off)

    def replace(self, **fields) -> ModelInputs:
        """New inputs with some tensors replaced (e.g. noise-augmented working latents)."""
        return dataclasses.replace(self, **fields)

    def to(self, device=None, dtype=None) -> ModelInputs:
        """Floating tensors to ``device`` and ``dtype``, the rest (the mask) to ``device``."""
        moved = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                moved[f.name] = v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device=device)
        return dataclasses.replace(self, **moved)

    def as_kwargs(self) -> dict:
        """The transformer's keyword arguments (``plucker`` is the working rays followed by the chunk's)."""
        plucker = self.target_plucker
        if plucker is not None and self.working is not None and self.working_plucker is not None:
            plucker = torch.cat([self.working_plucker, plucker], dim=1)
        return {"working": self.working, "spatial": self.spatial, "keyframes": self.keyframes,
                "keyframe_mask": self.keyframe_mask, "keyframe_plucker": self.keyframe_plucker, "plucker": plucker,
                "encoder_hidden_states": self.text}


def reference_camera(readout: MemoryReadout) -> Cameras:
    """The camera every other camera of this readout is expressed relative to."""
    if readout.working is not None and len(readout.working):
        return readout.working.cameras[-1]
    return readout.target_cameras[0]


def plucker_latent(cameras: Cameras, reference: Cameras, height: int, width: int) -> torch.Tensor:
    """(N, 6, height, width) Plücker rays of ``cameras`` (N,) relative to ``reference``, at latent resolution."""
    return cameras.resize(height, width).relative_to(reference).plucker()


def _encode(codec: Codec, frames: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
    """(N, 3, H, W) frames as one video -> (N', C, h, w) latents."""
    return codec.encode(frames[None], None if depth is None else depth[None])[0]


def _pad_keyframes(keyframes: list, key_plucker: list, h: int, w: int) -> dict:
    k_max = max((0 if k is None else k.shape[0]) for k in keyframes)
    if not k_max:
        return {}
    b = len(keyframes)
    ref_lat = next(k for k in keyframes if k is not None)
    kf = ref_lat.new_zeros(b, k_max, *ref_lat.shape[1:])
    kp = ref_lat.new_zeros(b, k_max, 6, h, w)
    km = torch.zeros(b, k_max, dtype=torch.bool)
    for i, (lat, pl) in enumerate(zip(keyframes, key_plucker, strict=True)):
        if lat is not None:
            kf[i, : lat.shape[0]] = lat
            kp[i, : lat.shape[0]] = pl
            km[i, : lat.shape[0]] = True
    return {"keyframes": kf, "keyframe_mask": km, "keyframe_plucker": kp}


def encode_readouts(readouts: list[MemoryReadout], codec: Codec, device=None, dtype=None) -> ModelInputs:
    """Encodes a batch of readouts (each path as the readout has it: None stays None) into :class:`ModelInputs`.

    Every readout of a batch has the same chunk length, image size and working-window length; a batch has a
    spatial render in every readout or in none.
    """
    if not readouts:
        raise ValueError("readouts: expected at least one MemoryReadout")
    first = readouts[0]
    height, width = first.target_cameras.height, first.target_cameras.width
    f = int(first.target_cameras.batch_shape[0])
    n_work = {0 if r.working is None else len(r.working) for r in readouts}
    if len(n_work) > 1:
        raise ValueError(f"readouts: expected the same working-window length in a batch, got {sorted(n_work)}")
    n_work = n_work.pop()
    has_spatial = {r.spatial is not None for r in readouts}
    if len(has_spatial) > 1:
        raise ValueError("readouts: expected a spatial render in every readout of a batch or in none")
    has_spatial = has_spatial.pop()
    h, w = height // codec.spatial_factor, width // codec.spatial_factor
    target_index = codec.latent_frame_index(f)

    working, working_pl, spatial, target_pl, keyframes, key_pl = [], [], [], [], [], []
    for r in readouts:
        if int(r.target_cameras.batch_shape[0]) != f or (r.target_cameras.height, r.target_cameras.width) != (height, width):
            raise ValueError("readouts: expected the same chunk length and image size in a batch")
        ref = reference_camera(r)
        target_pl.append(plucker_latent(r.target_cameras[target_index], ref, h, w))
        if n_work:
            working.append(_encode(codec, r.working.frames, r.working.depth if codec.has_depth else None))
            working_pl.append(plucker_latent(r.working.cameras[codec.latent_frame_index(n_work)], ref, h, w))
        if has_spatial:
            s = r.spatial
            lat = _encode(codec, s.rgb, s.depth if codec.has_depth else None)
            spatial.append(torch.cat([lat, codec.encode_mask(s.mask[None])[0].to(lat.device, lat.dtype)], dim=1))
        if r.keyframes is not None and len(r.keyframes):
            kf = r.keyframes
            keyframes.append(codec.encode(kf.frames[:, None], kf.depth[:, None] if codec.has_depth else None)[:, 0])
            key_pl.append(plucker_latent(kf.cameras, ref, h, w))
        else:
            keyframes.append(None)
            key_pl.append(None)

    inputs = ModelInputs(
        working=torch.stack(working) if n_work else None,
        working_plucker=torch.stack(working_pl) if n_work else None,
        spatial=torch.stack(spatial) if has_spatial else None,
        target_plucker=torch.stack(target_pl),
        **_pad_keyframes(keyframes, key_pl, h, w),
    )
    return inputs.to(device=device, dtype=dtype)
