"""``python -m eval bench gpu [--device cuda] [--tiny]``: the GPU check, one script, under 10 minutes on one H200.

Each stage runs on ``--device`` (default: cuda where there is one, else the CPU) and, where it has one, is
compared with the same computation on the CPU; a stage that raises is recorded with its error's first line
and the command exits with status 1 after the others have run:

- ``pipeline``: the random tiny pipeline (``worldmem.pipelines.tiny.random_tiny_pipeline``) generating one chunk in
  a synthetic scene from the same seed on both devices (frames and depth, mean and max difference);
- ``render``: ``render_points`` of random points into two cameras (coverage, depth, colour differences);
- ``tsdf``: ``SparseTSDF.integrate`` of synthetic frames given on the device (voxel count, surface points);
- ``train_bf16``: the tiny training loss (``train.loop.training_loss``) for a few AdamW steps under bf16
  autocast on the device: finite, decreasing on a repeated batch, weights changed;
- ``chunk_5b``: one chunk of a random-weights model of the configured 5B size (CogVideoX-5B-I2V with 18
  ControlNet copies and keyframe attention every 14th block, ``configs/models/``) at 49 x 480 x 720 (13 + 2
  latent frames, 226 text tokens, 4 keyframes): one denoising forward pass in bf16 and one training step of the
  new modules with gradient checkpointing, their time and peak device memory (compare with ``python -m train budget``).

``--tiny`` (the default on the CPU) runs the same code at tiny sizes: a 16x16 pipeline, a 2-block model of the
5B configuration's shape at an 8x12 latent size, 3 training steps; a test runs it on the CPU.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from worldmem.utils.io import atomic_write_json

__all__ = ["bench_gpu", "chunk_config"]

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


def chunk_config(tiny: bool) -> tuple[dict, dict]:
    """(base config, memory kwargs and sizes) of the 5B-sized chunk; tiny: the same shape, 2 small blocks."""
    base = {k: v for k, v in json.loads((ROOT / "configs/models/cogvideox-5b-i2v-transformer.json").read_text()).items()
            if not k.startswith("_")}
    sizes = {"frames": 49, "working_frames": 5, "keyframes": 4, "control_layers": 18, "keyframe_every": 14}
    if tiny:
        base.update(num_layers=2, num_attention_heads=2, attention_head_dim=16, time_embed_dim=32, text_embed_dim=32,
                    max_text_seq_length=8, sample_height=8, sample_width=12, sample_frames=9)
        sizes.update(frames=9, keyframes=2, control_layers=1, keyframe_every=1)
    return base, sizes


def _chunk_inputs(base: dict, sizes: dict, device, dtype, g: torch.Generator) -> dict:
    tc = base["temporal_compression_ratio"]
    f, fw = (sizes["frames"] - 1) // tc + 1, (sizes["working_frames"] - 1) // tc + 1
    c, h, w, k = base["out_channels"], base["sample_height"], base["sample_width"], sizes["keyframes"]

    def r(*shape):
        return torch.randn(shape, generator=g).to(device, dtype)

    return {"hidden_states": r(1, f, c, h, w), "timestep": torch.tensor([500], device=device),
            "working": r(1, fw, c, h, w), "spatial": r(1, f, c + 1, h, w), "keyframes": r(1, k, c, h, w),
            "keyframe_mask": torch.ones(1, k, dtype=torch.bool, device=device), "plucker": r(1, fw + f, 6, h, w),
            "keyframe_plucker": r(1, k, 6, h, w),
            "encoder_hidden_states": r(1, base["max_text_seq_length"], base["text_embed_dim"])}


def stage_chunk_5b(device: torch.device, tiny: bool) -> dict:
    from worldmem.models import WorldMemTransformer

    base, sizes = chunk_config(tiny)
    dtype = torch.bfloat16
    with torch.device("meta"):
        model = WorldMemTransformer(base_config=base, latent_channels=base["out_channels"], spatial_mode="controlnet",
                                    num_control_layers=sizes["control_layers"], keyframe_every=sizes["keyframe_every"])
    model = torch.nn.Module.to(model.to_empty(device=device), dtype)  # (diffusers' .to warns about fp32 modules)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # random weights; every zero-initialised path made to matter
            p.normal_(0.0, 0.02, generator=g)
        for b in model.buffers():  # the sin-cos table the learned one replaces (values irrelevant)
            b.normal_(0.0, 0.02, generator=g)
    n_params = sum(p.numel() for p in model.parameters())
    inputs = _chunk_inputs(base, sizes, device, dtype, torch.Generator().manual_seed(1))
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
    model.base.requires_grad_(False)  # configs/cogvideox-5b.yaml: train_new_modules_only, checkpointing
    model.enable_gradient_checkpointing()
    _peak_reset(device)
    t0 = time.perf_counter()
    loss = model(**inputs).sample.float().pow(2).mean()
    loss.backward()
    _sync(device)
    train_s, train_peak = time.perf_counter() - t0, _peak_gib(device)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    has_grads = all(gr is not None and bool(torch.isfinite(gr).all()) for gr in grads)
    tokens = (inputs["working"].shape[1] + inputs["hidden_states"].shape[1]) * (base["sample_height"] // 2) * (
        base["sample_width"] // 2)
    return {"ok": finite and has_grads and bool(torch.isfinite(loss)), "parameters": n_params,
            "video_tokens": tokens, "text_tokens": base["max_text_seq_length"], "forward_seconds": forward_s,
            "forward_peak_gib": forward_peak, "train_step_seconds": train_s, "train_step_peak_gib": train_peak,
            "frames": sizes["frames"], "size": [base["sample_height"] * 8, base["sample_width"] * 8]}


STAGES = {"pipeline": stage_pipeline, "render": stage_render, "tsdf": stage_tsdf, "train_bf16": stage_train_bf16,
          "chunk_5b": stage_chunk_5b}


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
              stages: tuple[str, ...] = tuple(STAGES)) -> dict:
    dev = resolve_device(device)
    tiny = tiny or quick or dev.type == "cpu"
    results: dict = {"device": str(dev), "tiny": tiny, "torch": torch.__version__, "stages": {}}
    if dev.type == "cuda":
        results["gpu"] = torch.cuda.get_device_name(dev)
        torch.backends.cuda.matmul.allow_tf32 = False  # compared with the CPU's float32 results
        torch.backends.cudnn.allow_tf32 = False
    t_all = time.perf_counter()
    for name in stages:
        t0 = time.perf_counter()
        try:
            res = STAGES[name](dev, tiny)
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
