import pytest
import torch

from tests.synthetic.scene_paths import out_and_back_in_scene
from worldmem.memory import WorldMemory
from worldmem.models import PixelCodec, VAECodec, WorldMemTransformer
from worldmem.models.tiny import wake_zero_initialised
from worldmem.pipelines import WorldMemPipeline, default_scheduler
from worldmem.synthetic import SyntheticScene

S = 16
BASE = dict(num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=32,
            text_embed_dim=8, num_layers=2, sample_width=S, sample_height=S, sample_frames=4, patch_size=4,
            temporal_compression_ratio=1, max_text_seq_length=0, use_rotary_positional_embeddings=True)
MEMORY = {"spatial": {"voxel_size": 0.1}, "episodic": {"keyframe_pool": 3}}


def make_pipe(seed=0, **kwargs) -> WorldMemPipeline:
    torch.manual_seed(seed)
    model = WorldMemTransformer(base_config=BASE, latent_channels=4, spatial_mode="both", num_control_layers=1,
                                keyframe_every=1).eval()
    wake_zero_initialised(model, torch.Generator().manual_seed(seed + 1), 0.05)  # every memory path acts
    return WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=MEMORY, chunk_size=2,
                            working_window=2, **kwargs)


def run(pipe, world, n=12, **kw):
    cams, frames, depth = world
    kw.setdefault("generator", torch.Generator().manual_seed(7))
    return pipe(frames=frames[:2], depth=depth[:2], cameras=cams[:n], num_inference_steps=2, progress=False, **kw)


def test_rollout_shapes_units_and_bounded_work(world):
    pipe = make_pipe()
    chunks, voxels, written = [], [], []

    def on_chunk(p, i, info):
        chunks.append((i, info["start"]))
        voxels.append(info["memory"].spatial.num_voxels)
        written.append((info["frames"].shape[0], info["memory"].num_frames))  # after the chunk's write

    out = run(pipe, world, callback_on_chunk_end=on_chunk)
    assert out.frames.shape == (12, 3, S, S) and out.depth.shape == (12, 1, S, S) and out.start_index == 0
    assert 0 <= out.frames.min() and out.frames.max() <= 1 and (out.depth >= 0).all()
    torch.testing.assert_close(out.frames[:2], world[1][:2])
    assert chunks == [(0, 2), (1, 4), (2, 6), (3, 8), (4, 10)]
    # Each write holds only the new frames: the 2 given, then each chunk's 2 (not the working window again).
    assert written == [(2, 4), (2, 6), (2, 8), (2, 10), (2, 12)]
    # The map grows as frames are written.
    assert voxels[0] > 0 and voxels[-1] > voxels[0]
    assert all(b >= a for a, b in zip(voxels, voxels[1:], strict=False))
    assert out.memory.num_frames == 12 and len(out.memory.episodic) <= 3
    # The depth comes back in the caller's units; the memory works at median depth 1.
    assert out.memory.scene_scale == pytest.approx(float(world[2][:2][world[2][:2] > 0].median()))
    assert len(out.alignment) == 5


