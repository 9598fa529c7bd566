"""Memory-lean recipes for training a configured model on one GPU, with the arithmetic of each line.

``python -m train budget`` adds these to its report (``"lean"`` in the JSON, a table after the strategies). Each
recipe keeps the previous one's savings and adds one:

1. full fine-tune: every weight trains with AdamW in mixed precision (16 B a parameter: fp32 weight 4, fp32
   gradient 4, two fp32 moments 8 (accelerate's bf16 autocast keeps fp32 weights), no checkpointing;
2. + gradient checkpointing (``model.gradient_checkpointing``);
3. frozen base (``model.train_new_modules_only``): the base's weights stay in bf16 (2 B), only the memory paths
   train;
4. + prompts encoded before training, so the text encoder (umT5-XXL or T5-XXL, 5.7 / 4.8 B parameters) is not on
   the GPU;
5. + 8-bit AdamW state (bitsandbytes' ``AdamW8bit``: two uint8 moments and one fp32 absmax per 256 values,
   2.03 B a parameter; it keeps no fp32 master copy, the fp32 weights and gradients stay): 10.03 B a trainable
   parameter;
6. + LoRA of rank ``LORA_RANK`` on the base's attention projections (peft; ``r * (in + out)`` parameters per
   projection), so that the base adapts too, at the 8-bit optimiser's 10.03 B a parameter.

What every line also holds: the frozen VAE in bf16, the activations of one sample (batch 1) as
:func:`train.budget.activation_estimate` measured them, and ``RESERVE_GIB`` for the CUDA context and
fragmentation. Recipes 5 and 6 are arithmetic on paper: the training loop has no 8-bit optimiser or LoRA option
yet, and no GPU has run them (docs/models.md).
"""

from __future__ import annotations

from torch import nn

__all__ = ["lean_recipes", "lean_markdown", "lora_parameters", "LORA_RANK", "ADAMW_BYTES", "ADAMW8BIT_BYTES"]

LORA_RANK = 64
ADAMW_BYTES = 4 + 4 + 8
"""fp32 weight, fp32 gradient, two fp32 AdamW moments."""
ADAMW8BIT_BYTES = 4 + 4 + 2 + 8 / 256
"""fp32 weight, fp32 gradient, two uint8 moments and an fp32 absmax per block of 256 values."""
GIB = 2**30
GPU_24GB_GIB = 24564 / 1024  # what nvidia-smi reports for a 24 GB card (RTX 4090)
RESERVE_GIB = 4.0


def _attention_projections(model) -> list[nn.Linear]:
    """The base's attention projections a LoRA adapts (q, k, v and out of every attention of every block)."""
    layers = []
    for block in model.adapter.blocks:
        for name, module in block.named_modules():
            leaf = name.rsplit(".", 1)[-1]
            if isinstance(module, nn.Linear) and name.startswith("attn") and leaf in ("to_q", "to_k", "to_v", "0"):
                layers.append(module)
    return layers


def lora_parameters(model, rank: int = LORA_RANK) -> tuple[int, int]:
    """(parameters of a rank-``rank`` LoRA on the base's attention projections, how many projections)."""
    layers = _attention_projections(model)
    return sum(rank * (layer.in_features + layer.out_features) for layer in layers), len(layers)


def lean_recipes(model, params: dict, activations: dict) -> list[dict]:
    """The recipes of the module docstring for ``model`` (built on the meta device) with the budget's counts."""
    total = params["total"]
    base = next(r["total"] for r in params["rows"] if r["path"].startswith("base"))
    new_paths = total - base
    vae, text = params["vae"], params["text_encoder"]
    act = activations["per_sample_bytes"]
    lora, n_proj = lora_parameters(model)
    steps = [
        ("full fine-tune, AdamW, no checkpointing", dict(trainable=total, frozen=0, optim=ADAMW_BYTES, text=text,
                                                        act=act["without_checkpointing"])),
        ("+ gradient checkpointing", dict(trainable=total, frozen=0, optim=ADAMW_BYTES, text=text,
                                          act=act["with_checkpointing"])),
        ("frozen bf16 base: only the memory paths train", dict(trainable=new_paths, frozen=base, optim=ADAMW_BYTES,
                                                                text=text, act=act["with_checkpointing"])),
        ("+ prompts encoded ahead: no text encoder on the GPU", dict(trainable=new_paths, frozen=base,
                                                                      optim=ADAMW_BYTES, text=0,
                                                                      act=act["with_checkpointing"])),
        ("+ 8-bit AdamW state (bitsandbytes)", dict(trainable=new_paths, frozen=base, optim=ADAMW8BIT_BYTES, text=0,
                                                    act=act["with_checkpointing"])),
        (f"+ LoRA r={LORA_RANK} on the base's {n_proj} attention projections (peft)",
         dict(trainable=new_paths + lora, frozen=base, optim=ADAMW8BIT_BYTES, text=0, act=act["with_checkpointing"])),
    ]
    rows = []
    for name, s in steps:
        parts = {"trainable_state": s["trainable"] * s["optim"], "frozen_weights_bf16": 2 * s["frozen"],
                 "vae_bf16": 2 * vae, "text_encoder_bf16": 2 * s["text"], "activations_one_sample": s["act"]}
        gib = sum(parts.values()) / GIB
        rows.append({"recipe": name, "trainable": s["trainable"], "frozen": s["frozen"],
                     "bytes_per_trainable": s["optim"], "bytes": parts, "gib": gib, "reserve_gib": RESERVE_GIB,
                     "fits_24gb": gib + RESERVE_GIB <= GPU_24GB_GIB})
    return rows


def lean_markdown(rows: list[dict]) -> str:
    """The recipes as a table whose cells show the arithmetic."""
    lines = ["One GPU, batch 1 (`train.lean`; GiB; + 4 GiB reserve against 24.0 GiB):", "",
             "| recipe | trainable x B each | frozen bf16 | VAE | text encoder | activations | total | fits 24 GB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = {k: v / GIB for k, v in r["bytes"].items()}
        lines.append(f"| {r['recipe']} | {r['trainable'] / 1e9:.3f} B x {r['bytes_per_trainable']:.2f} = "
                     f"{b['trainable_state']:.1f} | {b['frozen_weights_bf16']:.1f} | {b['vae_bf16']:.2f} | "
                     f"{b['text_encoder_bf16']:.1f} | {b['activations_one_sample']:.1f} | {r['gib']:.1f} | "
                     f"{'yes' if r['fits_24gb'] else 'no'} |")
    return "\n".join(lines)
