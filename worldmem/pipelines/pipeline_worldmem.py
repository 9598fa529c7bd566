"""WorldMemPipeline: autoregressive, camera-controlled generation with read/write world memory.

The pipeline owns the loop. For each chunk of ``chunk_size`` cameras it reads the memory at the chunk's
cameras (spatial render, working window, retrieved keyframes: exactly what the model sees, in the memory's
normalised units), encodes the readout into :class:`~worldmem.pipelines.model_inputs.ModelInputs`, denoises the
chunk with the transformer and the scheduler, decodes it, gets depth (the codec's own depth channel or a depth
estimator), aligns that depth to the readout's reference depth on co-visible pixels (robust scale and shift),
and writes the chunk back. Callers speak scene units; the memory converts. The memory
write touches only the new frames, the render touches only the map, and keyframes are bounded, so every chunk
costs the same however long the video is.

Seeding and resuming: either pass ``frames`` (+ ``depth``) for the first cameras, which are written into a new
memory, or pass a loaded ``memory`` whose ``num_frames`` first cameras are already known; generation then
continues from there. The noise of a chunk depends only on the generator's seed and the chunk's first frame
index, so 2N chunks in one call equal N chunks, save, load, N more.

Prompts: with a ``text_encoder`` and ``tokenizer`` (optional components; :mod:`worldmem.models.text`) every chunk
reads the prompt's T5 embedding (computed once per prompt and cached); without them the transformer gets no text
tokens, exactly as before. Guidance acts on the memory and the text separately (see ``__call__``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers import DDIMScheduler, DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from worldmem.geometry.cameras import Cameras
from worldmem.memory import MemoryConfig, WorldMemory
from worldmem.models.depth import align_depth
from worldmem.models.text import EMPTY_PROMPT, PromptCache, check_text_encoder
from worldmem.pipelines.anchoring import anchor_latents
from worldmem.pipelines.cost import MAX_RUN_FRAMES
from worldmem.pipelines.generation_config import GenerationConfig
from worldmem.pipelines.loading import checked_folder, config_line
from worldmem.pipelines.model_inputs import ModelInputs, encode_readouts
from worldmem.pipelines.write_gate import WriteGate
from worldmem.utils.checks import check_depth, check_images
from worldmem.utils.config import ConfigError
from worldmem.utils.seeding import torch_generator

__all__ = ["WorldMemPipeline", "WorldMemPipelineOutput", "default_scheduler", "load_pipeline"]


def _check_run(new_frames: int) -> None:
    if new_frames > MAX_RUN_FRAMES:
        raise ValueError(f"cameras: expected at most {MAX_RUN_FRAMES} new frames per call (MAX_RUN_FRAMES; resume from "
                         f"the returned memory for more), got {new_frames}")


def _stage_clock(timings: dict[str, float] | None, device) -> Callable[[str | None], None]:
    """``lap(stage)`` adds the seconds since the previous lap to ``timings[stage]`` (``lap(None)`` only restarts the
    clock); a no-op when ``timings`` is None. On an accelerator it synchronises first, so that a stage's time is
    its work's and not its launch's."""
    if timings is None:
        return lambda stage: None
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    last = [time.perf_counter()]

    def lap(stage: str | None) -> None:
        sync()
        now = time.perf_counter()
        if stage is not None:
            timings[stage] = timings.get(stage, 0.0) + now - last[0]
        last[0] = now

    return lap


def default_scheduler() -> DDIMScheduler:
    """A few-step sampler: DDIM on a cosine schedule with zero terminal SNR, v-prediction, trailing timesteps."""
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                         rescale_betas_zero_snr=True, timestep_spacing="trailing", clip_sample=False,
                         set_alpha_to_one=True)


@dataclass
class WorldMemPipelineOutput(BaseOutput):
    """Result of a rollout.

    Attributes:
        frames: (N, 3, H, W) in [0, 1] for cameras ``start_index ..`` (given frames first, then generated).
        depth: (N, 1, H, W) z-depth in the caller's units (aligned to the memory), 0 = unknown.
        memory: the :class:`WorldMemory` after the last chunk (save it to resume).
        start_index: the index (in ``cameras``) of the first returned frame.
        alignment: per generated chunk, the (scale, shift, inliers) applied to its depth (None when
            ``write_back_depth`` supplied it).
    """

    frames: torch.Tensor
    depth: torch.Tensor
    memory: WorldMemory
    start_index: int
    alignment: list


class WorldMemPipeline(DiffusionPipeline):
    """Generates a long video along ``cameras`` chunk by chunk, reading and writing a :class:`WorldMemory`.

    The generation settings are one :class:`~worldmem.pipelines.generation_config.GenerationConfig`
    (:attr:`generation`), given to the constructor as its fields (``chunk_size=..., write_gate={...}``; a
    :class:`GenerationConfig` ``g`` as ``**g.to_dict()``), saved as keys of ``model_index.json``, replaced with
    :meth:`set_generation` and overridden per call by the keyword arguments of ``__call__`` of the same names.

    Args:
        transformer: :class:`~worldmem.models.WorldMemTransformer`.
        scheduler: any diffusers scheduler with ``set_timesteps``/``step`` (default: :func:`default_scheduler`).
        codec: :class:`~worldmem.models.PixelCodec` (RGB-D) or :class:`~worldmem.models.VAECodec` (RGB).
        chunk_size, working_window, num_inference_steps, guidance_scale, text_guidance_scale, render_anchor,
            write_gate, memory_config: the fields of :class:`GenerationConfig` (``write_gate`` and
            ``memory_config`` as mappings or their dataclasses; ``memory_config`` None: MemoryConfig's defaults).
        text_encoder, tokenizer: optional, a transformers T5 encoder and its tokenizer (both or neither) whose width
            is the transformer's ``text_embed_dim``; the transformer must take text (``max_text_seq_length`` > 0).
    """

    model_cpu_offload_seq = "text_encoder->transformer"
    _optional_components = ["text_encoder", "tokenizer"]

    def __init__(self, transformer, scheduler, codec, memory_config: dict | None = None, chunk_size: int = 4,
                 working_window: int = 2, write_gate: dict | None = None, render_anchor: float = 0.0,
                 num_inference_steps: int = 8, guidance_scale: float = 1.0, text_guidance_scale: float = 1.0,
                 text_encoder=None, tokenizer=None):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler, codec=codec)
        self.set_text_encoder(text_encoder, tokenizer)
        self.set_generation(GenerationConfig().replace(
            memory_config=memory_config if memory_config is not None else {}, chunk_size=chunk_size,
            working_window=working_window, write_gate=write_gate if write_gate is not None else {},
            render_anchor=render_anchor, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
            text_guidance_scale=text_guidance_scale))
        self.depth_estimator = None  # set to a DepthEstimator for codecs without a depth channel

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """A saved pipeline. A local folder is checked before and after it is built, with or without keyword
        arguments (:mod:`~worldmem.pipelines.loading`: a truncated or mismatched checkpoint is one
        ``ValueError`` line naming the folder); anything else (a Hub id) goes to diffusers' loader as is."""
        return checked_folder(pretrained_model_name_or_path,
                              lambda: super(WorldMemPipeline, cls).from_pretrained(pretrained_model_name_or_path,
                                                                                   **kwargs))

    @property
    def generation(self) -> GenerationConfig:
        """The pipeline's generation settings (from its config; ``memory_config`` always set)."""
        return GenerationConfig.from_dict({f: self.config[f] for f in GenerationConfig.__dataclass_fields__})

    def set_generation(self, generation: GenerationConfig) -> None:
        """Replaces the generation settings (saved with the pipeline from then on); ``memory_config`` None:
        MemoryConfig's defaults."""
        if generation.memory_config is None:
            generation = generation.replace(memory_config={})
        self.register_to_config(**generation.to_dict())

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) in pixels of the frames this pipeline takes and makes: the transformer's sample size
        times the codec's spatial factor (the one place that computes it)."""
        (h, w), factor = self.transformer.sample_size, self.codec.spatial_factor
        return h * factor, w * factor

    def set_text_encoder(self, text_encoder, tokenizer) -> None:
        """Sets (or, with None and None, removes) the text encoder and tokenizer; clears the prompt cache."""
        if text_encoder is not None or tokenizer is not None:
            adapter = self.transformer.adapter
            check_text_encoder(text_encoder, tokenizer, adapter.text_length, adapter.text_dim)
        self.register_modules(text_encoder=text_encoder, tokenizer=tokenizer)
        self._prompts = None if text_encoder is None else PromptCache(text_encoder, tokenizer,
                                                                      self.transformer.adapter.text_length)

    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """(1, L, D) embedding of ``prompt`` in the transformer's device and dtype (cached per prompt)."""
        if self._prompts is None:
            raise ValueError("prompt: this pipeline has no text encoder (pass text_encoder= and tokenizer=, or "
                             "pipe.set_text_encoder(*load_text_encoder(path)))")
        return self._prompts(prompt)[None].to(self.transformer.device, self.transformer.dtype)

    def _check_text(self, prompt, negative_prompt, text_guidance_scale) -> None:
        if self._prompts is None:
            for name, value, default in (("prompt", prompt, None), ("negative_prompt", negative_prompt, EMPTY_PROMPT),
                                         ("text_guidance_scale", text_guidance_scale, 1.0)):
                if value != default:
                    raise ValueError(f"{name}: this pipeline has no text encoder (its transformer takes no prompt), "
                                     f"got {value!r}"[:300])
        for name, value in (("prompt", prompt), ("negative_prompt", negative_prompt)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
        if negative_prompt != EMPTY_PROMPT and not text_guidance_scale > 1:
            raise ValueError(f"negative_prompt: only read by text guidance (text_guidance_scale > 1), got "
                             f"{negative_prompt!r} with text_guidance_scale {text_guidance_scale}"[:300])

    # ------------------------------------------------------------------ 1. inputs
    def call_settings(self, **overrides) -> GenerationConfig:
        """The pipeline's :attr:`generation` with a call's overrides (the keyword arguments of ``__call__`` that
        are not None), checked by the config; a refused value is a one-line ``ValueError`` naming the keyword."""
        try:
            return self.generation.replace(**{k: v for k, v in overrides.items() if v is not None})
        except ConfigError as err:
            raise ValueError(config_line(err)) from None

    def check_inputs(self, frames, depth, cameras, settings: GenerationConfig, memory):
        """The call's inputs against the model and ``settings`` (already a checked :class:`GenerationConfig`)."""
        if not isinstance(cameras, Cameras) or len(cameras.batch_shape) != 1:
            raise ValueError(f"cameras: expected a Cameras with batch shape (N,), got {type(cameras).__name__}"
                             + (f" {tuple(cameras.batch_shape)}" if isinstance(cameras, Cameras) else ""))
        problem = self.codec.chunk_size_error(settings.chunk_size)
        if problem:
            raise ValueError(f"chunk_size: {problem}")
        size = self.frame_size
        if memory is None and frames is not None:  # the model's image size, named on the input that has it
            check_images("frames", frames, *size)
        if (cameras.height, cameras.width) != size:
            raise ValueError(f"cameras: expected the model's image size {size[0]}x{size[1]}, got "
                             f"{cameras.height}x{cameras.width}")
        if memory is not None:
            if frames is not None:
                raise ValueError("frames: expected None when resuming from a memory (its frames are already written)")
            if not isinstance(memory, WorldMemory):
                raise ValueError(f"memory: expected a WorldMemory, got {type(memory).__name__}")
            if memory.num_frames < 1:
                raise ValueError("memory: expected a memory with at least one written frame")
            if memory.num_frames >= len(cameras):
                raise ValueError(f"cameras: expected more than the memory's {memory.num_frames} frames, got {len(cameras)}")
            _check_run(len(cameras) - memory.num_frames)
            return
        if frames is None:
            raise ValueError("frames: expected (N0, 3, H, W) first frames, or pass memory= to resume")
        frames = check_images("frames", frames, cameras.height, cameras.width)
        if frames.shape[0] >= len(cameras):
            raise ValueError(f"cameras: expected more cameras than the {frames.shape[0]} given frames, got {len(cameras)}")
        _check_run(len(cameras) - frames.shape[0])
        if depth is None and self.depth_estimator is None:
            raise ValueError("depth: expected (N0, 1, H, W) for the given frames (or set pipe.depth_estimator)")
        if depth is not None:
            check_depth("depth", depth, frames.shape[0], cameras.height, cameras.width)
        if not self.codec.has_depth and self.depth_estimator is None:
            raise ValueError("depth_estimator: this codec has no depth channel; set pipe.depth_estimator "
                             "(e.g. TransformersDepthEstimator(local_path)) for the memory write-back")

    # ------------------------------------------------------------------ helpers
    def _depth_for(self, frames: torch.Tensor, decoded_depth: torch.Tensor | None) -> torch.Tensor:
        if decoded_depth is not None:
            return decoded_depth
        return self.depth_estimator(frames).to(frames.dtype)

    def _encoded(self, inputs: ModelInputs, shape: tuple, dtype) -> dict:
        """The transformer's keyword arguments for one chunk, its memory encoded once (``memory=``)."""
        given = inputs.as_kwargs()
        text = given.pop("encoder_hidden_states")
        b, f, _, h, w = shape
        return {"memory": self.transformer.encode_memory((b, f, h, w), **given, dtype=dtype),
                "encoder_hidden_states": text}

    def _denoise(self, inputs: ModelInputs, target_cameras: Cameras, num_inference_steps: int, guidance_scale: float,
                 generator: torch.Generator, device, dtype,
                 anchor: tuple[torch.Tensor, torch.Tensor] | None = None,
                 anchor_steps: int = 0, text_guidance_scale: float = 1.0,
                 null_text: torch.Tensor | None = None) -> torch.Tensor:
        h, w = target_cameras.height, target_cameras.width
        f = self.codec.latent_frames(len(target_cameras))
        shape = (1, f, self.codec.latent_channels, h // self.codec.spatial_factor, w // self.codec.spatial_factor)
        # The memory's tokens are encoded once per chunk, not at every step. The unconditional branch of memory
        # guidance drops the long-term memory (the working window and the prompt stay); that of text guidance
        # takes the negative prompt and reads the same encoded memory.
        cond = self._encoded(inputs, shape, dtype)
        uncond = self._encoded(inputs.without("spatial", "episodic"), shape, dtype) if guidance_scale > 1.0 else None
        no_text = dict(cond, encoder_hidden_states=null_text) if text_guidance_scale > 1.0 else None
        latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        latents = latents * self.scheduler.init_noise_sigma
        if anchor is not None:
            known, weight = (a.to(device, dtype) for a in anchor)
        for i, t in enumerate(timesteps):
            model_in = self.scheduler.scale_model_input(latents, t)
            pred = pred_c = self.transformer(model_in, t.expand(1), **cond).sample
            if uncond is not None:
                pred_u = self.transformer(model_in, t.expand(1), **uncond).sample
                pred = pred_u + guidance_scale * (pred_c - pred_u)
            if no_text is not None:
                pred_t = self.transformer(model_in, t.expand(1), **no_text).sample
                pred = pred + (text_guidance_scale - 1.0) * (pred_c - pred_t)
            latents = self.scheduler.step(pred, t, latents).prev_sample
            if anchor is not None and i < anchor_steps:
                # RePaint-style: where the map covers the chunk, the sample is replaced by the render noised to
                # the next step's level (or the clean render after the last step), so those pixels follow the
                # remembered world while the model fills the rest in agreement with them.
                if i + 1 < len(timesteps):
                    noise = randn_tensor(latents.shape, generator=generator, device=device, dtype=dtype)
                    target = self.scheduler.add_noise(known, noise, timesteps[i + 1 : i + 2])
                else:
                    target = known
                latents = weight * target + (1 - weight) * latents
        return latents

    # ------------------------------------------------------------------ call
    @torch.no_grad()
    def __call__(self, frames: torch.Tensor | None = None, depth: torch.Tensor | None = None,
                 cameras: Cameras | None = None, memory: WorldMemory | None = None, use_spatial: bool = True,
                 use_episodic: bool = True, generator: torch.Generator | None = None,
                 callback_on_chunk_end: Callable[[WorldMemPipeline, int, dict], None] | None = None,
                 progress: bool = True, write_back_depth: Callable[[int, int], torch.Tensor] | None = None,
                 prompt: str | None = None, negative_prompt: str = EMPTY_PROMPT, chunk_size: int | None = None,
                 working_window: int | None = None, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, text_guidance_scale: float | None = None,
                 render_anchor: float | None = None, write_gate: dict | WriteGate | None = None,
                 memory_config: dict | MemoryConfig | None = None,
                 timings: dict[str, float] | None = None) -> WorldMemPipelineOutput:
        """Generates frames for ``cameras`` after the given (or remembered) first frames.

        The keyword arguments from ``chunk_size`` on override, for this call only, the field of the same name of
        the pipeline's :attr:`generation` (None: the pipeline's; :class:`GenerationConfig` documents each and
        checks them, a refused value is a one-line ``ValueError`` naming the keyword).

        Args:
            frames: (N0, 3, H, W) in [0, 1], the first frames (None when resuming from ``memory``).
            depth: (N0, 1, H, W) z-depth of ``frames`` (None: from ``pipe.depth_estimator``).
            cameras: :class:`Cameras` (N,) for the whole video, N > N0.
            memory: a :class:`WorldMemory` to continue from (its ``num_frames`` first cameras are done; its own
                config, not ``memory_config``, holds it).
            use_spatial / use_episodic: switch the memory paths off (ablations); the working window stays.
            generator: seeds the noise; chunk noise depends only on its seed and the chunk's first frame index.
            callback_on_chunk_end: called as ``fn(pipe, chunk_index, {"frames", "depth", "readout", "start", "memory"})``.
            progress: show a progress bar over the chunks.
            write_back_depth: optional ``fn(start, end) -> (end - start, 1, H, W)`` z-depth in scene units that is
                written back (and returned) for frames ``start .. end - 1`` instead of the generated depth: for
                benchmarks and oracles that separate the memory from the model's geometry.
            prompt: the text every chunk is conditioned on (needs a text encoder; None: the empty prompt when the
                pipeline has one, else no text tokens at all).
            negative_prompt: the unconditional text of text guidance (default ``""``, as diffusers' CogVideoX).
            chunk_size: frames generated per chunk.
            working_window: working frames read per chunk.
            num_inference_steps: scheduler steps per chunk.
            guidance_scale: classifier-free guidance on the memory paths (the unconditional branch drops the
                spatial and episodic memory, the prompt stays); 1 disables it. With ``text_guidance_scale`` too the
                two directions add up: ``pred = c + (guidance_scale - 1)(c - no_memory) + (text_guidance_scale -
                1)(c - negative_prompt)`` (three model passes per step; each alone is ordinary guidance).
            text_guidance_scale: classifier-free guidance on the text; 1 disables it.
            render_anchor: 0 lets the model denoise every pixel; above 0, during the first ``render_anchor`` of
                the steps the pixels the map covers are replaced by its render noised to the step's level
                (RePaint-style inpainting of the uncovered rest); 1 keeps covered pixels equal to the render.
                Needs ``use_spatial``.
            write_gate: a :class:`~worldmem.pipelines.write_gate.WriteGate` (or its mapping; missing keys take
                WriteGate's defaults) deciding which generated pixels are written back.
            memory_config: the :class:`MemoryConfig` (or its mapping) of the memory built from ``frames``.
            timings: optional dict that the chunk loop adds each stage's wall seconds to, summed over the call's
                chunks: ``read`` (memory read + encoding), ``denoise``, ``decode``, ``depth`` (depth, alignment,
                write gate) and ``write`` (memory write-back); None (the default) times nothing.
        """
        # 1. Check inputs.
        settings = self.call_settings(chunk_size=chunk_size, working_window=working_window,
                                      num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                                      text_guidance_scale=text_guidance_scale, render_anchor=render_anchor,
                                      write_gate=write_gate, memory_config=memory_config)
        self.check_inputs(frames, depth, cameras, settings, memory)
        self._check_text(prompt, negative_prompt, settings.text_guidance_scale)
        chunk_size, working_window, gate = settings.chunk_size, settings.working_window, settings.write_gate
        num_inference_steps, render_anchor = settings.num_inference_steps, settings.render_anchor
        guidance_scale, text_guidance_scale = settings.guidance_scale, settings.text_guidance_scale
        device, dtype = self.transformer.device, self.transformer.dtype
        seed = generator.initial_seed() if generator is not None else int(torch.randint(0, 2**62, (1,)).item())

        # 2. Seed the memory with the given frames (or resume from the given memory). The memory fixes its scene
        # scale from them (median depth 1, as in training) and converts units at its boundary.
        out_frames, out_depth, alignment = [], [], []
        if memory is None:
            memory = WorldMemory(settings.memory_config)
            frames = frames.float()
            depth = self._depth_for(frames, depth.float() if depth is not None else None)
            memory.write(frames, depth, cameras[: frames.shape[0]])
            out_frames.append(frames)
            out_depth.append(depth)
        start_index = memory.num_frames - (frames.shape[0] if frames is not None else 0)
        first = memory.num_frames
        text = null_text = None
        if self._prompts is not None:  # embeddings once per call (and cached per prompt across calls)
            text = self.encode_prompt(EMPTY_PROMPT if prompt is None else prompt)
            null_text = self.encode_prompt(negative_prompt) if text_guidance_scale > 1.0 else None

        # 3. Generate chunk by chunk: read, encode, denoise, decode, depth, align, write.
        starts = list(range(first, len(cameras), chunk_size))
        lap = _stage_clock(timings, device)
        for chunk_index, start in enumerate(self.progress_bar(starts) if progress else starts):
            end = min(start + chunk_size, len(cameras))
            lap(None)
            # 3a. Read the memory at the chunk's cameras: what the model sees, and the reference depth.
            readout = memory.read(cameras[start:end], working_window=working_window, use_spatial=use_spatial,
                                  use_episodic=use_episodic)
            inputs = encode_readouts([readout], self.codec, device=device, dtype=dtype).replace(text=text)
            lap("read")
            # 3b. Denoise the chunk.
            anchor = anchor_latents(readout, self.codec) if use_spatial and render_anchor > 0 else None
            latents = self._denoise(inputs, readout.target_cameras, num_inference_steps, guidance_scale,
                                    torch_generator("chunk_noise", seed, start, device=device), device, dtype,
                                    anchor=anchor,
                                    anchor_steps=math.ceil(render_anchor * num_inference_steps),
                                    text_guidance_scale=text_guidance_scale, null_text=null_text)
            lap("denoise")
            # 3c. Decode and get depth.
            chunk, chunk_depth = self.codec.decode(latents)
            chunk = chunk[0].float().cpu()
            lap("decode")
            if write_back_depth is not None:
                scene_depth = write_back_depth(start, end).float()
                memory.write(chunk, scene_depth, cameras[start:end])
                lap("write")
                alignment.append(None)
            else:
                chunk_depth = self._depth_for(chunk, None if chunk_depth is None else chunk_depth[0].float().cpu())
                # 3d. Align the depth to the map's depth on co-visible pixels, gate, write back.
                chunk_depth, fit = align_depth(chunk_depth, readout.reference.depth)
                chunk_depth = gate.far_to_unknown(chunk_depth)  # far guesses stay unknown, as sky
                alignment.append(tuple(fit))
                keep = gate.mask(chunk, chunk_depth, readout.reference, readout.distant)
                lap("depth")
                scene_depth = memory.write_generated(chunk, chunk_depth, readout, mask=keep)
                lap("write")
            out_frames.append(chunk)
            out_depth.append(scene_depth)
            if callback_on_chunk_end is not None:
                callback_on_chunk_end(self, chunk_index, {"frames": chunk, "depth": scene_depth, "readout": readout,
                                                          "start": start, "memory": memory})

        # 4. Output.
        return WorldMemPipelineOutput(frames=torch.cat(out_frames), depth=torch.cat(out_depth), memory=memory,
                                      start_index=start_index,
                                      alignment=alignment)


def load_pipeline(path) -> WorldMemPipeline:
    """The pipeline saved in local folder ``path``: ``WorldMemPipeline.from_pretrained(path)`` (checked,
    :mod:`~worldmem.pipelines.loading`), except that a missing folder is a one-line ``ValueError`` here instead of a
    Hub lookup."""
    if not os.path.isdir(str(path)):
        raise ValueError(f"{path}: no such folder (expected a saved WorldMemPipeline)")
    return WorldMemPipeline.from_pretrained(path)
