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


class VAECodec(ModelMixin, ConfigMixin):
    """RGB codec through a diffusers CogVideoX video VAE (``AutoencoderKLCogVideoX``); no depth channel.

    ``T`` frames become ``(T - 1) // temporal_factor + 1`` latent frames; latent frame ``i`` stands for frame
    ``i * temporal_factor`` (its camera). CogVideoX's causal decoder turns ``k`` latent frames back into
    ``(k - 1) * 4 + 1`` frames only for odd ``k``, so generated chunks hold ``8m + 1`` frames (9, 17, ..., 49).

    Args:
        vae_config: the VAE's diffusers config (``AutoencoderKLCogVideoX.load_config(path)``).
    """

    has_depth = False

    @register_to_config
    def __init__(self, vae_config: dict):
        super().__init__()
        from diffusers import AutoencoderKLCogVideoX

        cfg = {k: v for k, v in dict(vae_config).items() if not k.startswith("_")}
        self.vae = AutoencoderKLCogVideoX.from_config(cfg)

    @classmethod
    def from_vae(cls, vae) -> VAECodec:
        codec = cls(vae_config={k: v for k, v in vae.config.items() if not k.startswith("_")})
        codec.vae.load_state_dict(vae.state_dict())
        return codec

    @classmethod
    def from_cogvideox(cls, path) -> VAECodec:
        """Loads the VAE of a local diffusers CogVideoX checkpoint (``path/vae`` or a VAE folder)."""
        from pathlib import Path

        from diffusers import AutoencoderKLCogVideoX

        path = Path(path)
        folder = path / "vae" if (path / "vae" / "config.json").is_file() else path
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"VAECodec.from_cogvideox: no VAE config.json under {path} (or {path}/vae)")
        return cls.from_vae(AutoencoderKLCogVideoX.from_pretrained(folder))

    @property
    def latent_channels(self) -> int:
        return self.vae.config.latent_channels

    @property
    def spatial_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def temporal_factor(self) -> int:
        return int(self.vae.config.temporal_compression_ratio)

    def latent_frames(self, num_frames: int) -> int:
        return (num_frames - 1) // self.temporal_factor + 1

    def latent_frame_index(self, num_frames: int) -> torch.Tensor:
        return torch.arange(self.latent_frames(num_frames)) * self.temporal_factor

    def chunk_size_error(self, num_frames: int) -> str | None:
        """Why a chunk of ``num_frames`` cannot be decoded, or None."""
        step = 2 * self.temporal_factor
        if num_frames < 1 or (num_frames - 1) % step:
            return f"expected {step}m + 1 frames (an odd number of latent frames) for this VAE, got {num_frames}"
        return None

    def encode(self, frames: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """frames (B, T, 3, H, W) in [0, 1] -> latents (B, T', C, h, w) (the posterior mode, scaled)."""
        x = (frames * 2.0 - 1.0).movedim(1, 2).to(self.vae.device, self.vae.dtype)  # frames may be the memory's (CPU)
        latents = self.vae.encode(x).latent_dist.mode() * self.vae.config.scaling_factor
        return latents.movedim(2, 1)

    def decode(self, latents: torch.Tensor) -> tuple[torch.Tensor, None]:
        """latents (B, T', C, h, w) -> frames (B, T, 3, H, W) in [0, 1], None (no depth)."""
        x = self.vae.decode(latents.movedim(1, 2) / self.vae.config.scaling_factor).sample
        x = x[:, :, : (latents.shape[1] - 1) * self.temporal_factor + 1]
        return ((x.movedim(2, 1) + 1.0) / 2.0).clamp(0.0, 1.0), None

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Coverage mask (B, T, 1, H, W) -> (B, T', 1, h, w): the mean coverage of each latent cell."""
        b, t, _, h, w = mask.shape
        idx = self.latent_frame_index(t).to(mask.device)
        m = mask[:, idx].float().flatten(0, 1)
        m = F.adaptive_avg_pool2d(m, (h // self.spatial_factor, w // self.spatial_factor))
        return m.view(b, len(idx), 1, *m.shape[-2:])
