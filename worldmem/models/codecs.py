"""Codecs: the map between frames (+ depth) at the public API and the space the transformer denoises.

``PixelCodec`` (the tiny model) is the identity on pixels with depth as a fourth channel, so the model
generates RGB-D and its own depth feeds the memory write-back (as Voyager does). ``VAECodec`` wraps a diffusers
video VAE (CogVideoX's) for RGB only; depth for write-back then comes from a depth estimator
(:mod:`worldmem.models.depth`).

Shapes: frames (B, T, 3, H, W) in [0, 1]; depth (B, T, 1, H, W) z-depth, 0 = unknown; latents
(B, T', C, h, w) with ``T' = codec.latent_frames(T)``, ``h = H // codec.spatial_factor``.

Both codecs are ``ModelMixin, ConfigMixin`` so a pipeline saves and loads them like any other component, and
both implement the :class:`Codec` protocol, which is all the pipeline and the trainer rely on.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

__all__ = ["Codec", "PixelCodec", "VAECodec"]


@runtime_checkable
class Codec(Protocol):
    """The map between frames (+ depth) and the space the transformer denoises.

    Attributes:
        has_depth: whether latents carry depth (then ``decode`` returns it and the write-back needs no
            depth estimator).
        latent_channels: C of the latents.
        spatial_factor: H // h.
        temporal_factor: frames per latent frame (1 for pixel space).
    """

    has_depth: bool
    latent_channels: int
    spatial_factor: int
    temporal_factor: int

    def latent_frames(self, num_frames: int) -> int:
        """Latent frames T' for ``num_frames`` frames."""

    def latent_frame_index(self, num_frames: int) -> torch.Tensor:
        """(T',) index of the frame each latent frame stands for (its camera)."""

    def chunk_size_error(self, num_frames: int) -> str | None:
        """Why a chunk of ``num_frames`` cannot be decoded, or None."""

    def encode(self, frames: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B, T, 3, H, W) in [0, 1] (+ depth (B, T, 1, H, W)) -> latents (B, T', C, h, w)."""

    def decode(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """latents (B, T', C, h, w) -> frames (B, T, 3, H, W) in [0, 1] and depth (B, T, 1, H, W) or None."""

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Coverage mask (B, T, 1, H, W) bool -> (B, T', 1, h, w) float at latent resolution."""


class PixelCodec(ModelMixin, ConfigMixin):
    """Identity codec in pixel space with RGB-D channels.

    RGB maps to [-1, 1]; depth maps to ``2 u - 1`` with ``u = d / (d + depth_scale)`` (a bounded, disparity-like
    code that keeps near geometry precise), unknown depth (0) is coded as infinitely far (+1). Decoding inverts
    this; codes that decode beyond ``far_fraction`` of the range give depth 0 (unknown / sky).

    Args:
        depth_scale: the depth (scene units) coded as 0; about the scene's typical depth.
        far_fraction: ``u`` above which decoded depth is reported unknown.
    """

    has_depth = True
    latent_channels = 4
    spatial_factor = 1
    temporal_factor = 1

    @register_to_config
    def __init__(self, depth_scale: float = 2.0, far_fraction: float = 0.97):
        super().__init__()
        if depth_scale <= 0 or not 0 < far_fraction < 1:
            raise ValueError(f"PixelCodec: expected depth_scale > 0 and 0 < far_fraction < 1, got "
                             f"{depth_scale}, {far_fraction}")
        # A (saved) buffer gives the codec a device, a dtype and a weights file like any other component.
        self.register_buffer("scale_buffer", torch.tensor(float(depth_scale)))

    def latent_frames(self, num_frames: int) -> int:
        return num_frames

    def chunk_size_error(self, num_frames: int) -> str | None:
        """Why a chunk of ``num_frames`` cannot be decoded, or None."""
        return None if num_frames >= 1 else "expected at least 1 frame"

    def latent_frame_index(self, num_frames: int) -> torch.Tensor:
        """(T',) index of the frame each latent frame stands for (its camera)."""
        return torch.arange(num_frames)

    def encode(self, frames: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B, T, 3, H, W) in [0, 1], depth (B, T, 1, H, W) -> latents (B, T, 4, H, W) in [-1, 1]."""
        rgb = frames * 2.0 - 1.0
        if depth is None:
            code = torch.ones_like(frames[:, :, :1])
        else:
            d = depth.to(frames.dtype)
            u = torch.where(d > 0, d / (d + self.config.depth_scale), torch.ones_like(d))
            code = u * 2.0 - 1.0
        return torch.cat([rgb, code], dim=2)

    def decode(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """latents (B, T, 4, H, W) -> frames (B, T, 3, H, W) in [0, 1], depth (B, T, 1, H, W)."""
        rgb = ((latents[:, :, :3] + 1.0) / 2.0).clamp(0.0, 1.0)
        u = ((latents[:, :, 3:4] + 1.0) / 2.0).clamp(0.0, 1.0)
        far = u > self.config.far_fraction
        u = u.clamp(max=self.config.far_fraction)
        depth = self.config.depth_scale * u / (1.0 - u)
        return rgb, torch.where(far, torch.zeros_like(depth), depth)

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Coverage mask (B, T, 1, H, W) bool -> (B, T', 1, h, w) float at latent resolution."""
        return mask.float()


VAE_FAMILIES = ("cogvideox", "wan")


class VAECodec(ModelMixin, ConfigMixin):
    """RGB codec through a diffusers video VAE, no depth channel: CogVideoX's ``AutoencoderKLCogVideoX`` or Wan's
    ``AutoencoderKLWan`` (Wan2.1: 8x spatial, 16 channels; Wan2.2: 16x spatial, 48 channels), chosen by ``family``.

    ``T`` frames become ``(T - 1) // 4 + 1`` latent frames (both are causal with 4x temporal compression); latent
    frame ``i`` stands for frame ``4 i`` (its camera). The decoders invert that for ``k`` latent frames as
    ``(k - 1) * 4 + 1`` frames: CogVideoX's only for odd ``k``, so its chunks hold ``8m + 1`` frames (9, 17, ...,
    49); Wan's for any ``k``, so its chunks hold ``4m + 1`` frames (5, 9, ..., 81). The pipeline checks the rule
    (:meth:`chunk_size_error`) before generating.

    Latents are scaled as each family's pipelines do: CogVideoX by ``scaling_factor``; Wan per channel,
    ``(z - latents_mean) / latents_std``.

    Args:
        vae_config: the VAE's diffusers config (``AutoencoderKLCogVideoX.load_config(path)``).
        family: "cogvideox" or "wan".
    """

    has_depth = False

    @register_to_config
    def __init__(self, vae_config: dict, family: str = "cogvideox"):
        super().__init__()
        if family not in VAE_FAMILIES:
            raise ValueError(f"family: expected one of {VAE_FAMILIES}, got {family!r}")
        cfg = {k: v for k, v in dict(vae_config).items() if not k.startswith("_")}
        self.vae = _vae_class(family).from_config(cfg)
        if family == "wan":
            c = self.vae.config
            self.register_buffer("latents_mean", torch.tensor(c.latents_mean).view(1, 1, c.z_dim, 1, 1), persistent=False)
            self.register_buffer("latents_std", torch.tensor(c.latents_std).view(1, 1, c.z_dim, 1, 1), persistent=False)

    @classmethod
    def from_vae(cls, vae) -> VAECodec:
        """The codec around a loaded ``AutoencoderKLCogVideoX`` or ``AutoencoderKLWan``."""
        family = "wan" if type(vae).__name__ == "AutoencoderKLWan" else "cogvideox"
        codec = cls(vae_config={k: v for k, v in vae.config.items() if not k.startswith("_")}, family=family)
        codec.vae.load_state_dict(vae.state_dict())
        return codec

    @classmethod
    def from_cogvideox(cls, path) -> VAECodec:
        """Loads the VAE of a local diffusers CogVideoX checkpoint (``path/vae`` or a VAE folder)."""
        return cls.from_vae(_load_vae("cogvideox", "from_cogvideox", path))

    @classmethod
    def from_wan(cls, path) -> VAECodec:
        """Loads the VAE of a local diffusers Wan checkpoint (``path/vae`` or a VAE folder)."""
        return cls.from_vae(_load_vae("wan", "from_wan", path))

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def latent_channels(self) -> int:
        c = self.vae.config
        return c.z_dim if self.family == "wan" else c.latent_channels

    @property
    def spatial_factor(self) -> int:
        c = self.vae.config
        return int(c.scale_factor_spatial) if self.family == "wan" else 2 ** (len(c.block_out_channels) - 1)

    @property
    def temporal_factor(self) -> int:
        c = self.vae.config
        return int(c.scale_factor_temporal) if self.family == "wan" else int(c.temporal_compression_ratio)

    def latent_frames(self, num_frames: int) -> int:
        return (num_frames - 1) // self.temporal_factor + 1

    def latent_frame_index(self, num_frames: int) -> torch.Tensor:
        return torch.arange(self.latent_frames(num_frames)) * self.temporal_factor

    def chunk_size_error(self, num_frames: int) -> str | None:
        """Why a chunk of ``num_frames`` cannot be decoded, or None."""
        if self.family == "wan":
            step, why = self.temporal_factor, "for this causal VAE"
        else:
            step, why = 2 * self.temporal_factor, "(an odd number of latent frames) for this VAE"
        if num_frames < 1 or (num_frames - 1) % step:
            return f"expected {step}m + 1 frames {why}, got {num_frames}"
        return None

    def _scale(self, z: torch.Tensor) -> torch.Tensor:
        if self.family == "wan":
            return (z - self.latents_mean.to(z)) / self.latents_std.to(z)
        return z * self.vae.config.scaling_factor

    def _unscale(self, latents: torch.Tensor) -> torch.Tensor:
        if self.family == "wan":
            return latents * self.latents_std.to(latents) + self.latents_mean.to(latents)
        return latents / self.vae.config.scaling_factor

    def encode(self, frames: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B, T, 3, H, W) in [0, 1] -> latents (B, T', C, h, w) (the posterior mode, scaled)."""
        x = (frames * 2.0 - 1.0).movedim(1, 2).to(self.vae.device, self.vae.dtype)  # frames may be the memory's (CPU)
        return self._scale(self.vae.encode(x).latent_dist.mode().movedim(2, 1))

    def decode(self, latents: torch.Tensor) -> tuple[torch.Tensor, None]:
        """latents (B, T', C, h, w) -> frames (B, T, 3, H, W) in [0, 1], None (no depth)."""
        x = self.vae.decode(self._unscale(latents).movedim(1, 2)).sample
        x = x[:, :, : (latents.shape[1] - 1) * self.temporal_factor + 1]
        return ((x.movedim(2, 1) + 1.0) / 2.0).clamp(0.0, 1.0), None

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Coverage mask (B, T, 1, H, W) -> (B, T', 1, h, w): the mean coverage of each latent cell."""
        b, t, _, h, w = mask.shape
        idx = self.latent_frame_index(t).to(mask.device)
        m = mask[:, idx].float().flatten(0, 1)
        m = F.adaptive_avg_pool2d(m, (h // self.spatial_factor, w // self.spatial_factor))
        return m.view(b, len(idx), 1, *m.shape[-2:])


def _vae_class(family: str):
    from diffusers import AutoencoderKLCogVideoX, AutoencoderKLWan

    return AutoencoderKLWan if family == "wan" else AutoencoderKLCogVideoX


def _load_vae(family: str, caller: str, path):
    from pathlib import Path

    path = Path(path)
    folder = path / "vae" if (path / "vae" / "config.json").is_file() else path
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"VAECodec.{caller}: no VAE config.json under {path} (or {path}/vae)")
    return _vae_class(family).from_pretrained(folder)
