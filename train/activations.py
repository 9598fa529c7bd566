"""Activation memory of the transformer's layers, measured on the CPU and scaled with the token count.

Method: one full-width layer (a CogVideoX or Wan block materialised from the configured model, a keyframe
cross-attention layer, a linear layer) runs its forward pass in bf16 on the CPU at a few small token counts under
``torch.autograd.graph.saved_tensors_hooks``; every tensor autograd keeps for the backward pass is counted
once per storage (bytes of the storage, so views are not counted twice), parameters and tensors shared by all
layers (the rotary tables) excluded. Those counts are exactly linear in the tokens (CPU attention, like
FlashAttention on a GPU, saves the output and one log-sum-exp per query, not the attention matrix), which is
checked on a further size; the fitted line is then evaluated at the configured size. Which tensors autograd
keeps depends on what requires gradients, so frozen blocks (``train_new_modules_only``) are measured frozen.

The same block is checked against diffusers' own block (``CogVideoXBlock`` or ``WanTransformerBlock``) built
from the published configuration with the same weights: their outputs are equal at the reduced token count.

What a block's saved bytes grow with differs by family (:class:`BlockProbe`): CogVideoX attends jointly over
video and text tokens, so its line is in video + text tokens (the text growing with the video while fitting);
Wan reads its text by cross-attention, so its line is in video tokens with the text at its full configured
length (512 umT5 tokens) at every measured size, and its timestep modulation is per token (working frames at
t = 0), as in training.
"""

from __future__ import annotations

import copy
from functools import partial

import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed, WanTransformerBlock
from torch import nn

from worldmem.models.memory_layers import KeyframeCrossAttention

__all__ = ["saved_bytes", "materialize", "BlockProbe", "block_fit", "keyframe_fit", "linear_fit",
           "check_block_against_diffusers"]

DTYPE = torch.bfloat16
# (latent frames, patch rows, patch columns, text tokens): fitted on the first and last, checked on the middle.
BLOCK_SIZES = ((1, 2, 4, 4), (2, 2, 4, 8), (2, 4, 4, 16))


