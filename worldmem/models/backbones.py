"""What differs between the base transformers the memory runs on, behind one small adapter.

:class:`~worldmem.models.WorldMemTransformer` owns the memory layers (working mask, camera, spatial concat or
control branch, keyframe cross-attention) once, for every family. A :class:`Backbone` adapter gives it the five
things a family does its own way:

1. **the main input** (:meth:`Backbone.embed`): how the working frames enter, the patch embedding into tokens in
   (frame, row, column) order, the text tokens and the timestep conditioning;
2. **the blocks** (:attr:`Backbone.blocks`, :meth:`Backbone.run_block`): the list the memory layers sit between,
   and one block's call (the ControlNet copies are called the same way);
3. **the output head** (:meth:`Backbone.head`): final norm, projection and unpatchify;
4. **sizes**: token width, heads, layers, patch, the latent frame size a pipeline makes, the text length;
5. **construction**: the diffusers class and the base checkpoint's folder.

Two families:

- ``"cogvideox"`` (:class:`CogVideoXBackbone`): ``CogVideoXTransformer3DModel``. Text and video tokens attend
  jointly in every block; working frames sit in front of the chunk and, for an image-to-video base
  (``in_channels == 2 C``), also in the conditioning channels.
- ``"wan"`` (:class:`WanBackbone`): ``WanTransformer3DModel`` (Wan2.1-T2V-1.3B/14B, Wan2.2-TI2V-5B). Text enters
  by cross-attention in every block; working frames sit in front of the chunk as clean latents at **timestep
  0, per token**: Wan2.2-TI2V's own route for its clean first frame (diffusers' block takes a (B, L) timestep,
  also for Wan2.1 weights), so no input channel is added and the base's patch embedding is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers import CogVideoXTransformer3DModel, WanTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from torch import nn

__all__ = ["Backbone", "CogVideoXBackbone", "WanBackbone", "Stream", "BACKBONES", "backbone_for"]


@dataclass
class Stream:
    """What every block of one forward pass shares besides the video tokens."""

    text: torch.Tensor
    """Text tokens: CogVideoX's joint-attention tokens (updated by each block) or Wan's cross-attention context."""
    emb: torch.Tensor
    """The blocks' timestep conditioning (CogVideoX: (B, D); Wan: (B, 6, D), or (B, L, 6, D) per token)."""
    head_emb: torch.Tensor
    """The output head's timestep conditioning."""
    rope: Any
    """Rotary position embedding of the video tokens (None for sin-cos positions)."""
    frames: int
    """Frames on the token grid (working + chunk)."""


