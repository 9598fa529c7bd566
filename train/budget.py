"""``python -m train budget --config configs/wan2.1-1.3b.yaml --out budget.json [key=value ...]``: the memory
budget of training a configured model (CogVideoX or Wan).

The configured ``WorldMemTransformer`` is built on the meta device (no weights are read or allocated). Its base
configuration is ``model.pretrained``'s ``transformer/config.json`` when that folder exists, else
``model.base_config`` when set, else the published configuration named by ``model.published`` and kept in
``configs/models/NAME-transformer.json`` (``cogvideox-5b-i2v`` when unset; the YAML's placeholder path does not
exist here). The VAE and the text encoder are counted the same way (``NAME-vae.json``; T5-XXL for CogVideoX,
umT5-XXL for Wan, from ``configs/models/``).

Reported (json at ``--out``, the markdown table printed and stored under ``"table"``):

- parameters per path (base, ControlNet copies, keyframe cross-attention, camera and working embeddings),
  trainable vs frozen, their bf16 bytes; the frozen VAE (counted on the meta device from its configuration)
  and the text encoder (T5-XXL counted analytically from ``T5_XXL``; umT5-XXL built on the meta device from
  ``configs/models/umt5-xxl-encoder.json``) that training keeps on the GPU;
- optimiser state for what trains (mixed-precision AdamW as the ZeRO paper counts it: bf16 weights 2 B, bf16
  gradients 2 B, fp32 master weights and two moments 12 B per trainable parameter; 2 B per frozen one);
- activation memory of one sample at the configured size (chunk and working frames through the codec's
  temporal compression, the model's latent size, 226 text tokens, ``data.curation.max_keyframes`` keyframes),
  with and without gradient checkpointing, measured per layer on the CPU (:mod:`train.activations`);
- per GPU, for DDP, FSDP (FULL_SHARD) and DeepSpeed ZeRO-2/3 on 1-64 GPUs: what each holds and whether it
  fits a 24 GB, an 80 GB and a 141 GB GPU (RTX 4090, H100, H200: 24.0, 79.6 and 140.4 GiB) with
  ``RESERVE_GIB`` kept for the CUDA context, communication buffers and fragmentation;
- the memory-lean recipes for one GPU (:mod:`train.lean`): frozen bf16 base, checkpointing, 8-bit optimiser
  state, LoRA on the base, prompts and the text encoder kept off the GPU, with the arithmetic of each line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from train import activations as act
from train.lean import lean_markdown, lean_recipes
from worldmem.utils.io import atomic_write_json

__all__ = ["write_budget", "resolve_base_config", "build_meta_model", "parameter_table", "published_file",
           "KNOWN_CONFIG", "GPUS_GIB", "RESERVE_GIB", "GIB"]

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "configs" / "models"
KNOWN_CONFIG = MODELS / "cogvideox-5b-i2v-transformer.json"
UMT5_XXL = MODELS / "umt5-xxl-encoder.json"
# google/t5-v1_1-xxl, encoder only (what CogVideoX uses): gated-GELU feed-forward, untied embedding.
T5_XXL = {"d_model": 4096, "d_ff": 10240, "num_layers": 24, "num_heads": 64, "d_kv": 64, "vocab_size": 32128,
          "relative_attention_num_buckets": 32}
# What nvidia-smi reports as total memory: H100 80GB 81559 MiB, H200 141GB 143771 MiB.
GPUS_GIB = {"24GB": 24564 / 1024, "80GB": 81559 / 1024, "141GB": 143771 / 1024}
RESERVE_GIB = 4.0
GPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)
STRATEGIES = ("ddp", "fsdp", "zero2", "zero3")
GIB = 2**30


def _public(config: dict) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


def published_file(cfg, part: str) -> Path:
    """``configs/models/NAME-PART.json`` of ``model.published`` (``cogvideox-5b-i2v`` when unset)."""
    name = cfg.model.published or "cogvideox-5b-i2v"
    path = MODELS / f"{name}-{part}.json"
    if not path.is_file():
        raise ValueError(f"model.published: no {path.relative_to(ROOT)} (expected the name of a published "
                         f"configuration in configs/models/), got {name!r}")
    return path


def resolve_base_config(cfg, overrides: list[str] | tuple[str, ...] = ()) -> tuple[dict, str]:
    """(base config, where it came from): ``model.pretrained`` on disk > ``model.base_config`` > the published
    JSON of ``model.published``.

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
    if cfg.model.codec == "vae" or cfg.model.published:
        path = published_file(cfg, "transformer")
        return _public(json.loads(path.read_text())), str(path.relative_to(ROOT))
    from worldmem.models.transformer import TINY_BASE_CONFIG, TINY_WAN_BASE_CONFIG

    if cfg.model.backbone == "wan":
        return dict(TINY_WAN_BASE_CONFIG), "TINY_WAN_BASE_CONFIG"
    return dict(TINY_BASE_CONFIG), "TINY_BASE_CONFIG"


