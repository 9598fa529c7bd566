import itertools
import json

import pytest
import torch

from worldmem.geometry import Cameras
from worldmem.geometry import trajectories as tr
from worldmem.memory import EpisodicConfig, EpisodicMemory, MemoryConfig, WorkingConfig, WorkingMemory, WorldMemory
from worldmem.synthetic import SyntheticScene

SIZE = 48


@pytest.fixture(scope="module")
def scene():
    return SyntheticScene.random(seed=1, dynamic=False, kind="room")


def center_of(scene):
    lo, hi = scene.free_box
    return ((lo + hi) / 2).tolist()


def test_working_memory_keeps_the_newest_frames():
    wm = WorkingMemory(WorkingConfig(window=3))
    cams = tr.loop(5, height=8, width=8)
    for i in range(5):
        wm.write(torch.full((1, 3, 8, 8), i / 10), torch.ones(1, 1, 8, 8), cams[i:i + 1], torch.tensor([i]))
    out = wm.read()
    assert out.indices.tolist() == [2, 3, 4]
    assert torch.allclose(out.frames[:, 0, 0, 0], torch.tensor([0.2, 0.3, 0.4]))
    assert out.cameras == cams[2:]
    assert wm.read(window=1).indices.tolist() == [4]


def test_episodic_does_not_insert_near_duplicates(scene):
    em = EpisodicMemory(EpisodicConfig(keyframe_pool=4))
    cams = tr.cameras_from_headings(torch.tensor([center_of(scene)] * 2), torch.tensor([0.0, 1.0]), 0.0, SIZE, SIZE)
    frames, depth = scene.render(cams)
    inserted = em.write(frames, depth, cams, torch.tensor([0, 1]))
    assert inserted == [0]
    assert len(em) == 1


def test_episodic_retrieval_returns_the_keyframe_that_saw_the_area(scene):
    em = EpisodicMemory(EpisodicConfig(keyframe_pool=8, num_retrieved=2))
    cams = tr.look_around(6, position=center_of(scene), height=SIZE, width=SIZE, fov_deg=60.0)
    frames, depth = scene.render(cams)
    inserted = em.write(frames, depth, cams, torch.arange(6))
    assert inserted == list(range(6))  # 60-degree steps with a 60-degree field of view: each view is new
    for j in (1, 4):
        target = tr.cameras_from_headings(torch.tensor([center_of(scene)]), torch.tensor([j * 60.0 + 5.0]), 0.0,
                                          SIZE, SIZE, fov_deg=60.0)
        _, target_depth = scene.render(target)
        got = em.retrieve(em.visibility(target_depth, target))
        assert got is not None and int(got.indices[0]) == j
        assert float(got.scores[0]) > 0.5
    # A target that sees nothing the keyframes saw retrieves nothing.
    assert em.retrieve(torch.tensor([123456789], dtype=torch.int64)) is None


def test_episodic_eviction_keeps_coverage(scene):
    # 60-degree views at yaw 0, 30, 60, then 150: view 1 (30) is seen almost entirely by views 0 and 2, so it
    # goes. Then view 4 (105) overlaps views 2 and 3 and sees the least that no other keyframe sees, so it goes
    # on arrival. FIFO would keep [2, 3, 4], LIFO [0, 1, 2], a random eviction [0, 2, 3] once in 16 runs.
    em = EpisodicMemory(EpisodicConfig(keyframe_pool=3, novelty_threshold=0.2))
    yaws = torch.tensor([0.0, 30.0, 60.0, 150.0, 105.0])
    cams = tr.cameras_from_headings(torch.tensor([center_of(scene)] * 5), yaws, 0.0, SIZE, SIZE, fov_deg=60.0)
    frames, depth = scene.render(cams)
    inserted = em.write(frames, depth, cams, torch.arange(5))
    assert em.indices == [0, 2, 3]
    assert inserted == [0, 1, 2, 3]  # 1 was a keyframe until 3 came; 4 never stayed
    # Here greedy eviction is also optimal: no other 3 of the 5 views cover as many voxels.
    seen = [em.visibility(depth[i:i + 1], cams[i:i + 1]) for i in range(5)]
    kept = torch.unique(torch.cat(em._keys)).numel()
    for others in itertools.combinations(range(5), 3):
        if list(others) != em.indices:
            assert kept > torch.unique(torch.cat([seen[i] for i in others])).numel(), others


