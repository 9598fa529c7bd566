"""A pipeline with a text encoder: the world's prompt conditions its chunks, is saved with it, and a loaded world
goes on with it."""

import torch

from tests.models.tiny_text import save_tiny_text_encoder
from tests.pipelines.test_prompts import text_pipe
from worldmem.explore.world import World


def test_prompt_conditions_chunks_and_is_saved(tmp_path):
    pipe = text_pipe(save_tiny_text_encoder(tmp_path / "t5"))
    red = World.from_scene(pipe, 5, steps=1, prompt="a red room")
    plain = World.from_scene(pipe, 5, steps=1)
    for world in (red, plain):
        world.generate(world.plan_move("forward"))
    assert not torch.equal(red.frames[-4:], plain.frames[-4:])
    red.save(tmp_path / "world", [])
    loaded = World.load(pipe, tmp_path / "world")
    assert loaded.prompt == "a red room" and loaded.memory.metadata["prompt"] == "a red room"
    a, b = red.generate(red.plan_move("turn-left")), loaded.generate(loaded.plan_move("turn-left"))
    assert torch.equal(a.frames, b.frames)