def build_meta_model(cfg, base_config: dict):
    """The configured WorldMemTransformer on the meta device, frozen and trainable as training sets it."""
    from worldmem.models import WorldMemTransformer

    m = cfg.model
    latent = base_config["out_channels"] if m.codec == "vae" else 4
    with torch.device("meta"):
        model = WorldMemTransformer(base_config=base_config, latent_channels=latent, spatial_mode=m.spatial_mode,
                                    num_control_layers=m.num_control_layers, keyframe_every=m.keyframe_every,
                                    use_camera=m.use_camera, backbone=m.backbone,
                                    control_placement=m.control_placement, sample_size=list(m.sample_size) or None)
    if m.train_new_modules_only:
        model.base.requires_grad_(False)
    return model


PATHS = {  # row -> the model's children it counts
    "base": ("base",),
    "control copies": ("control_blocks",),
    "control in/out": ("control_in", "control_out"),
    "keyframe cross-attention": ("keyframe_embed", "keyframe_norm", "keyframe_attn"),
    "spatial concat": ("spatial_concat",),
    "camera embedding": ("camera_embed",),
    "working embedding": ("working_mask_embed",),
}


def parameter_table(model) -> list[dict]:
    """One row per path: total, trainable and frozen parameter counts (and the buffers, which never train)."""
    children = dict(model.named_children())
    rows = []
    family = {"cogvideox": "CogVideoX", "wan": "Wan"}[model.config.backbone]
    placement = {"first": "ControlNet", "spread": "VACE"}[model.config.control_placement]
    for name, keys in PATHS.items():
        params = [p for k in keys if children.get(k) is not None for p in children[k].parameters()]
        if not params:
            continue
        trainable = sum(p.numel() for p in params if p.requires_grad)
        total = sum(p.numel() for p in params)
        label = (f"base ({family})" if name == "base"
                 else name.replace("control", placement) if name.startswith("control") else name)
        rows.append({"path": label, "module": list(keys), "total": total, "trainable": trainable,
                     "frozen": total - trainable})
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


def umt5_encoder_parameters(path: Path = UMT5_XXL) -> int:
    """umT5-XXL's encoder (Wan's text encoder), built on the meta device from its published configuration."""
    from transformers import UMT5Config, UMT5EncoderModel

    with torch.device("meta"):
        encoder = UMT5EncoderModel(UMT5Config(**_public(json.loads(path.read_text()))))
    return sum(p.numel() for p in encoder.parameters())


def vae_parameters(cfg) -> tuple[int, str]:
    from diffusers import AutoencoderKLCogVideoX, AutoencoderKLWan

    path = Path(cfg.model.pretrained) / "vae" / "config.json" if cfg.model.pretrained else None
    source = path if path is not None and path.is_file() else published_file(cfg, "vae")
    vae_class = AutoencoderKLWan if cfg.model.backbone == "wan" else AutoencoderKLCogVideoX
    with torch.device("meta"):
        vae = vae_class(**_public(json.loads(source.read_text())))
    return sum(p.numel() for p in vae.parameters()), str(source.relative_to(ROOT) if source.is_relative_to(ROOT)
                                                         else source)


