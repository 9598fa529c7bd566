"""WorldMemTransformer: a video diffusion transformer (CogVideoX or Wan) that reads a memory readout.

The main stream is a diffusers base transformer (``self.base``): ``CogVideoXTransformer3DModel`` or
``WanTransformer3DModel``, chosen by ``backbone``; what differs between the two (input, blocks, timestep and
text conditioning, output head) is behind one small adapter, :mod:`worldmem.models.backbones`. The memory
layers are written once for both. Memory enters through four paths, each switched off per call by passing
None, each new layer zero-initialised so that a model built from a base checkpoint reproduces the base model
exactly until it is trained:

1. working memory: the last W frames (clean latents) sit in front of the chunk on the frame axis, as the
   adapter takes them (CogVideoX-I2V: also in the conditioning channels, ``in_channels == 2 C``; Wan: at
   timestep 0 per token), and a mask channel (1 at working positions) enters through a zero-initialised patch
   embedding;
2. spatial memory: the static map rendered along the chunk's cameras (codec latents + coverage) enters through
   a control branch (copies of ``num_control_layers`` blocks whose outputs pass zero linear layers into the
   main stream: after the first blocks, ControlNet style, or after blocks spread over the depth, VACE style;
   ``control_placement``) and/or as extra input channels (``spatial_mode``: "controlnet", "concat", "both" or
   "none");
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
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from worldmem.models.backbones import Backbone, backbone_for
from worldmem.models.memory_layers import KeyframeContext, KeyframeCrossAttention, PatchConditioner

__all__ = ["WorldMemTransformer", "MemoryTokens", "SPATIAL_MODES", "CONTROL_PLACEMENTS", "TINY_BASE_CONFIG",
           "TINY_WAN_BASE_CONFIG"]

SPATIAL_MODES = ("controlnet", "concat", "both", "none")
CONTROL_PLACEMENTS = ("first", "spread")

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

# The tiny Wan-architecture CPU model: the same 32x32 RGB-D frames, 4x4 patches and width, 4 Wan blocks.
TINY_WAN_BASE_CONFIG = {
    "patch_size": [1, 4, 4],
    "num_attention_heads": 4,
    "attention_head_dim": 32,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 128,
    "ffn_dim": 512,
    "num_layers": 4,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}


@dataclass
class MemoryTokens:
    """The memory of one chunk as the transformer reads it (:meth:`WorldMemTransformer.encode_memory`): what does
    not change between denoising steps, computed once per chunk."""

    shape: tuple[int, int, int, int]
    """(B, F, h, w) of the chunk's latents it was encoded for."""
    working: torch.Tensor | None = None
    """(B, Fw, C, h, w) working latents (they enter the base's own input, in front of the chunk)."""
    added: list[torch.Tensor] = field(default_factory=list)
    """Tokens (B, (Fw + F) * h/p * w/p, D) added to the main stream after the patch embedding, in order: working
    mask, camera, spatial concat (those present)."""
    control: torch.Tensor | None = None
    """The render's tokens that start the control branch (None: no control branch or no render)."""
    keyframes: dict[str, KeyframeContext] = field(default_factory=dict)
    """Keys and values of the keyframes for each keyframe layer (empty: no episodic memory)."""

    @property
    def working_frames(self) -> int:
        return 0 if self.working is None else self.working.shape[1]


