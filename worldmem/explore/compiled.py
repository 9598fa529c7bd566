"""``worldmem explore --compile`` (the default): the model's transformer blocks compiled before the page opens.

The blocks are compiled regionally (diffusers' ``compile_repeated_blocks``: every base block and control-branch
copy shares one compiled graph, since they are one class at one shape) with static shapes, and warmed up on the
shapes of the world's next chunk, so the first move does not wait for the compiler. The rest of the forward pass
(patch embedding, keyframe attention over a keyframe count that changes, output head) stays eager.

Measured by ``python -m eval bench explore`` (both modes in one run; docs/explore.md). Compiled kernels round
differently from eager ones (about 1e-6), so a world continues bit for bit (``--load``) when both sessions use
the same mode; a saved world records its mode and a load in the other mode says so.
"""

from __future__ import annotations

import time

import torch

from worldmem.utils.cli_errors import UsageError

__all__ = ["check_compiler", "compile_model"]


def check_compiler() -> None:
    """torch.compile on the CPU builds C++ kernels: a machine without a compiler is one line, before anything runs."""
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except Exception as err:  # noqa: BLE001 -- inductor's own error names the compilers it searched for
        raise UsageError(f"--compile: no C++ compiler for torch.compile ({' '.join(str(err).split())[:200]}); "
                         "install g++ or run with --no-compile") from None


def compile_model(world) -> float:
    """Compiles the transformer blocks of ``world.pipe`` and runs them once at the shapes of ``world``'s next chunk
    (zeros, nothing of the world changes), in the calling thread at its torch thread count (the kernels are built
    for it); returns the seconds it took. Compiled graphs are cached on disk by torch (a later start takes seconds,
    the first about 20 s on a 2-core CPU). When compiling fails, the blocks are left eager and the error raised."""
    check_compiler()
    started = time.perf_counter()
    transformer = world.pipe.transformer
    transformer.compile_repeated_blocks(dynamic=False)
    try:
        _warm_up(world)
    except Exception:
        for block in transformer.modules():
            if type(block).__name__ in transformer._repeated_blocks:
                block._compiled_call_impl = None  # what nn.Module.compile set: the block is eager again
        raise
    return time.perf_counter() - started


def _warm_up(world) -> None:
    pipe = world.pipe
    transformer = pipe.transformer
    codec = pipe.codec
    h, w = (s // codec.spatial_factor for s in pipe.frame_size)
    c = codec.latent_channels
    working = min(int(pipe.config.working_window), world.frames.shape[0])
    param = next(transformer.parameters())
    zeros = lambda *shape: torch.zeros(*shape, device=param.device, dtype=param.dtype)  # noqa: E731
    text = None
    if pipe.text_encoder is not None:
        from worldmem.models.text import EMPTY_PROMPT

        text = pipe.encode_prompt(EMPTY_PROMPT if world.prompt is None else world.prompt).to(param.device, param.dtype)
    with torch.no_grad():
        transformer(zeros(1, codec.latent_frames(world.chunk_size), c, h, w), torch.tensor([500], device=param.device),
                    working=zeros(1, codec.latent_frames(working), c, h, w) if working else None,
                    encoder_hidden_states=text)