def _walk(scene, n=12):
    return tr.out_and_back(n, start=center_of(scene), heading_deg=30.0, distance=1.0, yaw_sweep_deg=90.0,
                           height=SIZE, width=SIZE)


def test_world_memory_write_read_shapes(scene):
    cams = _walk(scene)
    frames, depth = scene.render(cams)
    mem = WorldMemory(MemoryConfig(working=WorkingConfig(window=3)))
    mem.write(frames[:6], depth[:6], cams[:6])
    assert mem.num_frames == 6 and mem.spatial.num_voxels > 0 and len(mem.episodic) >= 1
    out = mem.read(cams[6:10])
    assert out.spatial.rgb.shape == (4, 3, SIZE, SIZE) and out.spatial.mask.dtype == torch.bool
    assert out.working.frames.shape == (3, 3, SIZE, SIZE) and out.working.indices.tolist() == [3, 4, 5]
    assert out.keyframes is not None and len(out.keyframes) <= mem.config.episodic.num_retrieved
    off = mem.read(cams[6:10], use_spatial=False, use_episodic=False)
    assert off.spatial is None and off.keyframes is None and off.working is not None
    # The returning frames (the same poses as frames 1..5) are well covered by the map.
    assert float(out.spatial.coverage.mean()) > 0.8


def test_save_load_round_trip_is_exact(scene, tmp_path):
    cams = _walk(scene, 16)
    frames, depth = scene.render(cams)
    mem = WorldMemory()
    mem.write(frames[:8], depth[:8], cams[:8])
    mem.save(tmp_path / "mem")
    assert json.loads((tmp_path / "mem" / "memory.json").read_text())["num_frames"] == 8
    loaded = WorldMemory.load(tmp_path / "mem")
    a, b = mem.read(cams[8:12]), loaded.read(cams[8:12])
    for x, y in ((a.spatial.rgb, b.spatial.rgb), (a.spatial.depth, b.spatial.depth),
                 (a.working.frames, b.working.frames), (a.keyframes.frames, b.keyframes.frames)):
        assert torch.equal(x, y)
    # Behaviour under further writes is identical too.
    mem.write(frames[8:12], depth[8:12], cams[8:12])
    loaded.write(frames[8:12], depth[8:12], cams[8:12])
    a, b = mem.read(cams[12:]), loaded.read(cams[12:])
    assert torch.equal(a.spatial.rgb, b.spatial.rgb) and torch.equal(a.keyframes.indices, b.keyframes.indices)
    assert mem.spatial.num_voxels == loaded.spatial.num_voxels
    # Saving again over the folder replaces it atomically (no temporary folders are left behind).
    mem.save(tmp_path / "mem")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mem"]


def test_load_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="path: expected a saved memory folder"):
        WorldMemory.load(tmp_path / "nothing")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda f, d, c: (f[:, :2], d, c), r"frames: expected shape \(T, 3, H, W\)"),
        (lambda f, d, c: (f * 2, d, c), r"frames: expected values in \[0, 1\]"),
        (lambda f, d, c: (f, d[:2], c), r"depth: expected shape \(3, 1, 48, 48\)"),
        (lambda f, d, c: (f, d * float("nan"), c), "depth: contains NaN or inf"),
        (lambda f, d, c: (f, d.clone().fill_(float("inf")), c), "depth: contains NaN or inf"),
        (lambda f, d, c: (f, -d, c), "depth: expected depth >= 0"),
        (lambda f, d, c: (f, d, c[:2]), "cameras: expected 3 cameras"),
        (lambda f, d, c: (f, d, c.resize(32, 32)), r"cameras: expected image size \(48, 48\)"),
        (lambda f, d, c: (f, d, torch.eye(4)), "cameras: expected a Cameras"),
    ],
)
def test_bad_writes_raise_value_errors(scene, change, match):
    cams = _walk(scene, 3)
    frames, depth = scene.render(cams)
    mem = WorldMemory()
    with pytest.raises(ValueError, match=match):
        mem.write(*change(frames, depth, cams))
    assert mem.num_frames == 0