class Backbone:
    """The adapter of one base family; ``base`` is the diffusers transformer it wraps (not owned: the
    :class:`~worldmem.models.WorldMemTransformer` registers it)."""

    name: str = ""
    model_class: type = nn.Module

    def __init__(self, base: nn.Module, sample_size: tuple[int, int] | None = None):
        self.base = base
        self._sample_size = sample_size

    # ---------------------------------------------------------------- sizes
    @property
    def blocks(self) -> nn.ModuleList:
        raise NotImplementedError

    @property
    def inner_dim(self) -> int:
        c = self.base.config
        return c.num_attention_heads * c.attention_head_dim

    @property
    def num_heads(self) -> int:
        return self.base.config.num_attention_heads

    @property
    def num_layers(self) -> int:
        return self.base.config.num_layers

    @property
    def patch(self) -> tuple[int, int]:
        """Spatial patch (rows, columns); every family here has one frame per token."""
        raise NotImplementedError

    @property
    def sample_size(self) -> tuple[int, int]:
        """Latent (height, width) of the frames a pipeline makes with this model."""
        raise NotImplementedError

    @property
    def text_length(self) -> int:
        """Prompt tokens the base takes (0: no text)."""
        raise NotImplementedError

    @property
    def text_dim(self) -> int:
        raise NotImplementedError

    def check(self, latent_channels: int) -> None:
        """Raises ``ValueError`` naming the base config key when the base cannot take ``latent_channels``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- forward pieces
    def embed(self, x: torch.Tensor, working_frames: int, timestep: torch.Tensor,
              text: torch.Tensor | None) -> tuple[torch.Tensor, Stream]:
        """``x`` (B, Fw + F, C, h, w): working latents in front of the noisy chunk. Returns the video tokens
        (B, (Fw + F) * h/p * w/p, D) in (frame, row, column) order and the blocks' shared inputs."""
        raise NotImplementedError

    def run_block(self, block: nn.Module, video: torch.Tensor, text: torch.Tensor, emb: torch.Tensor,
                  rope: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """One block (of the base or a control copy): (video, text) -> (video, text)."""
        raise NotImplementedError

    def head(self, video: torch.Tensor, stream: Stream, size: tuple[int, int]) -> torch.Tensor:
        """Tokens -> (B, Fw + F, out_channels, h, w)."""
        raise NotImplementedError


class CogVideoXBackbone(Backbone):
    """``CogVideoXTransformer3DModel`` (CogVideoX-2B/5B, T2V or I2V)."""

    name = "cogvideox"
    model_class = CogVideoXTransformer3DModel

    def __init__(self, base: nn.Module, sample_size: tuple[int, int] | None = None):
        super().__init__(base, sample_size)
        self._rotary_cache: dict = {}  # (frames, h, w, device) -> (cos, sin); the same for every denoising step

    @property
    def blocks(self) -> nn.ModuleList:
        return self.base.transformer_blocks

    @property
    def patch(self) -> tuple[int, int]:
        p = self.base.config.patch_size
        return p, p

    @property
    def sample_size(self) -> tuple[int, int]:
        return self.base.config.sample_height, self.base.config.sample_width

    @property
    def text_length(self) -> int:
        return int(self.base.config.max_text_seq_length)

    @property
    def text_dim(self) -> int:
        return int(self.base.config.text_embed_dim)

    def check(self, latent_channels: int) -> None:
        cfg = self.base.config
        if cfg.patch_size_t is not None:
            raise ValueError("base_config: patch_size_t (CogVideoX 1.5 temporal patches) is not supported yet")
        if cfg.in_channels not in (latent_channels, 2 * latent_channels):
            raise ValueError(f"base_config.in_channels: expected {latent_channels} or {2 * latent_channels} "
                             f"(latents, or latents + conditioning latents), got {cfg.in_channels}")

    def rotary(self, frames: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The 3D rotary embedding of a (frames, h, w) latent grid (cached)."""
        cfg = self.base.config
        if not cfg.use_rotary_positional_embeddings:
            return None
        key = (frames, h, w, str(device))
        if key not in self._rotary_cache:
            gh, gw = h // cfg.patch_size, w // cfg.patch_size
            self._rotary_cache[key] = get_3d_rotary_pos_embed(cfg.attention_head_dim, ((0, 0), (gh, gw)), (gh, gw),
                                                              frames, device=device)
        return self._rotary_cache[key]

    def embed(self, x, working_frames, timestep, text):
        base, cfg = self.base, self.base.config
        b, n, c, h, w = x.shape
        if cfg.in_channels == 2 * c:  # image-to-video conditioning channels: the working latents at their places
            cond = torch.zeros_like(x)
            cond[:, :working_frames] = x[:, :working_frames]
            x = torch.cat([x, cond], dim=2)
        if text is None:
            text = x.new_zeros(b, 0, cfg.text_embed_dim)
        text = text.to(x.dtype)
        text_len = text.shape[1]
        if timestep.dim() == 0:
            timestep = timestep.expand(b)
        emb = base.time_embedding(base.time_proj(timestep).to(x.dtype))
        tokens = base.patch_embed(text, x)
        words, video = tokens[:, :text_len], tokens[:, text_len:]
        video = base.embedding_dropout(video)
        words = base.embedding_dropout(words) if text_len else words
        return video, Stream(text=words, emb=emb, head_emb=emb, rope=self.rotary(n, h, w, x.device), frames=n)

    def run_block(self, block, video, text, emb, rope):
        return block(hidden_states=video, encoder_hidden_states=text, temb=emb, image_rotary_emb=rope)

    def head(self, video, stream, size):
        base = self.base
        video = base.norm_final(video)
        video = base.norm_out(video, temb=stream.head_emb)
        video = base.proj_out(video)
        (h, w), p = size, base.config.patch_size
        out = video.reshape(video.shape[0], stream.frames, h // p, w // p, -1, p, p)
        return out.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)


WAN_SAMPLE_SIZES = {4: (32, 32), 16: (60, 104), 48: (44, 80)}
"""Default latent frame size by latent channels: the tiny RGB-D pixel model's 32x32 frames; Wan2.1's VAE
(16 channels, 8x) at 480x832, Wan2.2's (48 channels, 16x) at 704x1280 (the published models' default resolutions)."""


class WanBackbone(Backbone):
    """``WanTransformer3DModel`` (Wan2.1-T2V-1.3B/14B, Wan2.2-TI2V-5B, Wan2.2-T2V-A14B's experts)."""

    name = "wan"
    model_class = WanTransformer3DModel

    @property
    def blocks(self) -> nn.ModuleList:
        return self.base.blocks

    @property
    def patch(self) -> tuple[int, int]:
        _, ph, pw = self.base.config.patch_size
        return ph, pw

    @property
    def sample_size(self) -> tuple[int, int]:
        if self._sample_size is not None:
            return tuple(self._sample_size)
        c = self.base.config.out_channels
        if c not in WAN_SAMPLE_SIZES:
            raise ValueError(f"sample_size: a Wan base with {c} latent channels has no default frame size; "
                             "set sample_size (latent height, width)")
        return WAN_SAMPLE_SIZES[c]

    @property
    def text_length(self) -> int:
        return 512  # umT5 prompts, padded with zeros as Wan's pipelines do

    @property
    def text_dim(self) -> int:
        return int(self.base.config.text_dim)

    def check(self, latent_channels: int) -> None:
        cfg = self.base.config
        if tuple(cfg.patch_size)[0] != 1:
            raise ValueError(f"base_config.patch_size: expected one frame per token (1, ph, pw), got {cfg.patch_size}")
        if cfg.in_channels != latent_channels or cfg.out_channels != latent_channels:
            raise ValueError(f"base_config.in_channels: expected {latent_channels} in and out (a text-to-video or "
                             f"TI2V base; Wan2.1-I2V's mask and image channels are not supported), got "
                             f"{cfg.in_channels} in, {cfg.out_channels} out")
        if cfg.image_dim is not None:
            raise ValueError("base_config.image_dim: Wan2.1-I2V's CLIP image tokens are not supported (set null)")

    def embed(self, x, working_frames, timestep, text):
        base = self.base
        b, n, _, h, w = x.shape
        x = x.transpose(1, 2)  # (B, C, F, h, w): diffusers Wan's layout
        rope = base.rope(x)
        video = base.patch_embedding(x).flatten(2).transpose(1, 2).contiguous()
        if text is None:  # no prompt: one zero token, so that the cross-attention has a key
            text = x.new_zeros(b, 1, self.text_dim)
        if timestep.dim() == 0:
            timestep = timestep.expand(b)
        per_token = None
        if working_frames:  # clean working frames at t = 0, the chunk at t (per token, Wan2.2-TI2V style)
            ph, pw = self.patch
            per_frame = torch.cat([timestep.new_zeros(b, working_frames), timestep[:, None].expand(b, n - working_frames)],
                                  dim=1)
            timestep = per_frame.repeat_interleave((h // ph) * (w // pw), dim=1)
            per_token = timestep.shape[1]
            timestep = timestep.flatten()
        temb, proj, context, _ = base.condition_embedder(timestep, text.to(x.dtype), None, timestep_seq_len=per_token)
        proj = proj.unflatten(2, (6, -1)) if per_token is not None else proj.unflatten(1, (6, -1))
        return video, Stream(text=context, emb=proj, head_emb=temb, rope=rope, frames=n)

    def run_block(self, block, video, text, emb, rope):
        return block(video, text, emb, rope), text

    def head(self, video, stream, size):
        base = self.base
        temb = stream.head_emb
        if temb.ndim == 3:
            shift, scale = (base.scale_shift_table.unsqueeze(0).to(temb.device) + temb.unsqueeze(2)).chunk(2, dim=2)
            shift, scale = shift.squeeze(2), scale.squeeze(2)
        else:
            shift, scale = (base.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        video = (base.norm_out(video.float()) * (1 + scale) + shift).type_as(video)
        video = base.proj_out(video)
        (h, w), (ph, pw) = size, self.patch
        out = video.reshape(video.shape[0], stream.frames, h // ph, w // pw, 1, ph, pw, -1)
        out = out.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)
        return out.transpose(1, 2)  # (B, F, C, h, w)


BACKBONES: dict[str, type[Backbone]] = {"cogvideox": CogVideoXBackbone, "wan": WanBackbone}


def backbone_for(name: str) -> type[Backbone]:
    """The adapter class of family ``name``; ``ValueError`` names the choices."""
    if name not in BACKBONES:
        raise ValueError(f"backbone: expected one of {tuple(BACKBONES)}, got {name!r}")
    return BACKBONES[name]
