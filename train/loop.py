"""The training loop (accelerate): read it top to bottom.

``python -m train --config configs/tiny.yaml [key=value ...] [--resume]``; the same under ``accelerate launch``
for several processes (DDP; FSDP or DeepSpeed through an accelerate config file).

Per step: encode the target chunk with the codec, noise it at a random timestep, encode the memory readout
(working latents with noise augmentation, spatial render, keyframes, Plücker rays) with each path dropped for
the whole batch with its configured probability, predict the scheduler's target (v, epsilon or sample) for
the chunk frames only, MSE loss. AdamW, warm-up + decay, gradient clipping and accumulation, EMA weights.
With ``model.text_encoder`` each sample is conditioned on its caption's prompt embedding, the whole batch on the
empty prompt with probability ``dropout.text`` (train/text.py).

Checkpoints: ``output_dir/checkpoints/step_XXXXXXX`` from ``accelerator.save_state`` (model as safetensors,
optimiser, LR schedule; loaded back with ``weights_only=True``) plus ``ema.safetensors`` and ``train_state.json``
(the step; EMA settings), written under a temporary name and renamed, then ``latest`` (a text file) is replaced
atomically, so a crash never leaves a half checkpoint as latest. Noise, dropout and data depend only on
(seed, step, rank), so ``--resume`` continues exactly. The final (EMA) model is saved as a pipeline in
``output_dir/pipeline``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from train.config import TrainConfig, curation_config, generation_config
from train.data import make_loader
from worldmem.models import PixelCodec, VAECodec, WorldMemTransformer
from worldmem.pipelines import WorldMemPipeline, default_scheduler, encode_readouts
from worldmem.utils.io import RUN_RECORD, atomic_directory, atomic_write, atomic_write_json, swap_in
from worldmem.utils.seeding import torch_generator

__all__ = ["build_model", "train", "latest_checkpoint", "COMMAND", "OUTPUT_MARKERS"]

COMMAND = "python -m train"
OUTPUT_MARKERS = (RUN_RECORD, "checkpoints/latest")
"""What a training ``output_dir`` holds (``run.json`` naming this command, written at the start; or, for runs of
older versions, ``checkpoints/latest``): an existing non-empty ``output_dir`` without either is refused."""


class TrainState:
    """The step counter, checkpointed with the rest of the state."""

    def __init__(self):
        self.step = 0


def _save_extra(folder: Path, state: TrainState, ema: EMAModel | None) -> None:
    """The step and the EMA weights, as json + safetensors (accelerate would pickle registered objects)."""
    import json

    from safetensors.torch import save_file

    extra = {"step": state.step}
    if ema is not None:
        ema_state = ema.state_dict()
        shadow = ema_state.pop("shadow_params")
        save_file({f"{i:05d}": p.detach().contiguous().cpu() for i, p in enumerate(shadow)}, str(folder / "ema.safetensors"))
        extra["ema"] = ema_state
    (folder / "train_state.json").write_text(json.dumps(extra, indent=2) + "\n")


def _load_extra(folder: Path, state: TrainState, ema: EMAModel | None) -> None:
    import json

    from safetensors.torch import load_file

    extra = json.loads((folder / "train_state.json").read_text())
    state.step = int(extra["step"])
    if ema is not None:
        if "ema" not in extra or not (folder / "ema.safetensors").is_file():
            raise ValueError(f"--resume: checkpoint {folder} has no EMA weights but optim.ema_decay > 0")
        shadow = load_file(str(folder / "ema.safetensors"))
        ema.load_state_dict({**extra["ema"], "shadow_params": [shadow[k] for k in sorted(shadow)]})


def build_model(cfg: TrainConfig) -> tuple[WorldMemTransformer, torch.nn.Module]:
    """The transformer and codec described by ``cfg.model`` (from a local CogVideoX folder when set)."""
    m = cfg.model
    kwargs = dict(spatial_mode=m.spatial_mode, num_control_layers=m.num_control_layers,
                  keyframe_every=m.keyframe_every, use_camera=m.use_camera, control_placement=m.control_placement,
                  sample_size=list(m.sample_size) or None)
    wan = m.backbone == "wan"
    if m.pretrained:
        model = (WorldMemTransformer.from_wan if wan else WorldMemTransformer.from_cogvideox)(m.pretrained, **kwargs)
    else:
        # No pretrained folder means the pixel codec (codec "vae" needs one): its channels are the model's.
        model = WorldMemTransformer(base_config=m.base_config or None, latent_channels=PixelCodec.latent_channels,
                                    backbone=m.backbone, **kwargs)
    if m.codec == "vae":
        codec = VAECodec.from_wan(m.pretrained) if wan else VAECodec.from_cogvideox(m.pretrained)
    else:
        codec = PixelCodec()
    if codec.latent_channels != model.config.latent_channels:
        raise ValueError(f"model.pretrained: the codec has {codec.latent_channels} channels, "
                         f"the model expects {model.config.latent_channels}")
    if m.init_from:
        _load_transformer_weights(model, Path(m.init_from))
    if m.train_new_modules_only:
        model.base.requires_grad_(False)
    if m.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    codec.requires_grad_(False)
    return model, codec


def _load_transformer_weights(model: WorldMemTransformer, folder: Path) -> None:
    """Loads the transformer weights of the saved pipeline ``folder`` into ``model`` (same architecture)."""
    from safetensors.torch import load_file

    files = sorted((folder / "transformer").glob("*.safetensors"))
    if len(files) != 1:
        raise ValueError(f"model.init_from: expected one transformer/*.safetensors in {folder}, got {len(files)}")
    try:
        model.load_state_dict(load_file(str(files[0])), strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"model.init_from: {folder} does not match the configured model ({first})") from None


def _chained_batch(samples: list, model, codec, cfg: TrainConfig, step: int, rank: int, text=None) -> list:
    """``samples`` with the first ``chained.fraction`` of them replaced by chained samples (train/chained.py),
    generated by the current ``model``; deterministic in (seed, step, rank). Chained samples are rendered from
    the synthetic world with ``data.curation`` (for curated shards: the curation config they were built with)."""
    from train.chained import chained_sample
    from worldmem.data.readers.synthetic import TRAIN_SEEDS

    c = cfg.chained
    k = round(c.fraction * len(samples))
    if k == 0:
        return samples
    was_training = model.training
    model.eval()
    pipe = WorldMemPipeline(model, default_scheduler(), codec, **generation_config(cfg).to_dict(),
                            **_text_components(text))
    pipe.set_progress_bar_config(disable=True)
    out = list(samples)
    for i in range(k):
        g = torch_generator("train_chained", cfg.seed, step, rank * len(samples) + i)
        scene = int(torch.randint(TRAIN_SEEDS.start, TRAIN_SEEDS.stop, (1,), generator=g))
        noise = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        chunks = 1 + (step + i) % c.max_chunks  # 1 .. max_chunks in turn
        out[i] = chained_sample(pipe, scene, cfg.data.curation, chunks, c.steps, noise)
    model.train(was_training)
    return out


def latest_checkpoint(output_dir: Path) -> Path | None:
    pointer = output_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = output_dir / "checkpoints" / pointer.read_text().strip()
    return path if path.is_dir() else None


def _save_checkpoint(accelerator: Accelerator, output_dir: Path, state: TrainState, ema: EMAModel | None,
                     keep: int) -> None:
    step = state.step
    ckpt_root = output_dir / "checkpoints"
    name = f"step_{step:07d}"
    tmp = ckpt_root / f".tmp_{name}"
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _save_extra(tmp, state, ema)
        swap_in(tmp, ckpt_root / name)  # never a moment without the step's folder, which "latest" may name
        atomic_write(ckpt_root / "latest", lambda p: Path(p).write_text(name + "\n"))
        done = sorted(p for p in ckpt_root.glob("step_*") if p.is_dir())
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def training_loss(model, codec, scheduler, samples, cfg: TrainConfig, generator: torch.Generator,
                  path_generator: torch.Generator, text=None) -> torch.Tensor:
    """The diffusion loss of one batch of :class:`TrainingSample` (the chunk's frames only).

    ``generator`` draws this process's noise; ``path_generator`` (seeded the same on every process) draws which
    memory paths (and whether the text) are dropped, so all processes run the same paths in a step. ``text``: a
    :class:`~train.text.TrainText`, or None for no text tokens.
    """
    device, dtype = next(model.parameters()).device, torch.float32
    d = cfg.dropout
    # Five draws per step whatever is configured, so the stream does not depend on the dropout settings.
    draws = torch.rand(5, generator=path_generator).tolist()
    dropped = [path for path, p, u in (("spatial", d.spatial, draws[0]), ("episodic", d.episodic, draws[1]),
                                       ("working", d.working, draws[2]), ("camera", d.camera, draws[3])) if u < p]
    inputs = encode_readouts([s.readout for s in samples], codec, device=device, dtype=dtype).without(*dropped)
    if text is not None:
        inputs = inputs.replace(text=text.batch(samples, draws[4] < d.text, device, dtype))
    frames = torch.stack([s.target.frames for s in samples]).to(device, dtype)
    depth = torch.stack([s.target.depth for s in samples]).to(device, dtype)
    with torch.no_grad():
        latents = codec.encode(frames, depth if codec.has_depth else None)
    b = latents.shape[0]
    if inputs.working is not None and cfg.optim.working_noise > 0:
        sigma = torch.rand(b, 1, 1, 1, 1, generator=generator) * cfg.optim.working_noise
        jitter = torch.randn(inputs.working.shape, generator=generator).to(device)
        inputs = inputs.replace(working=inputs.working + sigma.to(device) * jitter)
    noise = torch.randn(latents.shape, generator=generator).to(device, dtype)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator).to(device)
    noisy = scheduler.add_noise(latents, noise, t)
    kind = scheduler.config.prediction_type
    target = {"epsilon": noise, "sample": latents}.get(kind)
    if target is None:
        target = scheduler.get_velocity(latents, noise, t)
    pred = model(noisy, t, **inputs.as_kwargs()).sample
    return F.mse_loss(pred.float(), target.float())


def train(cfg: TrainConfig, resume: bool = False, max_steps: int | None = None, quiet: bool = False) -> Path:
    """Runs (or resumes) training; returns the folder of the final pipeline.

    ``max_steps`` stops early after that many steps (tests use it to simulate a crash); the final pipeline is
    only written when the configured number of steps is reached.
    """
    output_dir = Path(cfg.output_dir)
    # A batch may hold no keyframes (or drop a path): some parameters then get no gradient in that step.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(gradient_accumulation_steps=cfg.optim.grad_accum, mixed_precision=cfg.optim.mixed_precision,
                              log_with="tensorboard", project_dir=str(output_dir), kwargs_handlers=[ddp])
    check_launch(accelerator)
    if accelerator.state.deepspeed_plugin is not None:
        # No dataloader goes through prepare(), so DeepSpeed cannot infer the per-GPU batch: it is ours.
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.optim.batch_size
    set_seed(cfg.seed)
    model, codec = build_model(cfg)
    text = None
    if cfg.model.text_encoder:
        from train.text import TrainText

        text = TrainText(cfg.model.text_encoder, model)
    scheduler = default_scheduler()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    lr_schedule = get_scheduler(cfg.optim.lr_schedule, optimizer, num_warmup_steps=cfg.optim.warmup_steps,
                                num_training_steps=cfg.optim.steps)
    ema = EMAModel(params, decay=cfg.optim.ema_decay) if cfg.optim.ema_decay > 0 else None
    state = TrainState()
    model, optimizer, lr_schedule = accelerator.prepare(model, optimizer, lr_schedule)
    codec.to(accelerator.device)

    if resume:
        ckpt = latest_checkpoint(output_dir)
        if ckpt is None:
            raise FileNotFoundError(f"--resume: no complete checkpoint under {output_dir}/checkpoints")
        accelerator.load_state(str(ckpt))
        _load_extra(ckpt, state, ema)
    per_step = cfg.optim.batch_size * cfg.optim.grad_accum
    curation = curation_config(cfg) if cfg.data.source == "synthetic" else None
    loader = make_loader(cfg, accelerator.process_index, accelerator.num_processes, state.step * per_step, curation)
    batches = iter(loader)
    stop = cfg.optim.steps if max_steps is None else min(cfg.optim.steps, state.step + max_steps)
    if state.step < stop:
        # The first batch is read before the progress bar is drawn: unreadable data stops the run with its one
        # error line (a pass that yields no sample is an error, see ShardDataset), not under a bar at step 0.
        batches = itertools.chain([next(batches)], batches)
    if accelerator.is_main_process:  # only now: a run refused for its data leaves no output_dir behind
        output_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(output_dir / OUTPUT_MARKERS[0], {"command": COMMAND, "config": dataclasses.asdict(cfg)})
        accelerator.init_trackers("worldmem")
    bar = tqdm(total=cfg.optim.steps, initial=state.step, desc="train", unit="step",
               disable=quiet or not accelerator.is_local_main_process)
    t_last, samples_done = time.perf_counter(), 0
    while state.step < stop:
        g = torch_generator("train_noise", cfg.seed, state.step, accelerator.process_index)
        g_paths = torch_generator("train_paths", cfg.seed, state.step)
        loss_sum = 0.0
        for _ in range(cfg.optim.grad_accum):
            with accelerator.accumulate(model):
                batch = next(batches)
                if cfg.chained.fraction > 0:
                    batch = _chained_batch(batch, accelerator.unwrap_model(model), codec, cfg, state.step,
                                           accelerator.process_index, text)
                loss = training_loss(model, codec, scheduler, batch, cfg, g, g_paths, text)
                if not bool(torch.isfinite(loss.detach())):
                    # Before any update: the weights and the checkpoints on disk stay those of the last good step.
                    raise ValueError(f"step {state.step + 1}: the training loss is {float(loss.detach())}; stopped "
                                     "before updating the weights (the last checkpoint stays latest); lower optim.lr "
                                     "or check the data")
                accelerator.backward(loss)
                grad_norm = None
                if accelerator.sync_gradients:
                    grad_norm = accelerator.clip_grad_norm_(params, cfg.optim.grad_clip)
                optimizer.step()
                lr_schedule.step()
                optimizer.zero_grad()
                loss_sum += float(loss.detach()) / cfg.optim.grad_accum
        state.step += 1
        samples_done += per_step * accelerator.num_processes
        if ema is not None:
            ema.step(params)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum:.4f}")
        if state.step % cfg.log_every == 0 or state.step == stop:
            now = time.perf_counter()
            accelerator.log({"loss": loss_sum, "lr": lr_schedule.get_last_lr()[0],
                             "grad_norm": float(grad_norm) if grad_norm is not None else math.nan,
                             "samples_per_s": samples_done / max(now - t_last, 1e-9)}, step=state.step)
            t_last, samples_done = now, 0
        if state.step % cfg.checkpoint_every == 0 or state.step == stop:
            _save_checkpoint(accelerator, output_dir, state, ema, cfg.keep_checkpoints)
        if state.step % cfg.validate_every == 0 and accelerator.is_main_process:
            from train.validate import validation_rollout

            pipe = _pipeline(accelerator.unwrap_model(model), codec, cfg, ema, text)
            metrics = validation_rollout(pipe, cfg, output_dir / "validation" / f"step_{state.step:07d}.mp4")
            accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=state.step)
    bar.close()
    _check_replicas(accelerator, model, output_dir)
    final = output_dir / "pipeline"
    if state.step >= cfg.optim.steps:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            pipe = _pipeline(accelerator.unwrap_model(model), codec, cfg, ema, text)
            atomic_directory(final, lambda tmp: pipe.save_pretrained(str(tmp), safe_serialization=True),
                             marker="model_index.json")
    accelerator.end_training()
    _let_gloo_finish(accelerator)
    return final


GLOO_DRAIN_S = 0.5


def _let_gloo_finish(accelerator: Accelerator) -> None:
    """Gives torch's gloo worker thread time to free the last collectives before the process group is freed.

    The process group is freed with the DDP model when ``train`` returns, and its destructor joins gloo's worker
    thread while holding the GIL. That thread may still be freeing the last barrier, which holds the replica
    check's gathered tensors, and that needs the GIL: a deadlock (pytorch/pytorch#56297). It was seen twice in
    full ``make test`` runs, both times on the rank that skips saving the pipeline. Sleeping releases the GIL."""
    if accelerator.num_processes > 1:
        time.sleep(GLOO_DRAIN_S)


def check_launch(accelerator: Accelerator, environ=os.environ) -> None:
    """Fails at start when accelerate did not set up what ``accelerate launch`` asked for.

    Without a GPU, accelerate 1.x runs only DDP over gloo, and only with ``ACCELERATE_USE_CPU=1`` in the
    environment (the multi-GPU launcher does not pass a config file's ``use_cpu`` on); otherwise each launched
    process would train alone on the same ``output_dir``, and an FSDP or DeepSpeed launch would train as plain
    DDP (docs/distributed.md).
    """
    launched = int(environ.get("WORLD_SIZE", "1"))
    kind = str(accelerator.distributed_type).rsplit(".", 1)[-1]
    hint = "without a GPU accelerate runs only DDP, with ACCELERATE_USE_CPU=1 (docs/distributed.md)"
    if launched > accelerator.num_processes:  # a launcher that sets no WORLD_SIZE (mpirun) counts as 1
        raise ValueError(f"accelerate launch started {launched} processes but accelerate set up {accelerator.num_processes} "
                         f"({kind}): each would train alone; {hint}")
    for flag, name, wanted in (("ACCELERATE_USE_FSDP", "FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed", "DEEPSPEED")):
        if environ.get(flag, "false").lower() == "true" and kind != wanted:
            raise ValueError(f"the launch asked for {name} but accelerate set up {kind}; {hint}")


def _check_replicas(accelerator: Accelerator, model, output_dir: Path) -> None:
    """Verifies that every process holds the same weights (DDP keeps replicas in sync; a bug would not).

    Each process fingerprints its parameters (sum, sum of squares, index-weighted sum, in float64); the
    fingerprints are gathered and written to ``output_dir/replicas.json``; a mismatch is an error.
    """
    flat = torch.cat([p.detach().double().flatten() for p in accelerator.unwrap_model(model).parameters()])
    index = torch.arange(flat.numel(), dtype=torch.float64) / flat.numel()
    fingerprint = torch.stack([flat.sum(), (flat * flat).sum(), (flat * index).sum()]).to(accelerator.device)
    prints = accelerator.gather(fingerprint[None]).cpu()
    if accelerator.is_main_process:
        import json

        atomic_write(output_dir / "replicas.json", lambda p: Path(p).write_text(json.dumps(
            {"num_processes": accelerator.num_processes, "fingerprints": prints.tolist()}, indent=2) + "\n"))
    if not all(torch.equal(prints[0], row) for row in prints):
        raise RuntimeError(f"training processes ended with different weights: fingerprints {prints.tolist()}")


def _text_components(text) -> dict:
    if text is None:
        return {}
    encoder, tokenizer = text.components()
    return {"text_encoder": encoder, "tokenizer": tokenizer}


def _pipeline(model: WorldMemTransformer, codec, cfg: TrainConfig, ema: EMAModel | None, text=None) -> WorldMemPipeline:
    """A pipeline around a copy of the model carrying the EMA weights (when EMA is on), with the text encoder of
    ``text`` (a :class:`~train.text.TrainText`) when there is one."""
    import copy

    model = copy.deepcopy(model).eval()
    if ema is not None:
        ema.copy_to([p for p in model.parameters() if p.requires_grad])
    return WorldMemPipeline(model, default_scheduler(), codec, **generation_config(cfg).to_dict(),
                            **_text_components(text))
