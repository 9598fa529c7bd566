"""``python -m eval bench gpu [--device cuda] [--tiny] [--config TRAIN_YAML]``: the GPU check, one script, under 10
minutes on one H200.

Each stage runs on ``--device`` (default: cuda where there is one, else the CPU) and, where it has one, is
compared with the same computation on the CPU; a stage that raises is recorded with its error's first line
and the command exits with status 1 after the others have run:

- ``pipeline``: the random tiny pipeline (``worldmem.pipelines.tiny.random_tiny_pipeline``) generating one chunk in
  a synthetic scene from the same seed on both devices (frames and depth, mean and max difference);
- ``render``: ``render_points`` of random points into two cameras (coverage, depth, colour differences);
- ``tsdf``: ``SparseTSDF.integrate`` of synthetic frames given on the device (voxel count, surface points);
- ``train_bf16``: the tiny training loss (``train.loop.training_loss``) for a few AdamW steps under bf16
  autocast on the device: finite, decreasing on a repeated batch, weights changed;
- ``chunk``: one chunk of a random-weights model of the size ``--config`` describes (the training config's
  model as ``python -m train budget`` builds it from the published configuration in ``configs/models/``;
  default ``configs/cogvideox-5b.yaml``: CogVideoX-5B-I2V with 18 ControlNet copies and keyframe attention
  every 14th block at 49 x 480 x 720, 13 + 2 latent frames and 226 text tokens; ``configs/wan2.1-1.3b.yaml``:
  Wan2.1-1.3B with 8 VACE-placed control copies at 33 x 480 x 832, 9 + 2 latent frames and 512 umT5 tokens;
  ``configs/wan2.2-ti2v-5b.yaml``: the same at 33 x 704 x 1280), with the config's keyframes: one denoising
  forward pass in bf16 and one training step of what the config trains with its checkpointing, their time and
  peak device memory (compare with the budget).

``--tiny`` (the default on the CPU) runs the same code at tiny sizes: a 16x16 pipeline, a 2-block model of the
configured family's shape at an 8x12 latent size, 3 training steps; a test runs it on the CPU for each config.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from worldmem.utils.io import atomic_write_json

__all__ = ["bench_gpu", "chunk_model"]

ROOT = Path(__file__).resolve().parents[2]


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**30


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _diff(a: torch.Tensor, b: torch.Tensor) -> dict:
    d = (a.detach().float().cpu() - b.detach().float().cpu()).abs()
    return {"mean_abs": float(d.mean()), "max_abs": float(d.max())}


def _scene_cameras(n: int, size: int):
    from worldmem.geometry import trajectories
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=3, dynamic=False, kind="room")
    lo, hi = scene.free_box
    cams = trajectories.look_around(n, position=((lo + hi) / 2).tolist(), yaw_range_deg=60.0, height=size,
                                    width=size, fov_deg=70.0)
    return scene, cams


def stage_pipeline(device: torch.device, tiny: bool) -> dict:
    from worldmem.pipelines.tiny import random_tiny_pipeline

    size = 16 if tiny else 32
    scene, cams = _scene_cameras(6, size)
    frames, depth = scene.render(cams)
    outs = []
    for dev in ("cpu", device):
        pipe = random_tiny_pipeline(seed=0, size=size).to(dev)
        out = pipe(frames=frames[:2], depth=depth[:2], cameras=cams, num_inference_steps=2 if tiny else 8,
                   progress=False, generator=torch.Generator().manual_seed(7))
        outs.append(out)
    frames_diff, depth_diff = _diff(outs[0].frames, outs[1].frames), _diff(outs[0].depth, outs[1].depth)
    return {"ok": frames_diff["mean_abs"] < 1e-2, "frames": frames_diff, "depth": depth_diff, "size": size,
            "frames_generated": int(outs[1].frames.shape[0]) - 2}


def stage_render(device: torch.device, tiny: bool) -> dict:
    from worldmem.geometry.render import render_points

    size, n = (32, 5_000) if tiny else (256, 500_000)
    g = torch.Generator().manual_seed(0)
    _, cams = _scene_cameras(2, size)
    centre = cams.centers.mean(0)
    points = centre + torch.randn(n, 3, generator=g) * 2.0
    colours = torch.rand(n, 3, generator=g)
    ref = render_points(points, colours, cams)
    got = render_points(points.to(device), colours.to(device), cams.to(device))
    both = ref.mask & got.mask.cpu()
    mismatch = float((ref.mask != got.mask.cpu()).float().mean())
    depth = _diff(torch.where(both, ref.depth, 0.0), torch.where(both, got.depth.cpu(), 0.0))
    return {"ok": mismatch < 1e-3 and depth["max_abs"] < 1e-3, "coverage_mismatch": mismatch, "depth": depth,
            "covered": float(ref.mask.float().mean()), "points": n, "device_of_output": str(got.depth.device)}


def stage_tsdf(device: torch.device, tiny: bool) -> dict:
    from worldmem.geometry.tsdf import SparseTSDF

    size = 32 if tiny else 256
    scene, cams = _scene_cameras(4, size)
    frames, depth = scene.render(cams)
    ref, got = SparseTSDF(voxel_size=0.08), SparseTSDF(voxel_size=0.08)
    ref.integrate(frames, depth, cams)
    got.integrate(frames.to(device), depth.to(device), cams.to(device))
    p_ref, p_got = ref.surface()[0], got.surface()[0]
    same = p_ref.shape == p_got.shape
    return {"ok": ref.num_voxels == got.num_voxels and same and (not same or _diff(p_ref, p_got)["max_abs"] < 1e-4),
            "voxels": [ref.num_voxels, got.num_voxels], "surface_points": [len(p_ref), len(p_got)]}


def stage_train_bf16(device: torch.device, tiny: bool) -> dict:
    from train.config import load_config
    from train.data import make_loader
    from train.loop import build_model, training_loss
    from worldmem.pipelines import default_scheduler
    from worldmem.utils.seeding import torch_generator

    small = ["model.base_config.num_layers=2", "model.base_config.sample_height=16",
             "model.base_config.sample_width=16", "data.curation.image_size=[16, 16]", "optim.batch_size=2"]
    cfg = load_config(ROOT / "configs" / "tiny.yaml", (small if tiny else []) + ["optim.mixed_precision=bf16"])
    steps = 3 if tiny else 20
    model, codec = build_model(cfg)
    model.to(device).train()
    codec.to(device)
    # As accelerate's mixed_precision="bf16" does: autocast around the model's forward only (the readout
    # encoding and camera maths stay float32).
    model.forward = torch.autocast(device.type, dtype=torch.bfloat16)(model.forward)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr)
    batch = next(iter(make_loader(cfg, 0, 1, 0, cfg.data.curation)))
    scheduler = default_scheduler()
    losses = []
    _peak_reset(device)
    t0 = time.perf_counter()
    for _ in range(steps):  # the same batch and noise every step: the loss must go down
        g = torch_generator("train_noise", cfg.seed, 0, 0)
        loss = training_loss(model, codec, scheduler, batch, cfg, g, torch_generator("train_paths", cfg.seed, 0))
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    _sync(device)
    changed = any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))
    finite = all(map(lambda v: v == v and abs(v) != float("inf"), losses))
    return {"ok": finite and changed and losses[-1] < losses[0], "losses": losses, "weights_changed": changed,
            "seconds": time.perf_counter() - t0, "peak_gib": _peak_gib(device)}


DEFAULT_CONFIG = ROOT / "configs" / "cogvideox-5b.yaml"
TINY_BASE = {  # the family's shape at tiny width: 2 blocks, small heads, an 8x12 latent frame, 8 text tokens
    "cogvideox": dict(num_layers=2, num_attention_heads=2, attention_head_dim=16, time_embed_dim=32,
                      text_embed_dim=32, max_text_seq_length=8, sample_height=8, sample_width=12, sample_frames=9),
    "wan": dict(num_layers=2, num_attention_heads=2, attention_head_dim=24, ffn_dim=64, text_dim=32, freq_dim=32),
}
TINY_SETTINGS = ["model.num_control_layers=1", "model.keyframe_every=1", "generation.chunk_size=9",
                 "data.curation.max_keyframes=2"]


def chunk_model(config: Path, tiny: bool, device):
    """(model with random weights on ``device`` in bf16, its sizes) of training config ``config``."""
    from train.budget import build_meta_model, resolve_base_config, token_counts
    from train.config import TrainConfig
    from worldmem.utils.config import load

    cfg = load(TrainConfig, config, TINY_SETTINGS if tiny else [])
    base, _ = resolve_base_config(cfg)
    if tiny:
        base.update(TINY_BASE[cfg.model.backbone])
        if cfg.model.backbone == "wan":
            cfg.model.sample_size = [8, 12]
    with torch.device("meta"):
        model = build_meta_model(cfg, base)
    model = torch.nn.Module.to(model.to_empty(device=device), torch.bfloat16)  # (diffusers' .to warns on fp32 modules)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # random weights; every zero-initialised path made to matter
            p.normal_(0.0, 0.02, generator=g)
        for b in model.buffers():  # sin-cos and rotary tables rebuilt below (values of the learned ones irrelevant)
            b.normal_(0.0, 0.02, generator=g)
    if cfg.model.backbone == "wan":  # the rotary tables are buffers computed at construction: rebuild them
        rope = type(model.base.rope)(model.base.rope.attention_head_dim, model.base.rope.patch_size,
                                     model.base.rope.max_seq_len)
        model.base.rope = rope.to(device)
        model.adapter.base = model.base
    tokens = token_counts(cfg, model)
    sizes = {"frames": cfg.generation.chunk_size, "working_frames": cfg.generation.working_window,
             "latent_frames": tokens["chunk_latent_frames"], "working_latent_frames": tokens["working_latent_frames"],
             "keyframes": cfg.data.curation.max_keyframes, "latent_size": tokens["latent_size"],
             "text_tokens": 8 if tiny else tokens["text_tokens"], "video_tokens": tokens["video_tokens"],
             "frozen_base": cfg.model.train_new_modules_only, "checkpointing": cfg.model.gradient_checkpointing,
             "backbone": cfg.model.backbone, "config": str(config)}
    return model, sizes


def _chunk_inputs(model, sizes: dict, device, dtype, g: torch.Generator) -> dict:
    f, fw = sizes["latent_frames"], sizes["working_latent_frames"]
    (h, w), k, c = sizes["latent_size"], sizes["keyframes"], model.config.latent_channels

    def r(*shape):
        return torch.randn(shape, generator=g).to(device, dtype)

    return {"hidden_states": r(1, f, c, h, w), "timestep": torch.tensor([500], device=device),
            "working": r(1, fw, c, h, w), "spatial": r(1, f, c + 1, h, w), "keyframes": r(1, k, c, h, w),
            "keyframe_mask": torch.ones(1, k, dtype=torch.bool, device=device), "plucker": r(1, fw + f, 6, h, w),
            "keyframe_plucker": r(1, k, 6, h, w),
            "encoder_hidden_states": r(1, sizes["text_tokens"], model.adapter.text_dim)}


def stage_chunk(device: torch.device, tiny: bool, config: Path = DEFAULT_CONFIG) -> dict:
    model, sizes = chunk_model(config, tiny, device)
    dtype = torch.bfloat16
    n_params = sum(p.numel() for p in model.parameters())
    inputs = _chunk_inputs(model, sizes, device, dtype, torch.Generator().manual_seed(1))
    model.eval()
    _peak_reset(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model(**inputs).sample
    _sync(device)
    forward_s, forward_peak = time.perf_counter() - t0, _peak_gib(device)
    finite = bool(torch.isfinite(out).all())
    del out
    model.train()
    if sizes["frozen_base"]:
        model.base.requires_grad_(False)
    if sizes["checkpointing"]:
        model.enable_gradient_checkpointing()
    _peak_reset(device)
    t0 = time.perf_counter()
    loss = model(**inputs).sample.float().pow(2).mean()
    loss.backward()
    _sync(device)
    train_s, train_peak = time.perf_counter() - t0, _peak_gib(device)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    has_grads = all(gr is not None and bool(torch.isfinite(gr).all()) for gr in grads)
    return {"ok": finite and has_grads and bool(torch.isfinite(loss)), "parameters": n_params, **sizes,
            "forward_seconds": forward_s, "forward_peak_gib": forward_peak, "train_step_seconds": train_s,
            "train_step_peak_gib": train_peak}


STAGES = {"pipeline": stage_pipeline, "render": stage_render, "tsdf": stage_tsdf, "train_bf16": stage_train_bf16,
          "chunk": stage_chunk}


def resolve_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device: expected cpu or cuda[:N], got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device: expected cpu or cuda[:N], got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device: {device} is not available on this machine (torch {torch.__version__})")
    return dev


def bench_gpu(out: Path, repeats: int = 1, quick: bool = False, device: str | None = None, tiny: bool = False,
              stages: tuple[str, ...] = tuple(STAGES), config: Path = DEFAULT_CONFIG) -> dict:
    dev = resolve_device(device)
    tiny = tiny or quick or dev.type == "cpu"
    results: dict = {"device": str(dev), "tiny": tiny, "torch": torch.__version__, "config": str(config), "stages": {}}
    if dev.type == "cuda":
        results["gpu"] = torch.cuda.get_device_name(dev)
        torch.backends.cuda.matmul.allow_tf32 = False  # compared with the CPU's float32 results
        torch.backends.cudnn.allow_tf32 = False
    t_all = time.perf_counter()
    for name in stages:
        t0 = time.perf_counter()
        try:
            res = STAGES[name](dev, tiny, config) if name == "chunk" else STAGES[name](dev, tiny)
        except Exception as err:  # noqa: BLE001 (each stage's failure is a result; the others still run)
            res = {"ok": False, "error": f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''}"}
        res["stage_seconds"] = time.perf_counter() - t0
        results["stages"][name] = res
        print(f"{name:>10}: {'ok' if res['ok'] else 'FAILED'} ({res['stage_seconds']:.1f} s)"
              + (f" {res['error']}" if "error" in res else ""))
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    results["seconds"] = time.perf_counter() - t_all
    results["ok"] = all(r["ok"] for r in results["stages"].values())
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    if not results["ok"]:
        raise SystemExit(1)
    return results
