"""WorldMemTransformer: a CogVideoX-style video diffusion transformer that reads a memory readout.

The main stream is a diffusers ``CogVideoXTransformer3DModel`` (``self.base``): frame patches with 3D (frame,
row, column) rotary or sin-cos positions, timestep adaLN conditioning, optional text tokens. Memory enters
through four paths, each switched off per call by passing None, each new layer zero-initialised so that a
model built from a base checkpoint reproduces the base model exactly until it is trained:

1. working memory: the last W frames (clean latents) sit in front of the chunk on the frame axis; the base's
   conditioning channels (image-to-video style, ``in_channels == 2 C``) hold them at their positions and zeros
   elsewhere, and a mask channel (1 at working positions) enters through a zero-initialised patch embedding;
2. spatial memory: the static map rendered along the chunk's cameras (codec latents + coverage) enters through
   a ControlNet-like branch (copies of the first ``num_control_layers`` blocks whose outputs pass zero linear
   layers into the main stream) and/or as extra input channels (``spatial_mode``: "controlnet", "concat",
   "both" or "none");
3. episodic memory: up to K keyframes, patch-embedded with their Plücker rays, read by cross-attention
   layers after every ``keyframe_every``-th block;
4. cameras: a per-pixel Plücker embedding (6 channels, relative to a reference camera) for every frame.

Tensor layout (latent space; ``F`` chunk frames, ``Fw`` working frames, ``K`` keyframes, ``C`` latent channels):
``hidden_states`` (B, F, C, h, w) noisy chunk; ``working`` (B, Fw, C, h, w); ``spatial`` (B, F, C + 1, h, w)
render latents + coverage; ``keyframes`` (B, K, C, h, w) with ``keyframe_mask`` (B, K) bool; ``plucker``
(B, Fw + F, 6, h, w); ``keyframe_plucker`` (B, K, 6, h, w); ``encoder_hidden_states`` (B, L, text_embed_dim)
prompt embeddings (T5's last hidden state, ``L = max_text_seq_length`` tokens: 226 for CogVideoX; see
:mod:`worldmem.models.text`), or None for no text tokens at all (the tiny model, ``max_text_seq_length`` 0). Output:
(B, F, out_channels, h, w).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from worldmem.models.memory_layers import KeyframeCrossAttention, PatchConditioner

__all__ = ["WorldMemTransformer", "SPATIAL_MODES", "TINY_BASE_CONFIG"]

SPATIAL_MODES = ("controlnet", "concat", "both", "none")

# The tiny CPU model: 32x32 RGB-D frames in pixel space, 4x4 patches, 4 blocks of 4 heads x 32.
TINY_BASE_CONFIG = {
    "num_attention_heads": 4,
    "attention_head_dim": 32,
    "in_channels": 8,
    "out_channels": 4,
    "time_embed_dim": 128,
    "text_embed_dim": 16,
    "num_layers": 4,
    "sample_width": 32,
    "sample_height": 32,
    "sample_frames": 6,
    "patch_size": 4,
    "temporal_compression_ratio": 1,
    "max_text_seq_length": 0,
    "use_rotary_positional_embeddings": True,
}


class WorldMemTransformer(ModelMixin, ConfigMixin):
    """Memory-conditioned video diffusion transformer.

    Args:
        base_config: keyword arguments of the main-stream ``CogVideoXTransformer3DModel`` (tiny by default).
        latent_channels: channels ``C`` of the codec's latents (4 for RGB-D pixels, 16 for CogVideoX's VAE).
        spatial_mode: how the spatial render enters: "controlnet", "concat", "both" or "none".
        num_control_layers: blocks copied into the ControlNet branch (the paper copies 18 of 42).
        keyframe_every: a keyframe cross-attention layer after every this many blocks (0: no episodic path).
        use_camera: whether the Plücker camera path exists.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(self, base_config: dict | None = None, latent_channels: int = 4, spatial_mode: str = "controlnet",
                 num_control_layers: int = 2, keyframe_every: int = 2, use_camera: bool = True):
        super().__init__()
        base_config = {k: v for k, v in dict(base_config or TINY_BASE_CONFIG).items() if not k.startswith("_")}
        if spatial_mode not in SPATIAL_MODES:
            raise ValueError(f"spatial_mode: expected one of {SPATIAL_MODES}, got {spatial_mode!r}")
        self.base = CogVideoXTransformer3DModel(**base_config)
        cfg = self.base.config
        if cfg.patch_size_t is not None:
            raise ValueError("base_config: patch_size_t (CogVideoX 1.5 temporal patches) is not supported yet")
        if cfg.in_channels not in (latent_channels, 2 * latent_channels):
            raise ValueError(f"base_config.in_channels: expected {latent_channels} or {2 * latent_channels} "
                             f"(latents, or latents + conditioning latents), got {cfg.in_channels}")
        if not 0 <= num_control_layers <= cfg.num_layers:
            raise ValueError(f"num_control_layers: expected 0..{cfg.num_layers}, got {num_control_layers}")
        dim = cfg.num_attention_heads * cfg.attention_head_dim
        p = cfg.patch_size
        self.inner_dim = dim
        self.working_mask_embed = PatchConditioner(1, dim, p)
        self.camera_embed = PatchConditioner(6, dim, p) if use_camera else None
        spatial_in = latent_channels + 1
        self.spatial_concat = PatchConditioner(spatial_in, dim, p) if spatial_mode in ("concat", "both") else None
        if spatial_mode in ("controlnet", "both") and num_control_layers > 0:
            self.control_in = PatchConditioner(spatial_in, dim, p)
            self.control_blocks = nn.ModuleList(copy.deepcopy(self.base.transformer_blocks[i])
                                                for i in range(num_control_layers))
            self.control_out = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_control_layers))
            for layer in self.control_out:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        else:
            self.control_in, self.control_blocks, self.control_out = None, None, None
        if keyframe_every > 0:
            self.keyframe_embed = PatchConditioner(latent_channels + 6, dim, p, zero_init=False)
            self.keyframe_norm = nn.LayerNorm(dim)
            self.keyframe_attn = nn.ModuleDict({
                str(i): KeyframeCrossAttention(dim, cfg.num_attention_heads)
                for i in range(cfg.num_layers) if (i + 1) % keyframe_every == 0
            })
        else:
            self.keyframe_embed, self.keyframe_norm, self.keyframe_attn = None, None, None
        self.gradient_checkpointing = False
        self._rotary_cache: dict = {}  # (frames, h, w, device) -> (cos, sin); the same for every denoising step

    # ------------------------------------------------------------------ construction from CogVideoX
    @classmethod
    def from_cogvideox(cls, path, **memory_kwargs) -> WorldMemTransformer:
        """Builds the model from a local diffusers CogVideoX(-I2V) transformer checkpoint.

        ``path`` is the transformer folder or a pipeline folder with ``transformer/``. The base weights are
        copied, the ControlNet blocks are copies of the base's first blocks, and every new layer is zero
        initialised: with the memory paths off, the output equals the base model's.
        """
        path = Path(path)
        folder = path / "transformer" if (path / "transformer" / "config.json").is_file() else path
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"from_cogvideox: no transformer config.json under {path} (or {path}/transformer)")
        base = CogVideoXTransformer3DModel.from_pretrained(folder)
        memory_kwargs.setdefault("latent_channels", base.config.out_channels)
        model = cls(base_config={k: v for k, v in base.config.items() if not k.startswith("_")}, **memory_kwargs)
        model.base.load_state_dict(base.state_dict())
        if model.control_blocks is not None:
            for i, block in enumerate(model.control_blocks):
                block.load_state_dict(model.base.transformer_blocks[i].state_dict())
        return model.to(base.dtype)

    # ------------------------------------------------------------------ helpers
    def _rotary(self, frames: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor] | None:
        cfg = self.base.config
        if not cfg.use_rotary_positional_embeddings:
            return None
        key = (frames, h, w, str(device))
        if key not in self._rotary_cache:
            gh, gw = h // cfg.patch_size, w // cfg.patch_size
            self._rotary_cache[key] = get_3d_rotary_pos_embed(cfg.attention_head_dim, ((0, 0), (gh, gw)), (gh, gw),
                                                              frames, device=device)
        return self._rotary_cache[key]

    def _check(self, name: str, t: torch.Tensor | None, shape: tuple) -> None:
        if t is None:
            return
        if t.dim() != len(shape) or any(e is not None and s != e for s, e in zip(t.shape, shape, strict=True)):
            want = "(" + ", ".join("?" if e is None else str(e) for e in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {tuple(t.shape)}")

    # ------------------------------------------------------------------ forward
    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, *, working: torch.Tensor | None = None,
                spatial: torch.Tensor | None = None, keyframes: torch.Tensor | None = None,
                keyframe_mask: torch.Tensor | None = None, plucker: torch.Tensor | None = None,
                keyframe_plucker: torch.Tensor | None = None, encoder_hidden_states: torch.Tensor | None = None,
                return_dict: bool = True):
        """Predicts the scheduler's target for the chunk; see the module docstring for shapes."""
        cfg = self.base.config
        c = self.config.latent_channels
        b, f, _, h, w = hidden_states.shape
        self._check("hidden_states", hidden_states, (b, f, c, h, w))
        fw = 0 if working is None else working.shape[1]
        self._check("working", working, (b, None, c, h, w))
        self._check("spatial", spatial, (b, f, c + 1, h, w))
        self._check("plucker", plucker, (b, fw + f, 6, h, w))
        if h % cfg.patch_size or w % cfg.patch_size:
            raise ValueError(f"hidden_states: expected h, w divisible by patch size {cfg.patch_size}, got {(h, w)}")
        if encoder_hidden_states is not None:
            self._check("encoder_hidden_states", encoder_hidden_states, (b, None, cfg.text_embed_dim))
            n_text = encoder_hidden_states.shape[1]
            if not cfg.use_rotary_positional_embeddings and n_text != cfg.max_text_seq_length:
                raise ValueError(f"encoder_hidden_states: expected {cfg.max_text_seq_length} text tokens (the model's "
                                 f"max_text_seq_length, which its positional embedding covers), got {n_text}")
        if keyframes is not None:
            self._check("keyframes", keyframes, (b, None, c, h, w))
            self._check("keyframe_plucker", keyframe_plucker, (b, keyframes.shape[1], 6, h, w))
            if keyframe_plucker is None:
                raise ValueError("keyframe_plucker: expected (B, K, 6, h, w) with keyframes, got None")

        # 1. Main input: working latents in front of the chunk, plus the conditioning channels if the base has them.
        x = hidden_states if working is None else torch.cat([working.to(hidden_states.dtype), hidden_states], 1)
        if cfg.in_channels == 2 * c:
            cond = torch.zeros_like(x)
            if working is not None:
                cond[:, :fw] = working.to(x.dtype)
            x = torch.cat([x, cond], dim=2)
        if encoder_hidden_states is None:
            encoder_hidden_states = x.new_zeros(b, 0, cfg.text_embed_dim)
        encoder_hidden_states = encoder_hidden_states.to(x.dtype)
        text_len = encoder_hidden_states.shape[1]

        # 2. Timestep embedding (adaLN conditioning of every block).
        timestep = torch.as_tensor(timestep, device=x.device)
        if timestep.dim() == 0:
            timestep = timestep.expand(b)
        emb = self.base.time_embedding(self.base.time_proj(timestep).to(x.dtype))

        # 3. Tokens: base patch embedding (+ text) plus the zero-initialised memory and camera paths.
        tokens = self.base.patch_embed(encoder_hidden_states, x)
        text, video = tokens[:, :text_len], tokens[:, text_len:]
        if working is not None:
            mask = x.new_zeros(b, fw + f, 1, h, w)
            mask[:, :fw] = 1.0
            video = video + self.working_mask_embed(mask)
        if plucker is not None and self.camera_embed is not None:
            video = video + self.camera_embed(plucker.to(x.dtype))
        spatial_full = None
        if spatial is not None:
            spatial_full = torch.cat([spatial.new_zeros(b, fw, c + 1, h, w), spatial], 1).to(x.dtype)
            if self.spatial_concat is not None:
                video = video + self.spatial_concat(spatial_full)
        video = self.base.embedding_dropout(video)
        text = self.base.embedding_dropout(text) if text_len else text
        rope = self._rotary(fw + f, h, w, x.device)

        # 4. ControlNet branch over the render: residuals for the first blocks of the main stream.
        residuals = []
        if spatial_full is not None and self.control_blocks is not None:
            ctrl, ctrl_text = video + self.control_in(spatial_full), text
            for block, out in zip(self.control_blocks, self.control_out, strict=True):
                ctrl, ctrl_text = self._run_block(block, ctrl, ctrl_text, emb, rope)
                residuals.append(out(ctrl))

        # 5. Keyframe tokens for the cross-attention layers.
        key_tokens = key_mask = None
        if keyframes is not None and self.keyframe_attn is not None and keyframes.shape[1] > 0:
            k = keyframes.shape[1]
            key_in = torch.cat([keyframes.to(x.dtype), keyframe_plucker.to(x.dtype)], dim=2)
            key_tokens = self.keyframe_norm(self.keyframe_embed(key_in))
            per_frame = key_tokens.shape[1] // k
            if keyframe_mask is None:
                keyframe_mask = torch.ones(b, k, dtype=torch.bool, device=x.device)
            key_mask = keyframe_mask.to(torch.bool).repeat_interleave(per_frame, dim=1)

        # 6. Main stream.
        for i, block in enumerate(self.base.transformer_blocks):
            video, text = self._run_block(block, video, text, emb, rope)
            if i < len(residuals):
                video = video + residuals[i]
            if key_tokens is not None and str(i) in self.keyframe_attn:
                video = video + self.keyframe_attn[str(i)](video, key_tokens, key_mask)

        # 7. Output head and unpatchify; only the chunk's frames are returned.
        video = self.base.norm_final(video)
        video = self.base.norm_out(video, temb=emb)
        video = self.base.proj_out(video)
        p = cfg.patch_size
        out = video.reshape(b, fw + f, h // p, w // p, -1, p, p)
        out = out.permute(0, 1, 4, 2, 5, 3, 6).flatten(5, 6).flatten(3, 4)[:, fw:]
        if not return_dict:
            return (out,)
        return Transformer2DModelOutput(sample=out)

    def _run_block(self, block, video, text, emb, rope):
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(block, video, text, emb, rope, None)
        return block(hidden_states=video, encoder_hidden_states=text, temb=emb, image_rotary_emb=rope)
