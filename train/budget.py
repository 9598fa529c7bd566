"""``python -m train budget --config configs/cogvideox-5b.yaml --out budget.json [key=value ...]``: the memory
budget of training a configured model.

The configured ``WorldMemTransformer`` is built on the meta device (no weights are read or allocated). Its base
configuration is ``model.pretrained``'s ``transformer/config.json`` when that folder exists, else
``model.base_config`` when set, else the published CogVideoX-5B-I2V configuration kept in
``configs/models/cogvideox-5b-i2v-transformer.json`` (the YAML's placeholder path does not exist here).

Reported (json at ``--out``, the markdown table printed and stored under ``"table"``):

- parameters per path (base, ControlNet copies, keyframe cross-attention, camera and working embeddings),
  trainable vs frozen, their bf16 bytes; the frozen VAE (counted on the meta device from its configuration)
  and the T5-XXL encoder (counted analytically from ``T5_XXL``) that training keeps on the GPU;
- optimiser state for what trains (mixed-precision AdamW as the ZeRO paper counts it: bf16 weights 2 B, bf16
  gradients 2 B, fp32 master weights and two moments 12 B per trainable parameter; 2 B per frozen one);
- activation memory of one sample at the configured size (chunk and working frames through the codec's
  temporal compression, the model's latent size, 226 text tokens, ``data.curation.max_keyframes`` keyframes),
  with and without gradient checkpointing, measured per layer on the CPU (:mod:`train.activations`);
- per GPU, for DDP, FSDP (FULL_SHARD) and DeepSpeed ZeRO-2/3 on 1-64 GPUs: what each holds and whether it
  fits an 80 GB and a 141 GB GPU (H100, H200: 79.6 and 140.4 GiB) with ``RESERVE_GIB`` kept for the CUDA
  context, communication buffers and fragmentation.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from train import activations as act
from worldmem.utils.io import atomic_write_json

__all__ = ["write_budget", "resolve_base_config", "build_meta_model", "parameter_table", "KNOWN_CONFIG"]

ROOT = Path(__file__).resolve().parents[1]
KNOWN_CONFIG = ROOT / "configs" / "models" / "cogvideox-5b-i2v-transformer.json"
KNOWN_VAE = ROOT / "configs" / "models" / "cogvideox-5b-i2v-vae.json"
# google/t5-v1_1-xxl, encoder only (what CogVideoX uses): gated-GELU feed-forward, untied embedding.
T5_XXL = {"d_model": 4096, "d_ff": 10240, "num_layers": 24, "num_heads": 64, "d_kv": 64, "vocab_size": 32128,
          "relative_attention_num_buckets": 32}
# What nvidia-smi reports as total memory: H100 80GB 81559 MiB, H200 141GB 143771 MiB.
GPUS_GIB = {"80GB": 81559 / 1024, "141GB": 143771 / 1024}
RESERVE_GIB = 4.0
GPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)
STRATEGIES = ("ddp", "fsdp", "zero2", "zero3")
GIB = 2**30


def _public(config: dict) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


def resolve_base_config(cfg, overrides: list[str] | tuple[str, ...] = ()) -> tuple[dict, str]:
    """(base config, where it came from): ``model.pretrained`` on disk > ``model.base_config`` > the known JSON.

    A ``model.pretrained=PATH`` given on the command line must exist; the YAML's placeholder may not.
    """
    pretrained = cfg.model.pretrained
    if pretrained:
        path = Path(pretrained)
        folder = path / "transformer" if (path / "transformer" / "config.json").is_file() else path
        if (folder / "config.json").is_file():
            return _public(json.loads((folder / "config.json").read_text())), str(folder / "config.json")
        if any(o.split("=", 1)[0] == "model.pretrained" for o in overrides):
            raise ValueError(f"model.pretrained: no transformer config.json under {pretrained}")
    if cfg.model.base_config:
        return dict(cfg.model.base_config), "model.base_config"
    if cfg.model.codec == "vae":
        return _public(json.loads(KNOWN_CONFIG.read_text())), str(KNOWN_CONFIG.relative_to(ROOT))
    from worldmem.models.transformer import TINY_BASE_CONFIG

    return dict(TINY_BASE_CONFIG), "TINY_BASE_CONFIG"


def build_meta_model(cfg, base_config: dict):
    """The configured WorldMemTransformer on the meta device, frozen and trainable as training sets it."""
    from worldmem.models import WorldMemTransformer

    m = cfg.model
    latent = base_config["out_channels"] if m.codec == "vae" else 4
    with torch.device("meta"):
        model = WorldMemTransformer(base_config=base_config, latent_channels=latent, spatial_mode=m.spatial_mode,
                                    num_control_layers=m.num_control_layers, keyframe_every=m.keyframe_every,
                                    use_camera=m.use_camera)
    if m.train_new_modules_only:
        model.base.requires_grad_(False)
    return model


PATHS = {  # row -> the model's children it counts
    "base (CogVideoX)": ("base",),
    "ControlNet copies": ("control_blocks",),
    "ControlNet in/out": ("control_in", "control_out"),
    "keyframe cross-attention": ("keyframe_embed", "keyframe_norm", "keyframe_attn"),
    "spatial concat": ("spatial_concat",),
    "camera embedding": ("camera_embed",),
    "working embedding": ("working_mask_embed",),
}


def parameter_table(model) -> list[dict]:
    """One row per path: total, trainable and frozen parameter counts (and the buffers, which never train)."""
    children = dict(model.named_children())
    rows = []
    for name, keys in PATHS.items():
        params = [p for k in keys if children.get(k) is not None for p in children[k].parameters()]
        if not params:
            continue
        trainable = sum(p.numel() for p in params if p.requires_grad)
        total = sum(p.numel() for p in params)
        rows.append({"path": name, "total": total, "trainable": trainable, "frozen": total - trainable})
    counted = sum(r["total"] for r in rows)
    if counted != sum(p.numel() for p in model.parameters()):
        raise RuntimeError("parameter_table: a module of the model is in no row of PATHS")
    return rows


def t5_encoder_parameters(c: dict = T5_XXL) -> int:
    inner = c["num_heads"] * c["d_kv"]
    attention = 4 * c["d_model"] * inner
    feed_forward = 3 * c["d_model"] * c["d_ff"]  # wi_0, wi_1, wo
    per_layer = attention + feed_forward + 2 * c["d_model"]
    return (c["vocab_size"] * c["d_model"] + c["num_layers"] * per_layer + c["d_model"]
            + c["relative_attention_num_buckets"] * c["num_heads"])


def vae_parameters(cfg) -> tuple[int, str]:
    from diffusers import AutoencoderKLCogVideoX

    path = Path(cfg.model.pretrained) / "vae" / "config.json" if cfg.model.pretrained else None
    source = path if path is not None and path.is_file() else KNOWN_VAE
    with torch.device("meta"):
        vae = AutoencoderKLCogVideoX(**_public(json.loads(source.read_text())))
    return sum(p.numel() for p in vae.parameters()), str(source)


def token_counts(cfg, base_config: dict) -> dict:
    """Tokens of one training sample at the configured size."""
    tc = base_config.get("temporal_compression_ratio", 1) if cfg.model.codec == "vae" else 1
    p = base_config["patch_size"]
    grid = (base_config["sample_height"] // p) * (base_config["sample_width"] // p)
    chunk = (cfg.generation.chunk_size - 1) // tc + 1
    working = (cfg.generation.working_window - 1) // tc + 1 if cfg.generation.working_window else 0
    text = base_config.get("max_text_seq_length", 0)
    keyframes = cfg.data.curation.max_keyframes
    return {"chunk_latent_frames": chunk, "working_latent_frames": working, "tokens_per_frame": grid,
            "video_tokens": (chunk + working) * grid, "text_tokens": text, "keyframes": keyframes,
            "keyframe_tokens": keyframes * grid,
            "latent_size": [base_config["sample_height"], base_config["sample_width"]]}


def activation_estimate(model, cfg, tokens: dict) -> dict:
    """Measured per-layer fits, evaluated at the configured tokens; bytes for one sample."""
    base = model.base
    c = base.config
    dim = c.num_attention_heads * c.attention_head_dim
    frozen_base = cfg.model.train_new_modules_only
    source = model.control_blocks[0] if model.control_blocks is not None else base.transformer_blocks[0]
    block = act.materialize(source)
    check = act.check_block_against_diffusers(block, dict(c), model._run_block)
    trainable_fit = act.block_fit(block, trainable=True, emb_grad=not frozen_base)
    main_fit = act.block_fit(block, trainable=not frozen_base, emb_grad=not frozen_base)
    del block
    lv, lt, m = tokens["video_tokens"], tokens["text_tokens"], tokens["keyframe_tokens"]
    n_tok = lv + lt

    def at(fit, n):
        return fit["bytes_fixed"] + fit["bytes_per_token"] * n

    n_main, n_ctrl = c.num_layers, 0 if model.control_blocks is None else len(model.control_blocks)
    n_key = 0 if model.keyframe_attn is None or tokens["keyframes"] == 0 else len(model.keyframe_attn)
    parts = {"main blocks": n_main * at(main_fit, n_tok), "ControlNet blocks": n_ctrl * at(trainable_fit, n_tok)}
    fits = {"block_trainable": trainable_fit, "block_main": main_fit}
    if n_ctrl:
        fits["control_out"] = act.linear_fit(dim, dim)
        parts["ControlNet out"] = n_ctrl * at(fits["control_out"], lv)
    if n_key:
        kf = fits["keyframe_attention"] = act.keyframe_fit(dim, c.num_attention_heads)
        parts["keyframe attention"] = n_key * (kf["bytes_fixed"] + kf["bytes_per_video_token"] * lv
                                               + kf["bytes_per_key_token"] * m)
    one_block = at(trainable_fit, n_tok)
    # Backward working set: the gradients flowing through one block are about one block's saved tensors.
    without = sum(parts.values()) + one_block
    # Checkpointed: each block keeps only its inputs (video + text tokens, bf16), and one block is recomputed.
    boundary = (n_main + n_ctrl) * n_tok * dim * 2
    with_ckpt = without - parts["main blocks"] - parts["ControlNet blocks"] + boundary + one_block
    return {"per_sample_bytes": {"without_checkpointing": without, "with_checkpointing": with_ckpt},
            "parts_without_checkpointing": parts, "checkpoint_boundary_bytes": boundary,
            "one_block_bytes": one_block, "fits": fits, "block_check": check,
            "configured_checkpointing": cfg.model.gradient_checkpointing}


def per_gpu_bytes(strategy: str, n: int, trainable: int, frozen: int, extra_frozen: int, block_params: int) -> float:
    """Static bytes per GPU (weights, gradients, optimiser) of ``strategy`` on ``n`` GPUs."""
    weights = 2 * (trainable + frozen)
    grads_optim = (2 + 12) * trainable
    if strategy == "ddp":
        static = weights + grads_optim
    elif strategy == "zero2":
        static = weights + grads_optim / n
    else:  # fsdp FULL_SHARD, zero3: everything sharded, plus two gathered blocks (current + prefetched)
        static = (weights + grads_optim) / n + (0 if n == 1 else 2 * 2 * block_params)
    return static + 2 * extra_frozen


def fit_table(params: dict, activations: dict, batch_size: int) -> dict:
    out = {}
    for ckpt in ("without_checkpointing", "with_checkpointing"):
        a = activations["per_sample_bytes"][ckpt] * batch_size
        for strategy in STRATEGIES:
            row = {}
            for gpu, cap in GPUS_GIB.items():
                per_n = {n: (per_gpu_bytes(strategy, n, params["trainable"], params["frozen"],
                                           params["extra_frozen"], params["block"]) + a) / GIB for n in GPU_COUNTS}
                ok = [n for n, gib in per_n.items() if gib + RESERVE_GIB <= cap]
                row[gpu] = {"gib_per_gpu": {str(n): round(g, 1) for n, g in per_n.items()},
                            "min_gpus": ok[0] if ok else None}
            out[f"{strategy}/{ckpt}"] = row
    return out


def _b(n: float) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e8 else f"{n / 1e6:.2f} M"


def markdown(result: dict) -> str:
    p = result["parameters"]
    lines = ["| path | parameters | trainable | frozen | bf16 weights |", "|---|---|---|---|---|"]
    for r in p["rows"]:
        lines.append(f"| {r['path']} | {_b(r['total'])} | {_b(r['trainable'])} | {_b(r['frozen'])} | "
                     f"{2 * r['total'] / GIB:.2f} GiB |")
    lines.append(f"| **transformer** | **{_b(p['total'])}** | **{_b(p['trainable'])}** | {_b(p['frozen'])} | "
                 f"{2 * p['total'] / GIB:.2f} GiB |")
    for name in ("vae", "t5_xxl_encoder"):
        lines.append(f"| {name} (frozen, outside the model) | {_b(p[name])} | 0 | {_b(p[name])} | "
                     f"{2 * p[name] / GIB:.2f} GiB |")
    m = result["memory_gib"]
    t = result["tokens"]
    lines += ["", f"Optimiser state (fp32 master + AdamW moments, 12 B per trainable parameter): "
              f"{m['optimizer']:.1f} GiB; bf16 gradients {m['gradients']:.1f} GiB.",
              f"Activations of one sample ({t['chunk_latent_frames']} + {t['working_latent_frames']} latent frames "
              f"x {t['tokens_per_frame']} tokens + {t['text_tokens']} text tokens, {t['keyframes']} keyframes): "
              f"{m['activations_without_checkpointing']:.1f} GiB without gradient checkpointing, "
              f"{m['activations_with_checkpointing']:.1f} GiB with it.", "",
              "| strategy | checkpointing | 80 GB GPU: GiB each on 8 / min GPUs | 141 GB GPU: GiB each on 8 / "
              "min GPUs |", "|---|---|---|---|"]
    for key, row in result["fits"].items():
        strategy, ckpt = key.split("/")
        cells = [f"{row[g]['gib_per_gpu']['8']} / {row[g]['min_gpus'] or 'none up to 64'}" for g in GPUS_GIB]
        lines.append(f"| {strategy} | {'on' if ckpt == 'with_checkpointing' else 'off'} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def write_budget(config: Path, out: Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Builds the configured model on the meta device, measures activations, writes ``out`` (see the module).

    A bad config or ``model.pretrained`` raises ``ValueError`` (``ConfigError`` is one), naming the key.
    """
    from train.config import TrainConfig
    from worldmem.utils.config import load

    t0 = time.perf_counter()
    cfg = load(TrainConfig, config, list(overrides))
    base_config, source = resolve_base_config(cfg, overrides)
    model = build_meta_model(cfg, base_config)
    rows = parameter_table(model)
    trainable = sum(r["trainable"] for r in rows)
    total = sum(r["total"] for r in rows)
    vae, vae_source = vae_parameters(cfg) if cfg.model.codec == "vae" else (0, "pixel codec: no weights")
    t5 = t5_encoder_parameters() if base_config.get("max_text_seq_length", 0) else 0
    block = sum(p.numel() for p in model.base.transformer_blocks[0].parameters())
    params = {"rows": rows, "total": total, "trainable": trainable, "frozen": total - trainable,
              "buffers": sum(b.numel() for b in model.buffers()), "vae": vae, "t5_xxl_encoder": t5,
              "extra_frozen": vae + t5, "block": block,
              "control_copy": 0 if model.control_blocks is None else
              sum(p.numel() for p in model.control_blocks[0].parameters())}
    tokens = token_counts(cfg, base_config)
    activations = activation_estimate(model, cfg, tokens)
    result = {
        "config": str(config), "base_config_source": source, "vae_config_source": vae_source,
        "t5_config": T5_XXL if t5 else None, "base_config": base_config, "parameters": params, "tokens": tokens,
        "batch_size": cfg.optim.batch_size,
        "memory_gib": {"weights_bf16": 2 * total / GIB, "buffers_bf16": 2 * params["buffers"] / GIB,
                       "frozen_outside_bf16": 2 * (vae + t5) / GIB, "gradients": 2 * trainable / GIB,
                       "optimizer": 12 * trainable / GIB,
                       "activations_without_checkpointing":
                           activations["per_sample_bytes"]["without_checkpointing"] / GIB,
                       "activations_with_checkpointing": activations["per_sample_bytes"]["with_checkpointing"] / GIB},
        "activations": activations, "assumptions": {
            "bytes_per_trainable_parameter": "2 bf16 weight + 2 bf16 gradient + 12 fp32 master and AdamW moments",
            "bytes_per_frozen_parameter": 2, "reserve_gib": RESERVE_GIB, "gpu_capacity_gib": GPUS_GIB,
            "fsdp": "FULL_SHARD, counted as ZeRO-3", "vae_and_t5": "frozen bf16 replicas on every GPU"},
        "fits": fit_table(params, activations, cfg.optim.batch_size),
    }
    result["table"] = markdown(result)
    result["seconds"] = time.perf_counter() - t0
    print(result["table"])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return result