def test_same_seed_same_video_and_memory_paths_matter(world):
    pipe = make_pipe()
    a, b = run(pipe, world), run(pipe, world)
    assert torch.equal(a.frames, b.frames)
    c = run(pipe, world, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(a.frames, c.frames)
    off = run(pipe, world, use_spatial=False, use_episodic=False)
    assert (off.frames[2:] - a.frames[2:]).abs().max() > 1e-3


def test_resume_from_saved_memory_equals_one_long_rollout(world, tmp_path):
    pipe = make_pipe()
    cams = world[0]
    full = run(pipe, world, n=10)
    first = run(pipe, world, n=6)
    first.memory.save(tmp_path / "memory")
    memory = WorldMemory.load(tmp_path / "memory")
    rest = pipe(cameras=cams[:10], memory=memory, num_inference_steps=2, progress=False,
                generator=torch.Generator().manual_seed(7))
    assert rest.start_index == 6
    torch.testing.assert_close(torch.cat([first.frames, rest.frames]), full.frames, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.cat([first.depth, rest.depth]), full.depth, rtol=0, atol=1e-4)


def test_save_and_load_pretrained_round_trip(world, tmp_path):
    pipe = make_pipe()
    pipe.save_pretrained(tmp_path)
    loaded = WorldMemPipeline.from_pretrained(tmp_path)
    assert loaded.config.memory_config == pipe.config.memory_config and loaded.config.chunk_size == 2
    assert isinstance(loaded.codec, PixelCodec)
    torch.testing.assert_close(run(loaded, world, n=6).frames, run(pipe, world, n=6).frames, rtol=0, atol=0)


def test_guidance_runs_and_changes_the_result(world):
    pipe = make_pipe()
    plain, guided = run(pipe, world, n=6), run(pipe, world, n=6, guidance_scale=2.0)
    assert guided.frames.shape == plain.frames.shape and not torch.equal(guided.frames, plain.frames)


def test_bad_inputs_fail_with_one_line_errors(world):
    pipe = make_pipe()
    cams, frames, depth = world
    cases = [
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams[:2]), "cameras: expected more cameras"),
        (dict(frames=frames[:2], depth=None, cameras=cams), "depth: expected"),
        (dict(frames=frames[:2, :, :8], depth=depth[:2], cameras=cams), "frames"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, chunk_size=0), "chunk_size"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, guidance_scale=0.5), "guidance_scale"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, guidance_scale=float("nan")),
         "guidance_scale: expected a finite value >= 1"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, num_inference_steps=1001),
         r"num_inference_steps: expected a value <= 1000 \(MAX_STEPS\)"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, write_gate={"mode": "some"}),
         "write_gate.mode: expected one of 'all', 'new', 'agree'"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, memory_config={"spatial": {"voxel_size": 0}}),
         "memory_config.spatial.voxel_size: expected a finite value > 0"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, memory=WorldMemory()), "frames: expected None"),
        (dict(frames=None, cameras=cams), "frames: expected"),
        (dict(frames=frames[:2], depth=depth[:2], cameras="path"), "cameras: expected a Cameras"),
        (dict(frames=frames[:3], depth=depth[:2], cameras=cams), "depth"),
        (dict(frames=frames[:2], depth=depth[:2], cameras=cams, working_window=-1), "working_window"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            pipe(**{"num_inference_steps": 1, "progress": False, **kwargs})


def test_nan_cameras_are_refused_before_any_work():
    from worldmem.geometry import Cameras

    with pytest.raises(ValueError, match="cam_from_world"):
        Cameras(torch.full((3, 4, 4), float("nan")), torch.eye(3).expand(3, 3, 3), S, S)


def test_vae_codec_pipeline_uses_the_depth_estimator(world):
    from tests.models.test_codecs_depth import tiny_vae

    torch.manual_seed(0)
    base = dict(BASE, sample_width=2, sample_height=2, patch_size=1, in_channels=8)
    model = WorldMemTransformer(base_config=base, latent_channels=4, spatial_mode="controlnet", num_control_layers=1).eval()
    pipe = WorldMemPipeline(model, default_scheduler(), VAECodec.from_vae(tiny_vae()), memory_config=MEMORY, chunk_size=9,
                            working_window=1)
    cams, frames, depth = world
    with pytest.raises(ValueError, match="chunk_size: expected 8m \\+ 1"):
        pipe(frames=frames[:1], depth=depth[:1], cameras=cams[:10], chunk_size=5, progress=False)
    with pytest.raises(ValueError, match="depth_estimator"):
        pipe(frames=frames[:1], depth=depth[:1], cameras=cams[:10], progress=False)
    calls = []

    def estimator(x):
        calls.append(x.shape[0])
        return torch.ones(x.shape[0], 1, *x.shape[-2:])

    pipe.depth_estimator = estimator
    out = pipe(frames=frames[:1], depth=depth[:1], cameras=cams[:10], num_inference_steps=1, progress=False,
               generator=torch.Generator().manual_seed(0))
    assert out.frames.shape == (10, 3, S, S) and calls == [9]


def test_render_anchor_keeps_covered_pixels_on_the_render(world):
    pipe = make_pipe()
    seen = []
    out = run(pipe, world, n=6, render_anchor=1.0,
              callback_on_chunk_end=lambda p, i, info: seen.append((info["frames"], info["readout"].reference)))
    covered_total = 0
    for frames, ref in seen:
        covered = (ref.mask.bool() & (ref.depth > 0)).expand_as(frames)
        covered_total += int(covered.sum())
        # Fully anchored, every covered pixel is the map's render (the pixel codec decodes it back exactly).
        torch.testing.assert_close(frames[covered], ref.rgb[covered], rtol=0, atol=1e-5)
    assert covered_total > 0
    plain = run(pipe, world, n=6)
    assert (plain.frames[2:] - out.frames[2:]).abs().max() > 1e-3  # without the anchor the model strays from it
    # Anchoring is a sampling choice of the pipeline, saved with it; the default (0) samples as before.
    assert make_pipe(render_anchor=0.5).generation.render_anchor == 0.5
    torch.testing.assert_close(run(pipe, world, n=6, render_anchor=0.0).frames, plain.frames, rtol=0, atol=0)
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="render_anchor: expected"):
            run(pipe, world, n=6, render_anchor=bad)


def test_render_anchor_keeps_the_remembered_sky(world):
    """With a sky layer, pixels the map does not cover but the remembered sky does follow it when anchored."""
    scene = SyntheticScene.random(seed=4, kind="courtyard")
    cams = out_and_back_in_scene(scene, 8, S)
    frames, depth = scene.render(cams)
    assert bool((depth[:2] == 0).any())
    pipe = make_pipe(render_anchor=1.0)
    pipe.set_generation(pipe.generation.replace(memory_config={**MEMORY, "spatial": {"voxel_size": 0.1,
                                                                                    "sky_resolution": 16}}))
    seen = []
    out = pipe(frames=frames[:2], depth=depth[:2], cameras=cams, num_inference_steps=2, progress=False,
               generator=torch.Generator().manual_seed(7),
               callback_on_chunk_end=lambda p, i, info: seen.append((info["frames"], info["readout"].distant)))
    sky_total = 0
    for chunk, sky in seen:
        if sky is None:
            continue
        m = sky.mask.expand_as(chunk)
        sky_total += int(m.sum())
        torch.testing.assert_close(chunk[m], sky.rgb[m], rtol=0, atol=1e-5)
    assert sky_total > 0
    assert out.memory.spatial.distant.num_bins_written > 0