def test_config_rejects_unknown_keys_and_bad_values():
    unknown = r"^<dict>: spatial.voxel: expected a key of SpatialConfig \(did you mean voxel_size\?\), got 'voxel'$"
    with pytest.raises(ValueError, match=unknown):
        MemoryConfig.from_dict({"spatial": {"voxel": 0.1}})
    with pytest.raises(ValueError, match="^<dict>: working.window: expected an integer, got '4'$"):
        MemoryConfig.from_dict({"working": {"window": "4"}})
    with pytest.raises(ValueError, match=r"^<dict>: spatial.voxel_size: expected a finite value > 0, got -1.0$"):
        MemoryConfig.from_dict({"spatial": {"voxel_size": -1.0}})
    cfg = MemoryConfig.from_dict({"spatial": {"voxel_size": 1}, "episodic": {"keyframe_pool": 3}})
    assert cfg.spatial.voxel_size == 1.0 and cfg.episodic.keyframe_pool == 3
    assert MemoryConfig.from_dict(cfg.to_dict()) == cfg


def test_singular_target_cameras_rejected():
    with pytest.raises(ValueError, match="cam_from_world"):
        Cameras(torch.zeros(2, 4, 4), torch.eye(3), 8, 8)


def test_supersampled_render_reproduces_the_written_views_better(scene):
    """A z-buffer keeps one point per sample: at one sample per pixel the map's texture aliases when rendered
    back into the very views it was fused from when voxels are finer than pixels; 2 x 2 samples, box-filtered,
    must be clearly closer to them."""
    import dataclasses

    from worldmem.data.readers.synthetic import render_supersampled
    from worldmem.memory import SpatialConfig

    size = 32  # the tiny model's frames, ray-cast 3 x 3 per pixel as its training data
    cams = tr.out_and_back(12, start=center_of(scene), heading_deg=30.0, distance=1.0, yaw_sweep_deg=90.0,
                           height=size, width=size)
    frames, depth, _ = render_supersampled(scene, cams, torch.arange(12, dtype=torch.float32), 3)
    scores = {}
    for s in (1, 2):
        mem = WorldMemory(MemoryConfig(spatial=SpatialConfig(voxel_size=0.02, render_supersample=s)))
        mem.write(frames[:6], depth[:6], cams[:6])
        out = mem.render(cams[:6])
        assert out.rgb.shape == (6, 3, size, size) and out.mask.float().mean() > 0.9
        err = (out.rgb - frames[:6]).square().mean(1)[out.mask[:, 0]]
        scores[s] = float(-10 * torch.log10(err.mean()))
    assert scores[2] > scores[1] + 1.5, scores
    with pytest.raises(ValueError, match="render_supersample"):
        dataclasses.replace(SpatialConfig(), render_supersample=0)


def _broken_json(key, value):
    def change(folder):
        meta = json.loads((folder / "memory.json").read_text())
        if value is _DROP:
            del meta[key]
        else:
            meta[key] = value
        (folder / "memory.json").write_text(json.dumps(meta))
    return change


def _broken_tensors(edit):
    def change(folder):
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "memory.safetensors"))
        edit(state)
        save_file(state, str(folder / "memory.safetensors"))
    return change


_DROP = object()


def _nan_frames(state):
    state["working.frames"] = state["working.frames"] * float("nan")