def token_counts(cfg, model) -> dict:
    """Tokens of one training sample at the configured size."""
    base_config = dict(model.base.config)
    wan = cfg.model.backbone == "wan"
    tc = (4 if wan else base_config.get("temporal_compression_ratio", 1)) if cfg.model.codec == "vae" else 1
    (h, w), (ph, pw) = model.sample_size, model.adapter.patch
    grid = (h // ph) * (w // pw)
    chunk = (cfg.generation.chunk_size - 1) // tc + 1
    working = (cfg.generation.working_window - 1) // tc + 1 if cfg.generation.working_window else 0
    text = 1 if wan and not cfg.model.text_encoder else model.adapter.text_length  # Wan without text: one zero token
    keyframes = cfg.data.curation.max_keyframes
    return {"chunk_latent_frames": chunk, "working_latent_frames": working, "tokens_per_frame": grid,
            "video_tokens": (chunk + working) * grid, "text_tokens": text, "keyframes": keyframes,
            "keyframe_tokens": keyframes * grid, "latent_size": [h, w],
            "text_enters": "cross-attention" if wan else "joint attention"}


def activation_estimate(model, cfg, tokens: dict) -> dict:
    """Measured per-layer fits, evaluated at the configured tokens; bytes for one sample."""
    c = model.base.config
    dim, heads = model.adapter.inner_dim, model.adapter.num_heads
    frozen_base = cfg.model.train_new_modules_only
    probe = act.BlockProbe(model.config.backbone, dict(c), tokens["text_tokens"])
    source = model.control_blocks[0] if model.control_blocks is not None else model.adapter.blocks[0]
    block = act.materialize(source)
    run_block = model.adapter.run_block
    check = act.check_block_against_diffusers(block, probe, run_block)
    trainable_fit = act.block_fit(block, probe, run_block, trainable=True, emb_grad=not frozen_base)
    main_fit = act.block_fit(block, probe, run_block, trainable=not frozen_base, emb_grad=not frozen_base)
    del block
    lv, lt, m = tokens["video_tokens"], tokens["text_tokens"], tokens["keyframe_tokens"]
    n_tok = probe.tokens(lv, lt)

    def at(fit, n):
        return fit["bytes_fixed"] + fit["bytes_per_token"] * n

    n_main, n_ctrl = c.num_layers, 0 if model.control_blocks is None else len(model.control_blocks)
    n_key = 0 if model.keyframe_attn is None or tokens["keyframes"] == 0 else len(model.keyframe_attn)
    parts = {"main blocks": n_main * at(main_fit, n_tok), "control blocks": n_ctrl * at(trainable_fit, n_tok)}
    fits = {"block_trainable": trainable_fit, "block_main": main_fit}
    if model.config.backbone == "wan":  # the per-token timestep modulation (B, L, 6, D), shared by all blocks
        parts["timestep modulation"] = lv * 6 * dim * 2
    if n_ctrl:
        fits["control_out"] = act.linear_fit(dim, dim)
        parts["control out"] = n_ctrl * at(fits["control_out"], lv)
    if n_key:
        kf = fits["keyframe_attention"] = act.keyframe_fit(dim, heads)
        parts["keyframe attention"] = n_key * (kf["bytes_fixed"] + kf["bytes_per_video_token"] * lv
                                               + kf["bytes_per_key_token"] * m)
    one_block = at(trainable_fit, n_tok)
    # Backward working set: the gradients flowing through one block are about one block's saved tensors.
    without = sum(parts.values()) + one_block
    # Checkpointed: each block keeps only its inputs (video + text tokens, bf16), and one block is recomputed.
    boundary = (n_main + n_ctrl) * n_tok * dim * 2
    with_ckpt = without - parts["main blocks"] - parts["control blocks"] + boundary + one_block
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
    return f"{n / 1e9:.3f} B" if n >= 1e8 else f"{n / 1e6:.2f} M"


def markdown(result: dict) -> str:
    p = result["parameters"]
    lines = ["| path | parameters | trainable | frozen | bf16 weights |", "|---|---|---|---|---|"]
    for r in p["rows"]:
        lines.append(f"| {r['path']} | {_b(r['total'])} | {_b(r['trainable'])} | {_b(r['frozen'])} | "
                     f"{2 * r['total'] / GIB:.2f} GiB |")
    lines.append(f"| **transformer** | **{_b(p['total'])}** | **{_b(p['trainable'])}** | {_b(p['frozen'])} | "
                 f"{2 * p['total'] / GIB:.2f} GiB |")
    for name, key in (("vae", "vae"), (p["text_encoder_name"], "text_encoder")):
        lines.append(f"| {name} (frozen, outside the model) | {_b(p[key])} | 0 | {_b(p[key])} | "
                     f"{2 * p[key] / GIB:.2f} GiB |")
    m = result["memory_gib"]
    t = result["tokens"]
    lines += ["", f"Optimiser state (fp32 master + AdamW moments, 12 B per trainable parameter): "
              f"{m['optimizer']:.1f} GiB; bf16 gradients {m['gradients']:.1f} GiB.",
              f"Activations of one sample ({t['chunk_latent_frames']} + {t['working_latent_frames']} latent frames "
              f"x {t['tokens_per_frame']} tokens + {t['text_tokens']} text tokens by {t['text_enters']}, "
              f"{t['keyframes']} keyframes): "
              f"{m['activations_without_checkpointing']:.1f} GiB without gradient checkpointing, "
              f"{m['activations_with_checkpointing']:.1f} GiB with it.", "",
              "| strategy | checkpointing | 24 GB GPU: GiB each on 8 / min GPUs | 80 GB GPU: GiB each on 8 / "
              "min GPUs | 141 GB GPU: GiB each on 8 / min GPUs |", "|---|---|---|---|---|"]
    for key, row in result["fits"].items():
        strategy, ckpt = key.split("/")
        cells = [f"{row[g]['gib_per_gpu']['8']} / {row[g]['min_gpus'] or 'none up to 64'}" for g in GPUS_GIB]
        lines.append(f"| {strategy} | {'on' if ckpt == 'with_checkpointing' else 'off'} | " + " | ".join(cells) + " |")
    lines += ["", lean_markdown(result["lean"])]
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
    wan = cfg.model.backbone == "wan"
    takes_text = bool(cfg.model.text_encoder) if wan else bool(base_config.get("max_text_seq_length", 0))
    text_encoder = (umt5_encoder_parameters() if wan else t5_encoder_parameters()) if takes_text else 0
    text_name = "umt5_xxl_encoder" if wan else "t5_xxl_encoder"
    block = sum(p.numel() for p in model.adapter.blocks[0].parameters())
    params = {"rows": rows, "total": total, "trainable": trainable, "frozen": total - trainable,
              "buffers": sum(b.numel() for b in model.buffers()), "vae": vae, "text_encoder": text_encoder,
              "text_encoder_name": text_name, "extra_frozen": vae + text_encoder, "block": block,
              "control_copy": 0 if model.control_blocks is None else
              sum(p.numel() for p in model.control_blocks[0].parameters())}
    tokens = token_counts(cfg, model)
    activations = activation_estimate(model, cfg, tokens)
    text_config = (json.loads(UMT5_XXL.read_text()) if wan else T5_XXL) if text_encoder else None
    result = {
        "config": str(config), "backbone": cfg.model.backbone, "base_config_source": source,
        "vae_config_source": vae_source, "text_encoder_config": text_config, "base_config": base_config,
        "parameters": params, "tokens": tokens, "batch_size": cfg.optim.batch_size,
        "memory_gib": {"weights_bf16": 2 * total / GIB, "buffers_bf16": 2 * params["buffers"] / GIB,
                       "frozen_outside_bf16": 2 * (vae + text_encoder) / GIB, "gradients": 2 * trainable / GIB,
                       "optimizer": 12 * trainable / GIB,
                       "activations_without_checkpointing":
                           activations["per_sample_bytes"]["without_checkpointing"] / GIB,
                       "activations_with_checkpointing": activations["per_sample_bytes"]["with_checkpointing"] / GIB},
        "activations": activations, "assumptions": {
            "bytes_per_trainable_parameter": "2 bf16 weight + 2 bf16 gradient + 12 fp32 master and AdamW moments",
            "bytes_per_frozen_parameter": 2, "reserve_gib": RESERVE_GIB, "gpu_capacity_gib": GPUS_GIB,
            "fsdp": "FULL_SHARD, counted as ZeRO-3", "vae_and_text_encoder": "frozen bf16 replicas on every GPU"},
        "fits": fit_table(params, activations, cfg.optim.batch_size),
        "lean": lean_recipes(model, params, activations),
    }
    result["table"] = markdown(result)
    result["seconds"] = time.perf_counter() - t0
    print(result["table"])
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    print(f"wrote {out}")
    return result
