"""The explored world: a saved and loaded world makes exactly the frames of one uninterrupted session along the
same moves, the worker sends the page only new map points (one node per chunk), and saving replaces only a
saved world."""

import json

import numpy as np
import pytest
import torch

from worldmem.explore.increments import MapIncrements
from worldmem.explore.latency import parse_line
from worldmem.explore.worker import Worker
from worldmem.explore.world import World, world_problem

MOVES_BEFORE = ["forward", "turn-left"]
MOVES_AFTER = ["turn-left", "forward", "right"]


def test_load_continues_exactly_as_an_uninterrupted_session(tiny_pipe, tmp_path):
    whole = World.from_scene(tiny_pipe, 3, seed=5)
    for move in MOVES_BEFORE:
        whole.generate(whole.plan_move(move))
    whole.bookmark()
    whole.save(tmp_path / "world", ["--scene", "synthetic:3"])
    for move in MOVES_AFTER:
        whole.generate(whole.plan_move(move))
    whole.generate(whole.plan_return(whole.bookmarks[0])[0])

    loaded = World.load(tiny_pipe, tmp_path / "world")
    assert (loaded.chunks, loaded.frames.shape[0], loaded.seed) == (2, 2 + 8, 5)
    assert torch.equal(loaded.bookmarks[0].cam_from_world, whole.bookmarks[0].cam_from_world)
    for move in MOVES_AFTER:
        loaded.generate(loaded.plan_move(move))
    loaded.generate(loaded.plan_return(loaded.bookmarks[0])[0])
    assert torch.equal(loaded.frames, whole.frames)
    assert torch.equal(loaded.depth, whole.depth)
    assert torch.equal(loaded.cameras.cam_from_world, whole.cameras.cam_from_world)
    assert loaded.chunks == whole.chunks == 6
    # A different seed is a different world: the equality above is not vacuous.
    other = World.load(tiny_pipe, tmp_path / "world")
    other.seed = 6
    other.generate(other.plan_move(MOVES_AFTER[0]))
    assert not torch.equal(other.frames[-4:], whole.frames[10:14])


def test_saved_world_is_the_generate_folder_plus_state_and_save_replaces_only_a_world(tiny_pipe, tmp_path):
    world = World.from_scene(tiny_pipe, 0)
    world.generate(world.plan_move("forward"))
    world.save(tmp_path / "w", ["x"])
    names = {p.name for p in (tmp_path / "w").iterdir()}
    assert names == {"video.mp4", "depth.mp4", "cameras.json", "memory.ply", "memory", "run.json", "world.json",
                     "world.safetensors"}
    assert json.loads((tmp_path / "w" / "run.json").read_text())["command"] == "worldmem explore"
    assert len(json.loads((tmp_path / "w" / "cameras.json").read_text())["cam_from_world"]) == 6
    world.save(tmp_path / "w", ["x"])  # a saved world is replaced
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="did not write"):
        world.save(user, ["x"])
    assert (user / "notes.txt").read_text() == "keep"
    assert "not a saved world" in world_problem(user)
    assert world_problem(tmp_path / "w") is None
    # The mode the chunks were made in is recorded (None: not known); a value that is not one is a load error.
    meta = json.loads((tmp_path / "w" / "world.json").read_text())
    assert meta["compiled"] is None and World.load(tiny_pipe, tmp_path / "w").compiled is None
    (tmp_path / "w" / "world.json").write_text(json.dumps({**meta, "compiled": "yes"}))
    with pytest.raises(ValueError, match=r"not a readable saved world: world.json: compiled: expected true, false or "
                                         r"null, got 'yes'"):
        World.load(tiny_pipe, tmp_path / "w")


class _Page:
    """Records what the worker sends."""

    def __init__(self):
        self.points, self.calls = {}, []

    def add_points(self, index, points, colours):
        assert index not in self.points  # one node per chunk
        self.points[index] = points

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append(name)


def test_worker_sends_each_chunk_only_its_new_points(tiny_pipe, tmp_path):
    world = World.from_scene(tiny_pipe, 1)
    page, lines = _Page(), []
    worker = Worker(world, page, tmp_path / "saved", ["x"], out=lines.append)
    worker.start()
    for move in ("turn-left", "turn-left", "forward", "turn-right"):
        assert worker.move(move)
    assert worker.wait(timeout=300)
    worker.stop()
    reports = [parse_line(line) for line in lines if parse_line(line)]
    assert [r.index for r in reports] == [0, 1, 2, 3]
    assert reports[-1].map_points > reports[0].map_points - reports[0].new_points  # the map grew
    # Each node holds points in cells no earlier node had; together they are every cell the map reached.
    cell = world.memory.config.spatial.voxel_size * world.memory.scene_scale / 4.0
    seen = set()
    for index in sorted(page.points):
        cells = {tuple(c) for c in np.floor(page.points[index] / cell).astype(np.int64).tolist()}
        assert len(cells) == len(page.points[index])
        assert not cells & seen, index
        seen |= cells
    assert sum(len(p) for p in page.points.values()) == worker.increments.sent
    assert [r.new_points for r in reports] == [len(page.points.get(r.index + 1, [])) for r in reports]
    assert sum(r.new_points for r in reports) < reports[-1].map_points  # not the whole cloud every chunk
    # Once sent, a point is not sent again.
    assert len(MapIncrements().new_points(world.memory)[0]) > 0 and len(worker.increments.new_points(world.memory)[0]) == 0