@pytest.mark.parametrize("change, match", [
    (_broken_json("config", _DROP), "memory.json: missing config"),
    (_broken_json("num_frames", -5), "num_frames: expected an int >= 0, got -5"),
    (_broken_json("scene_scale", 0), "scene_scale: expected null or a finite number > 0, got 0"),
    (_broken_json("scene_scale", float("nan")), "scene_scale: expected null or a finite number > 0"),
    (_broken_json("image_size", [48.5, 48]), "image_size: expected null or"),
    (_broken_json("config", {"spatial": {"voxel_size": -1}}), "memory.json: config:"),
    (lambda folder: (folder / "memory.json").write_text("{not json"), "memory.json: not readable JSON"),
    (lambda folder: (folder / "memory.json").write_text("3"), "memory.json: expected an object"),
    (lambda folder: (folder / "memory.safetensors").write_bytes(b"\x00" * 7), "not a readable safetensors file"),
    (lambda folder: (folder / "memory.safetensors").write_bytes(
        (folder / "memory.safetensors").read_bytes()[:-100]), "not a readable safetensors file"),
    (_broken_tensors(_nan_frames), "working.frames holds NaN"),
    (_broken_tensors(lambda s: s.update({"working.frames": s["working.frames"][:, :, :5].contiguous()})),
     r"working.frames: expected shape"),
    (_broken_tensors(lambda s: s.pop("episodic.keys")), "episodic: expected tensors"),
    (_broken_tensors(lambda s: s.update({"spatial.tsdf": s["spatial.tsdf"][:-1]})), r"state\['tsdf'\]: expected shape"),
    (_broken_tensors(lambda s: s.update({"extra.x": torch.zeros(1)})), "unexpected tensors"),
    (_broken_json("num_frames", 1), "working.frames: expected at most 1 frames"),
])
def test_broken_memory_folders_are_one_line_errors(scene, tmp_path, change, match):
    cams = _walk(scene)
    frames, depth = scene.render(cams)
    mem = WorldMemory(MemoryConfig(working=WorkingConfig(window=3)))
    mem.write(frames[:6], depth[:6], cams[:6])
    mem.save(tmp_path / "m")
    change(tmp_path / "m")
    with pytest.raises(ValueError, match=match) as info:
        WorldMemory.load(tmp_path / "m")
    assert "\n" not in str(info.value) and str(tmp_path / "m") in str(info.value)


def test_incremental_surface_equals_a_fresh_extraction():
    """After every write the cached surface is updated only next to the changed voxels; it must equal a fresh
    extraction exactly (points, colours, voxels, order), through carving of a moving object and a prune."""
    from worldmem.memory import SpatialConfig
    from worldmem.memory.spatial import SpatialMemory

    scene = SyntheticScene.random(seed=4, dynamic=True, kind="room")
    cams = tr.loop(10, center=center_of(scene), radius=0.5, height=24, width=24)
    frames, depth = scene.render(cams, times=torch.arange(10, dtype=torch.float32))
    spatial = SpatialMemory(SpatialConfig(voxel_size=0.05))
    incremental_updates = 0
    for i in range(10):
        spatial.write(frames[i:i + 1], depth[i:i + 1], cams[i:i + 1])
        incremental_updates += spatial._surface is not None
        if i == 6:
            spatial.tsdf.prune(torch.arange(spatial.tsdf.num_allocated) % 5 != 0)  # indices move: full extraction
        got = spatial._points()[:3]
        want = spatial.tsdf.extract_points(min_weight=spatial.config.min_weight, return_voxels=True)
        for a, b in zip(got, want, strict=True):
            assert torch.equal(a, b)
    assert incremental_updates >= 8


def test_files_written_before_the_keyframe_pool_rename_still_load(tmp_path):
    """memory.json and model_index.json of earlier versions name the episodic capacity max_keyframes."""
    from worldmem.pipelines import GenerationConfig

    old = {"episodic": {"max_keyframes": 3, "num_retrieved": 2}}
    assert MemoryConfig.from_dict(old).episodic.keyframe_pool == 3
    assert GenerationConfig.from_dict({"memory_config": old}).memory_config.episodic.keyframe_pool == 3
    with pytest.raises(ValueError, match="max_keyframes"):  # both names: which one is meant is unknown
        MemoryConfig.from_dict({"episodic": {"max_keyframes": 3, "keyframe_pool": 4}})