def saved_bytes(fn, exclude: set[int] = frozenset()) -> int:
    """Bytes of the distinct storages autograd saves while ``fn()`` runs (storages in ``exclude`` not counted)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in exclude:
            seen[s.data_ptr()] = max(seen.get(s.data_ptr(), 0), s.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def _storages(module: nn.Module) -> set[int]:
    return {p.untyped_storage().data_ptr() for p in module.parameters()}


def materialize(module: nn.Module, seed: int = 0) -> nn.Module:
    """A CPU bf16 copy of a (meta-device) module with seeded random weights (std 0.02; norms at 1)."""
    module = copy.deepcopy(module).to_empty(device="cpu").to(DTYPE)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=g)
    return module


class BlockProbe:
    """How to build, feed and measure one block of a base family.

    Args:
        family: "cogvideox" or "wan".
        base_config: the base transformer's config.
        text_tokens: the text length of one sample (Wan: measured at it; CogVideoX: scaled with the video).
    """

    def __init__(self, family: str, base_config: dict, text_tokens: int):
        self.family, self.config, self.text_tokens = family, base_config, text_tokens
        if family == "wan":  # the text stays at its full length; the video grows
            self.sizes = tuple((f, gh, gw, text_tokens) for f, gh, gw, _ in BLOCK_SIZES)
        else:
            self.sizes = BLOCK_SIZES

    def tokens(self, video: int, text: int) -> int:
        """The fit's axis: video + text tokens (CogVideoX, joint attention) or video tokens (Wan)."""
        return video if self.family == "wan" else video + text

    def reference_block(self) -> nn.Module:
        """diffusers' own block for the config (the arguments its model passes it)."""
        c = self.config
        if self.family == "wan":
            return WanTransformerBlock(c["num_attention_heads"] * c["attention_head_dim"], c["ffn_dim"],
                                       c["num_attention_heads"], c.get("qk_norm", "rms_norm_across_heads"),
                                       c.get("cross_attn_norm", True), c.get("eps", 1e-6), c.get("added_kv_proj_dim"))
        return CogVideoXBlock(dim=c["num_attention_heads"] * c["attention_head_dim"],
                              num_attention_heads=c["num_attention_heads"], attention_head_dim=c["attention_head_dim"],
                              time_embed_dim=c["time_embed_dim"], dropout=c.get("dropout", 0.0),
                              activation_fn=c.get("activation_fn", "gelu-approximate"),
                              attention_bias=c.get("attention_bias", True),
                              norm_elementwise_affine=c.get("norm_elementwise_affine", True),
                              norm_eps=c.get("norm_eps", 1e-5))

    def call_reference(self, block: nn.Module, video, text, emb, rope) -> tuple:
        if self.family == "wan":
            return block(video, text, emb, rope), text
        return block(hidden_states=video, encoder_hidden_states=text, temb=emb, image_rotary_emb=rope)

    def inputs(self, block: nn.Module, frames: int, gh: int, gw: int, text: int, grad: bool, emb_grad: bool):
        """(video, text, timestep conditioning, rope) of one sample at a (frames, gh, gw) token grid."""
        c = self.config
        dim = c["num_attention_heads"] * c["attention_head_dim"]
        heads = c["num_attention_heads"]
        g = torch.Generator().manual_seed(frames * 1000 + gh * 10 + gw)
        n = frames * gh * gw
        video = torch.randn(1, n, dim, generator=g).to(DTYPE).requires_grad_(grad)
        words = torch.randn(1, text, dim, generator=g).to(DTYPE).requires_grad_(grad)
        if self.family == "wan":
            emb = torch.randn(1, n, 6, dim, generator=g).to(DTYPE).requires_grad_(emb_grad)  # per token
            rope = WanRotaryPosEmbed(dim // heads, (1, 1, 1), c.get("rope_max_seq_len", 1024))(
                torch.empty(1, 1, frames, gh, gw))
        else:
            emb = torch.randn(1, c["time_embed_dim"], generator=g).to(DTYPE).requires_grad_(emb_grad)
            rope = get_3d_rotary_pos_embed(dim // heads, ((0, 0), (gh, gw)), (gh, gw), frames)
        return video, words, emb, rope


def _line(points: list[tuple[int, int]], check: tuple[int, int]) -> dict:
    (x0, y0), (x1, y1) = points
    slope = (y1 - y0) / (x1 - x0)
    intercept = y0 - slope * x0
    predicted = intercept + slope * check[0]
    return {"bytes_per_token": slope, "bytes_fixed": intercept, "measured": [list(p) for p in (*points, check)],
            "linear_check_rel_error": abs(predicted - check[1]) / check[1]}


def block_fit(block: nn.Module, probe: BlockProbe, run_block, trainable: bool, emb_grad: bool) -> dict:
    """Saved bytes of one block's forward vs ``probe.tokens``: ``bytes_fixed + bytes_per_token * L``.
    ``run_block(block, video, text, emb, rope)`` is the model's own block call."""
    block.requires_grad_(trainable)
    exclude = _storages(block)
    rows = []
    for frames, gh, gw, text in probe.sizes:
        video, words, emb, rope = probe.inputs(block, frames, gh, gw, text, True, emb_grad)
        excl = exclude | {r.untyped_storage().data_ptr() for r in rope} | {emb.untyped_storage().data_ptr()}
        n = saved_bytes(partial(run_block, block, video, words, emb, rope), excl)
        rows.append((probe.tokens(video.shape[1], text), n))
    block.requires_grad_(True)
    return _line([rows[0], rows[2]], rows[1])


def keyframe_fit(dim: int, heads: int) -> dict:
    """Saved bytes of one keyframe cross-attention layer: ``fixed + per_video_token * L + per_key_token * M``."""
    layer = KeyframeCrossAttention(dim, heads).to(DTYPE)
    exclude = _storages(layer)

    def run(n_video: int, n_key: int) -> int:
        g = torch.Generator().manual_seed(n_video + 7 * n_key)
        x = torch.randn(1, n_video, dim, generator=g).to(DTYPE).requires_grad_(True)
        keys = torch.randn(1, n_key, dim, generator=g).to(DTYPE).requires_grad_(True)
        mask = torch.ones(1, n_key, dtype=torch.bool)
        return saved_bytes(lambda: layer(x, keys, mask), exclude)

    (l0, m0), (l1, m1) = (16, 8), (32, 16)
    base, more_video, more_keys, both = run(l0, m0), run(l1, m0), run(l0, m1), run(l1, m1)
    per_video = (more_video - base) / (l1 - l0)
    per_key = (more_keys - base) / (m1 - m0)
    fixed = base - per_video * l0 - per_key * m0
    predicted = fixed + per_video * l1 + per_key * m1
    return {"bytes_per_video_token": per_video, "bytes_per_key_token": per_key, "bytes_fixed": fixed,
            "linear_check_rel_error": abs(predicted - both) / both}


def linear_fit(dim_in: int, dim_out: int) -> dict:
    """Saved bytes of a trainable linear layer (the ControlNet zero projections) vs its tokens."""
    layer = nn.Linear(dim_in, dim_out).to(DTYPE)
    exclude = _storages(layer)
    rows = []
    for n in (8, 16, 32):
        x = torch.randn(1, n, dim_in).to(DTYPE).requires_grad_(True)
        rows.append((n, saved_bytes(partial(layer, x), exclude)))
    return _line([rows[0], rows[2]], rows[1])


def check_block_against_diffusers(ours: nn.Module, probe: BlockProbe, run_block) -> dict:
    """Our (materialised) block and diffusers' own with the same weights: outputs at a reduced token count.
    ``run_block(block, video, text, emb, rope)`` is the model's own block call."""
    with torch.device("meta"):  # built empty, then given our weights: no random init of the full-width block
        theirs = probe.reference_block()
    theirs = theirs.to_empty(device="cpu").to(DTYPE)
    theirs.load_state_dict(ours.state_dict())
    frames, gh, gw, text = probe.sizes[1]
    video, words, emb, rope = probe.inputs(ours, frames, gh, gw, text, False, False)
    with torch.no_grad():
        a = run_block(ours, video, words, emb, rope)
        b = probe.call_reference(theirs, video, words, emb, rope)
    equal = all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    diff = max(float((x.float() - y.float()).abs().max()) for x, y in zip(a, b, strict=True))
    return {"equal": equal, "max_abs_diff": diff, "tokens": frames * gh * gw + text,
            "parameters": sum(p.numel() for p in ours.parameters())}
