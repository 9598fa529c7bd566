"""From memory readouts to the transformer's conditioning tensors (used by the pipeline and the trainer).

A :class:`~worldmem.memory.readout.MemoryReadout` holds frames and cameras in pixel space; the transformer
reads latents and per-pixel Plücker rays at latent resolution. :func:`build_conditioning` encodes a batch of
readouts with the codec:

- cameras are expressed relative to a reference camera (the newest working frame, or the first target camera
  when there is no working window), so the embedding does not depend on where the world's origin is;
- the spatial render becomes codec latents (RGB, and depth for RGB-D codecs) plus its coverage mask;
- keyframes are encoded one by one and padded to the batch's largest count with ``keyframe_mask`` False.

Switching a path off (``use_spatial=False`` ...) passes None for it, which the transformer treats as absent.
"""

from __future__ import annotations

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.memory.readout import MemoryReadout

__all__ = ["build_conditioning", "reference_camera", "plucker_latent"]


def reference_camera(readout: MemoryReadout) -> Cameras:
    """The camera every other camera of this readout is expressed relative to."""
    if readout.working is not None and len(readout.working):
        return readout.working.cameras[-1]
    return readout.target_cameras[0]


def plucker_latent(cameras: Cameras, reference: Cameras, height: int, width: int) -> torch.Tensor:
    """(N, 6, height, width) Plücker rays of ``cameras`` (N,) relative to ``reference``, at latent resolution."""
    return cameras.resize(height, width).relative_to(reference).plucker()


def _encode(codec, frames: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
    """(N, 3, H, W) frames as one video -> (N', C, h, w) latents."""
    return codec.encode(frames[None], None if depth is None else depth[None])[0]


def build_conditioning(readouts: list[MemoryReadout], codec, *, use_working: bool = True, use_spatial: bool = True,
                       use_episodic: bool = True, use_camera: bool = True, device=None, dtype=None) -> dict:
    """Encodes a batch of readouts into the transformer's keyword arguments.

    Returns:
        dict with ``working`` (B, Fw, C, h, w) | None, ``spatial`` (B, F, C + 1, h, w) | None, ``keyframes``
        (B, K, C, h, w) | None, ``keyframe_mask`` (B, K) | None, ``plucker`` (B, Fw + F, 6, h, w) | None,
        ``keyframe_plucker`` (B, K, 6, h, w) | None. ``F`` = latent frames of the chunk.
    """
    if not readouts:
        raise ValueError("readouts: expected at least one MemoryReadout")
    first = readouts[0]
    height, width = first.target_cameras.height, first.target_cameras.width
    f = int(first.target_cameras.batch_shape[0])
    n_work = {0 if r.working is None else len(r.working) for r in readouts}
    if len(n_work) > 1:
        raise ValueError(f"readouts: expected the same working-window length in a batch, got {sorted(n_work)}")
    n_work = n_work.pop() if use_working else 0
    factor = getattr(codec, "spatial_factor", 1)
    h, w = height // factor, width // factor
    target_index = codec.latent_frame_index(f)

    working, spatial, plucker, keyframes, key_plucker = [], [], [], [], []
    for r in readouts:
        if int(r.target_cameras.batch_shape[0]) != f or (r.target_cameras.height, r.target_cameras.width) != (height, width):
            raise ValueError("readouts: expected the same chunk length and image size in a batch")
        ref = reference_camera(r)
        cams = r.target_cameras[target_index]
        if n_work:
            working.append(_encode(codec, r.working.frames, r.working.depth if codec.has_depth else None))
            cams = Cameras.cat([r.working.cameras[codec.latent_frame_index(n_work)], cams])
        if use_camera:
            plucker.append(plucker_latent(cams, ref, h, w))
        if use_spatial:
            if r.spatial is None:
                raise ValueError("readouts: use_spatial=True but a readout has no spatial render (read it with use_spatial)")
            s = r.spatial
            lat = _encode(codec, s.rgb, s.depth if codec.has_depth else None)
            spatial.append(torch.cat([lat, codec.encode_mask(s.mask[None])[0].to(lat.dtype)], dim=1))
        if use_episodic and r.keyframes is not None and len(r.keyframes):
            kf = r.keyframes
            lat = codec.encode(kf.frames[:, None], kf.depth[:, None] if codec.has_depth else None)[:, 0]
            keyframes.append(lat)
            key_plucker.append(plucker_latent(kf.cameras, ref, h, w))
        else:
            keyframes.append(None)
            key_plucker.append(None)

    out = {
        "working": torch.stack(working) if n_work else None,
        "spatial": torch.stack(spatial) if use_spatial else None,
        "plucker": torch.stack(plucker) if use_camera else None,
        "keyframes": None,
        "keyframe_mask": None,
        "keyframe_plucker": None,
    }
    k_max = max((0 if k is None else k.shape[0]) for k in keyframes)
    if k_max:
        b = len(readouts)
        ref_lat = next(k for k in keyframes if k is not None)
        kf = ref_lat.new_zeros(b, k_max, *ref_lat.shape[1:])
        kp = ref_lat.new_zeros(b, k_max, 6, h, w)
        km = torch.zeros(b, k_max, dtype=torch.bool)
        for i, (lat, pl) in enumerate(zip(keyframes, key_plucker, strict=True)):
            if lat is not None:
                kf[i, : lat.shape[0]] = lat
                kp[i, : lat.shape[0]] = pl
                km[i, : lat.shape[0]] = True
        out.update(keyframes=kf, keyframe_mask=km, keyframe_plucker=kp)
    for key, value in out.items():
        if value is not None and value.is_floating_point():
            out[key] = value.to(device=device, dtype=dtype)
        elif value is not None:
            out[key] = value.to(device=device)
    return out
