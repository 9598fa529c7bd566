"""Activation memory of the transformer's layers, measured on the CPU and scaled with the token count.

Method: one full-width layer (a CogVideoX block materialised from the configured model, a keyframe
cross-attention layer, a linear layer) runs its forward pass in bf16 on the CPU at a few small token counts under
``torch.autograd.graph.saved_tensors_hooks``; every tensor autograd keeps for the backward pass is counted
once per storage (bytes of the storage, so views are not counted twice), parameters and tensors shared by all
layers (the rotary tables) excluded. Those counts are exactly linear in the tokens (CPU attention, like
FlashAttention on a GPU, saves the output and one log-sum-exp per query, not the attention matrix), which is
checked on a further size; the fitted line is then evaluated at the configured size. Which tensors autograd
keeps depends on what requires gradients, so frozen blocks (``train_new_modules_only``) are measured frozen.

The same block is checked against diffusers' own ``CogVideoXBlock`` built from the published configuration with
the same weights: their outputs are equal at the reduced token count.
"""

from __future__ import annotations

import copy
from functools import partial

import torch
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
from torch import nn

from worldmem.models.memory_layers import KeyframeCrossAttention

__all__ = ["saved_bytes", "materialize", "diffusers_block", "block_fit", "keyframe_fit", "linear_fit",
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


def diffusers_block(base_config: dict) -> CogVideoXBlock:
    """diffusers' own block for a ``CogVideoXTransformer3DModel`` config (the arguments the model passes it)."""
    c = base_config
    return CogVideoXBlock(dim=c["num_attention_heads"] * c["attention_head_dim"],
                          num_attention_heads=c["num_attention_heads"], attention_head_dim=c["attention_head_dim"],
                          time_embed_dim=c["time_embed_dim"], dropout=c.get("dropout", 0.0),
                          activation_fn=c.get("activation_fn", "gelu-approximate"),
                          attention_bias=c.get("attention_bias", True),
                          norm_elementwise_affine=c.get("norm_elementwise_affine", True),
                          norm_eps=c.get("norm_eps", 1e-5))


def _block_inputs(block: nn.Module, frames: int, gh: int, gw: int, text: int, grad: bool, emb_grad: bool):
    dim = block.norm1.norm.normalized_shape[0]
    heads = block.attn1.heads
    temb_dim = block.norm1.linear.in_features
    g = torch.Generator().manual_seed(frames * 1000 + gh * 10 + gw)
    video = torch.randn(1, frames * gh * gw, dim, generator=g).to(DTYPE).requires_grad_(grad)
    words = torch.randn(1, text, dim, generator=g).to(DTYPE).requires_grad_(grad)
    emb = torch.randn(1, temb_dim, generator=g).to(DTYPE).requires_grad_(emb_grad)
    rope = get_3d_rotary_pos_embed(dim // heads, ((0, 0), (gh, gw)), (gh, gw), frames)
    return video, words, emb, rope


def _line(points: list[tuple[int, int]], check: tuple[int, int]) -> dict:
    (x0, y0), (x1, y1) = points
    slope = (y1 - y0) / (x1 - x0)
    intercept = y0 - slope * x0
    predicted = intercept + slope * check[0]
    return {"bytes_per_token": slope, "bytes_fixed": intercept, "measured": [list(p) for p in (*points, check)],
            "linear_check_rel_error": abs(predicted - check[1]) / check[1]}


def block_fit(block: nn.Module, trainable: bool, emb_grad: bool) -> dict:
    """Saved bytes of one block's forward vs its tokens (video + text): ``bytes_fixed + bytes_per_token * L``."""
    block.requires_grad_(trainable)
    exclude = _storages(block)
    rows = []
    for frames, gh, gw, text in BLOCK_SIZES:
        video, words, emb, rope = _block_inputs(block, frames, gh, gw, text, True, emb_grad)
        excl = exclude | {r.untyped_storage().data_ptr() for r in rope} | {emb.untyped_storage().data_ptr()}
        n = saved_bytes(partial(block, hidden_states=video, encoder_hidden_states=words, temb=emb,
                                image_rotary_emb=rope), excl)
        rows.append((video.shape[1] + text, n))
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


def check_block_against_diffusers(ours: nn.Module, base_config: dict, run_block) -> dict:
    """Our (materialised) block and diffusers' ``CogVideoXBlock`` with the same weights: outputs at a reduced
    token count. ``run_block(block, video, text, emb, rope)`` is the model's own block call."""
    with torch.device("meta"):  # built empty, then given our weights: no random init of 132 M parameters
        theirs = diffusers_block(base_config)
    theirs = theirs.to_empty(device="cpu").to(DTYPE)
    theirs.load_state_dict(ours.state_dict())
    frames, gh, gw, text = BLOCK_SIZES[1]
    video, words, emb, rope = _block_inputs(ours, frames, gh, gw, text, False, False)
    with torch.no_grad():
        a = run_block(ours, video, words, emb, rope)
        b = theirs(hidden_states=video, encoder_hidden_states=words, temb=emb, image_rotary_emb=rope)
    equal = all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    diff = max(float((x.float() - y.float()).abs().max()) for x, y in zip(a, b, strict=True))
    return {"equal": equal, "max_abs_diff": diff, "tokens": frames * gh * gw + text,
            "parameters": sum(p.numel() for p in ours.parameters())}
