"""``worldmem explore --compile`` (the default): the blocks are compiled and warmed up at the shapes of the next
chunk (so the first move compiles nothing), the frames are eager's up to rounding, a world saved and loaded in
compiled mode goes on bit for bit, and a machine without a C++ compiler is one line."""

import pytest
import torch

from tests.explore.conftest import TINY
from worldmem.explore.compiled import compile_model
from worldmem.explore.world import World
from worldmem.utils.cli_errors import UsageError


@pytest.fixture(scope="module")
def compiled_pipe():
    from worldmem.pipelines import load_pipeline

    pipe = load_pipeline(TINY)
    with torch.no_grad():
        seconds = compile_model(World.from_scene(pipe, 3, seed=5))
    assert seconds > 0
    return pipe


@pytest.mark.slow
def test_warm_up_compiles_every_graph_the_next_chunks_need(compiled_pipe, tiny_pipe):
    from torch._dynamo.utils import counters

    world = World.from_scene(compiled_pipe, 7, seed=1)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0  # the warm-up compiled the blocks
    for move in ("forward", "turn-left", "forward"):
        world.generate(world.plan_move(move))
    assert counters["stats"]["unique_graphs"] == graphs  # no chunk waited for the compiler
    eager = World.from_scene(tiny_pipe, 7, seed=1)
    for move in ("forward", "turn-left", "forward"):
        eager.generate(eager.plan_move(move))
    assert not torch.equal(world.frames, eager.frames)  # the compiled kernels ran (they round differently) ...
    torch.testing.assert_close(world.frames, eager.frames, rtol=0, atol=1e-3)  # ... to the same frames


@pytest.mark.slow
def test_a_compiled_world_saved_and_loaded_goes_on_bit_for_bit(compiled_pipe, tmp_path):
    whole = World.from_scene(compiled_pipe, 3, seed=5)
    whole.compiled = True  # as worldmem explore marks a world it runs compiled
    whole.generate(whole.plan_move("forward"))
    whole.save(tmp_path / "world", [])
    for move in ("turn-left", "forward"):
        whole.generate(whole.plan_move(move))
    loaded = World.load(compiled_pipe, tmp_path / "world")
    assert loaded.compiled is True
    for move in ("turn-left", "forward"):
        loaded.generate(loaded.plan_move(move))
    assert torch.equal(loaded.frames, whole.frames) and torch.equal(loaded.depth, whole.depth)


def test_no_cpp_compiler_is_one_line(tiny_pipe, monkeypatch):
    import torch._inductor.cpp_builder as builder

    def missing():
        raise RuntimeError("No working C compiler detected:\n('g++',)")

    monkeypatch.setattr(builder, "get_cpp_compiler", missing)
    with pytest.raises(UsageError, match=r"^--compile: no C\+\+ compiler for torch.compile .*--no-compile$") as info:
        compile_model(World.from_scene(tiny_pipe, 3))
    assert "\n" not in str(info.value)