class WorldMemTransformer(ModelMixin, ConfigMixin):
    """Memory-conditioned video diffusion transformer.

    Args:
        base_config: keyword arguments of the main-stream base transformer (the tiny CogVideoX by default;
            ``TINY_WAN_BASE_CONFIG`` for the tiny Wan).
        latent_channels: channels ``C`` of the codec's latents (4 for RGB-D pixels, 16 for CogVideoX's and
            Wan2.1's VAE, 48 for Wan2.2's).
        spatial_mode: how the spatial render enters: "controlnet", "concat", "both" or "none".
        num_control_layers: blocks copied into the control branch (the paper copies 18 of 42).
        keyframe_every: a keyframe cross-attention layer after every this many blocks (0: no episodic path).
        use_camera: whether the Plücker camera path exists.
        backbone: the base family, "cogvideox" or "wan" (:mod:`worldmem.models.backbones`).
        control_placement: "first" (ControlNet: copies of the first blocks, each output added after the same
            block) or "spread" (VACE: copies of blocks spread evenly over the depth, each output added after the
            block it copies).
        sample_size: latent (height, width) of the frames a pipeline makes, for a base whose config has no size
            (Wan; None: the published default for its VAE, :data:`~worldmem.models.backbones.WAN_SAMPLE_SIZES`).
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(self, base_config: dict | None = None, latent_channels: int = 4, spatial_mode: str = "controlnet",
                 num_control_layers: int = 2, keyframe_every: int = 2, use_camera: bool = True,
                 backbone: str = "cogvideox", control_placement: str = "first",
                 sample_size: list[int] | None = None):
        super().__init__()
        family = backbone_for(backbone)
        default = TINY_WAN_BASE_CONFIG if backbone == "wan" else TINY_BASE_CONFIG
        base_config = {k: v for k, v in dict(base_config or default).items() if not k.startswith("_")}
        if spatial_mode not in SPATIAL_MODES:
            raise ValueError(f"spatial_mode: expected one of {SPATIAL_MODES}, got {spatial_mode!r}")
        if control_placement not in CONTROL_PLACEMENTS:
            raise ValueError(f"control_placement: expected one of {CONTROL_PLACEMENTS}, got {control_placement!r}")
        if sample_size is not None and (len(sample_size) != 2 or min(sample_size) < 1):
            raise ValueError(f"sample_size: expected [height, width] in latents, got {sample_size!r}")
        self.base = family.model_class(**base_config)
        self.adapter: Backbone = family(self.base, None if sample_size is None else tuple(sample_size))
        self.adapter.check(latent_channels)
        n_layers = self.adapter.num_layers
        if not 0 <= num_control_layers <= n_layers:
            raise ValueError(f"num_control_layers: expected 0..{n_layers}, got {num_control_layers}")
        dim, p = self.adapter.inner_dim, self.adapter.patch
        self.inner_dim = dim
        self.working_mask_embed = PatchConditioner(1, dim, p)
        self.camera_embed = PatchConditioner(6, dim, p) if use_camera else None
        spatial_in = latent_channels + 1
        self.spatial_concat = PatchConditioner(spatial_in, dim, p) if spatial_mode in ("concat", "both") else None
        if spatial_mode in ("controlnet", "both") and num_control_layers > 0:
            self.control_at = control_indices(control_placement, num_control_layers, n_layers)
            self.control_in = PatchConditioner(spatial_in, dim, p)
            self.control_blocks = nn.ModuleList(copy.deepcopy(self.adapter.blocks[i]) for i in self.control_at)
            self.control_out = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_control_layers))
            for layer in self.control_out:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        else:
            self.control_at = ()
            self.control_in, self.control_blocks, self.control_out = None, None, None
        if keyframe_every > 0:
            self.keyframe_embed = PatchConditioner(latent_channels + 6, dim, p, zero_init=False)
            self.keyframe_norm = nn.LayerNorm(dim)
            self.keyframe_attn = nn.ModuleDict({
                str(i): KeyframeCrossAttention(dim, self.adapter.num_heads)
                for i in range(n_layers) if (i + 1) % keyframe_every == 0
            })
        else:
            self.keyframe_embed, self.keyframe_norm, self.keyframe_attn = None, None, None
        self.gradient_checkpointing = False

    # ------------------------------------------------------------------ construction from a base checkpoint
    @classmethod
    def from_cogvideox(cls, path, **memory_kwargs) -> WorldMemTransformer:
        """Builds the model from a local diffusers CogVideoX(-I2V) transformer checkpoint.

        ``path`` is the transformer folder or a pipeline folder with ``transformer/``. The base weights are
        copied, the control blocks are copies of the base's blocks, and every new layer is zero initialised:
        with the memory paths off, the output equals the base model's.
        """
        return cls._from_base("cogvideox", "from_cogvideox", path, **memory_kwargs)

    @classmethod
    def from_wan(cls, path, **memory_kwargs) -> WorldMemTransformer:
        """Builds the model from a local diffusers Wan transformer checkpoint (Wan2.1-T2V-1.3B, Wan2.2-TI2V-5B).

        ``path`` is the transformer folder or a pipeline folder with ``transformer/`` (a Wan2.2-A14B pipeline's
        ``transformer_2`` is not read). The base weights are copied, the control blocks are copies of the base's
        blocks, and every new layer is zero initialised: the output equals the base model's (with the working
        frames at timestep 0 per token) until trained.
        """
        return cls._from_base("wan", "from_wan", path, **memory_kwargs)

    @classmethod
    def _from_base(cls, backbone: str, caller: str, path, **memory_kwargs) -> WorldMemTransformer:
        path = Path(path)
        folder = path / "transformer" if (path / "transformer" / "config.json").is_file() else path
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{caller}: no transformer config.json under {path} (or {path}/transformer)")
        base = backbone_for(backbone).model_class.from_pretrained(folder)
        memory_kwargs.setdefault("latent_channels", base.config.out_channels)
        model = cls(base_config={k: v for k, v in base.config.items() if not k.startswith("_")}, backbone=backbone,
                    **memory_kwargs)
        model.base.load_state_dict(base.state_dict())
        if model.control_blocks is not None:
            for block, i in zip(model.control_blocks, model.control_at, strict=True):
                block.load_state_dict(model.adapter.blocks[i].state_dict())
        return model if base.dtype == torch.float32 else model.to(base.dtype)

    # ------------------------------------------------------------------ helpers
    @property
    def _repeated_blocks(self) -> list[str]:
        """The block class diffusers' ``compile_repeated_blocks`` compiles (regional compilation): the base's
        block, which the control branch's copies share."""
        return [type(self.adapter.blocks[0]).__name__]

    @property
    def sample_size(self) -> tuple[int, int]:
        """Latent (height, width) of the frames a pipeline makes with this model."""
        return self.adapter.sample_size

    def _rotary(self, frames: int, h: int, w: int, device):
        """CogVideoX's 3D rotary embedding of a (frames, h, w) latent grid (tests compare with the base's)."""
        return self.adapter.rotary(frames, h, w, device)

    def _check(self, name: str, t: torch.Tensor | None, shape: tuple) -> None:
        if t is None:
            return
        if t.dim() != len(shape) or any(e is not None and s != e for s, e in zip(t.shape, shape, strict=True)):
            want = "(" + ", ".join("?" if e is None else str(e) for e in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {tuple(t.shape)}")

    # ------------------------------------------------------------------ forward
    def encode_memory(self, shape: tuple[int, int, int, int], *, working: torch.Tensor | None = None,
                      spatial: torch.Tensor | None = None, keyframes: torch.Tensor | None = None,
                      keyframe_mask: torch.Tensor | None = None, plucker: torch.Tensor | None = None,
                      keyframe_plucker: torch.Tensor | None = None, dtype: torch.dtype | None = None) -> MemoryTokens:
        """The memory's tokens for a chunk of ``shape`` (B, F, h, w) latents: checked, patch-embedded, and the
        keyframes' keys and values for every keyframe layer. None of them depends on the noisy latents or the
        timestep, so a sampler encodes them once per chunk and passes them to every step (``memory=``); the
        forward pass gives bit-for-bit the same output either way. Shapes as in the module docstring; ``dtype``
        is the tokens' (default the working latents', else float32)."""
        b, f, h, w = shape
        c = self.config.latent_channels
        fw = 0 if working is None else working.shape[1]
        self._check("working", working, (b, None, c, h, w))
        self._check("spatial", spatial, (b, f, c + 1, h, w))
        self._check("plucker", plucker, (b, fw + f, 6, h, w))
        ph, pw = self.adapter.patch
        if h % ph or w % pw:
            raise ValueError(f"hidden_states: expected h, w divisible by patch size {(ph, pw)}, got {(h, w)}")
        if keyframes is not None:
            self._check("keyframes", keyframes, (b, None, c, h, w))
            self._check("keyframe_plucker", keyframe_plucker, (b, keyframes.shape[1], 6, h, w))
            if keyframe_plucker is None:
                raise ValueError("keyframe_plucker: expected (B, K, 6, h, w) with keyframes, got None")
        if dtype is None:
            dtype = torch.float32 if working is None else working.dtype
        added = []
        if working is not None:
            mask = torch.zeros(b, fw + f, 1, h, w, device=working.device, dtype=dtype)
            mask[:, :fw] = 1.0
            added.append(self.working_mask_embed(mask))
        if plucker is not None and self.camera_embed is not None:
            added.append(self.camera_embed(plucker.to(dtype)))
        control = None
        if spatial is not None:
            spatial_full = torch.cat([spatial.new_zeros(b, fw, c + 1, h, w), spatial], 1).to(dtype)
            if self.spatial_concat is not None:
                added.append(self.spatial_concat(spatial_full))
            if self.control_blocks is not None:
                control = self.control_in(spatial_full)
        contexts = {}
        if keyframes is not None and self.keyframe_attn is not None and keyframes.shape[1] > 0:
            k = keyframes.shape[1]
            key_in = torch.cat([keyframes.to(dtype), keyframe_plucker.to(dtype)], dim=2)
            key_tokens = self.keyframe_norm(self.keyframe_embed(key_in))
            per_frame = key_tokens.shape[1] // k
            if keyframe_mask is None:
                keyframe_mask = torch.ones(b, k, dtype=torch.bool, device=key_tokens.device)
            key_mask = keyframe_mask.to(torch.bool).repeat_interleave(per_frame, dim=1)
            contexts = {i: layer.context(key_tokens, key_mask) for i, layer in self.keyframe_attn.items()}
        return MemoryTokens(shape=(b, f, h, w), working=working, added=added, control=control, keyframes=contexts)

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor, *, working: torch.Tensor | None = None,
                spatial: torch.Tensor | None = None, keyframes: torch.Tensor | None = None,
                keyframe_mask: torch.Tensor | None = None, plucker: torch.Tensor | None = None,
                keyframe_plucker: torch.Tensor | None = None, encoder_hidden_states: torch.Tensor | None = None,
                memory: MemoryTokens | None = None, return_dict: bool = True):
        """Predicts the scheduler's target for the chunk; see the module docstring for shapes. The memory comes
        either as its inputs (``working`` ... ``keyframe_plucker``) or already encoded (``memory``, from
        :meth:`encode_memory`), not both."""
        adapter = self.adapter
        c = self.config.latent_channels
        b, f, _, h, w = hidden_states.shape
        self._check("hidden_states", hidden_states, (b, f, c, h, w))
        given = [name for name, t in (("working", working), ("spatial", spatial), ("keyframes", keyframes),
                                      ("plucker", plucker)) if t is not None]
        if memory is None:
            memory = self.encode_memory((b, f, h, w), working=working, spatial=spatial, keyframes=keyframes,
                                        keyframe_mask=keyframe_mask, plucker=plucker,
                                        keyframe_plucker=keyframe_plucker, dtype=hidden_states.dtype)
        elif given:
            raise ValueError(f"memory: expected either encoded memory or its inputs, got both ({', '.join(given)})")
        elif memory.shape != (b, f, h, w):
            raise ValueError(f"memory: encoded for latents {memory.shape} (B, F, h, w), got {(b, f, h, w)}")
        if encoder_hidden_states is not None:
            self._check("encoder_hidden_states", encoder_hidden_states, (b, None, adapter.text_dim))
            self._check_text_length(encoder_hidden_states.shape[1])
        # 1. The base's input (working latents in front of the chunk), tokens, text and timestep conditioning.
        working, fw = memory.working, memory.working_frames
        x = hidden_states if working is None else torch.cat([working.to(hidden_states.dtype), hidden_states], 1)
        timestep = torch.as_tensor(timestep, device=x.device)
        video, stream = adapter.embed(x, fw, timestep, encoder_hidden_states)
        # 2. The zero-initialised memory and camera paths, added to the tokens (working mask, camera, spatial).
        for tokens in memory.added:
            video = video + tokens
        # 3. Control branch over the render: one residual for each main block in control_at.
        residuals = {}
        if memory.control is not None:
            ctrl, ctrl_text = video + memory.control, stream.text
            for block, out, at in zip(self.control_blocks, self.control_out, self.control_at, strict=True):
                ctrl, ctrl_text = self._run_block(block, ctrl, ctrl_text, stream.emb, stream.rope)
                residuals[at] = out(ctrl)
        # 4. Main stream, reading the keyframes after every keyframe_every-th block.
        text = stream.text
        for i, block in enumerate(adapter.blocks):
            video, text = self._run_block(block, video, text, stream.emb, stream.rope)
            if i in residuals:
                video = video + residuals[i]
            if str(i) in memory.keyframes:
                video = video + self.keyframe_attn[str(i)].attend(video, memory.keyframes[str(i)])
        # 5. Output head; only the chunk's frames are returned.
        out = adapter.head(video, stream, (h, w))[:, fw:]
        if not return_dict:
            return (out,)
        return Transformer2DModelOutput(sample=out)

    def _check_text_length(self, n_text: int) -> None:
        if self.config.backbone != "cogvideox":
            return
        base = self.base.config
        if not base.use_rotary_positional_embeddings and n_text != base.max_text_seq_length:
            raise ValueError(f"encoder_hidden_states: expected {base.max_text_seq_length} text tokens (the model's "
                             f"max_text_seq_length, which its positional embedding covers), got {n_text}")

    def _run_block(self, block, video, text, emb, rope):
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(self.adapter.run_block, block, video, text, emb, rope)
        return self.adapter.run_block(block, video, text, emb, rope)


def control_indices(placement: str, n: int, layers: int) -> tuple[int, ...]:
    """The main blocks after which the ``n`` control outputs are added (and which the control blocks copy):
    "first" -> 0..n-1 (ControlNet); "spread" -> evenly over the depth, starting at block 0 (VACE's hint layers,
    e.g. 0, 2, 4, ... for half the blocks)."""
    if placement == "first":
        return tuple(range(n))
    return tuple(i * layers // n for i in range(n))
