"""The cost estimate printed before a rollout, and the run-size bounds of the pipeline."""

from __future__ import annotations

import pytest

from worldmem.pipelines.cost import MAX_RUN_FRAMES, SECONDS_PER_CHUNK, SECONDS_PER_PASS, estimate


def test_estimate_counts_chunks_passes_and_bytes():
    e = estimate(100_000, chunk_size=4, steps=8)
    assert (e.chunks, e.passes) == (25_000, 200_000)
    assert e.seconds == pytest.approx(25_000 * (8 * SECONDS_PER_PASS + SECONDS_PER_CHUNK))  # about 3.5 h
    assert "3.5 h" in e.line() and "25000 chunks" in e.line()
    assert e.output_bytes == 100_000 * 4 * 32 * 32 * 4
    guided = estimate(10, chunk_size=4, steps=8, passes_per_step=2, max_voxels=1000)
    assert guided.passes == 3 * 8 * 2 and guided.map_bytes == 44_000


def test_estimate_scales_with_the_model_and_the_image():
    small = estimate(40, 4, 8)
    big = estimate(40, 4, 8, height=64, width=64, parameters=4 * 1_858_624)
    assert big.seconds > 10 * small.seconds


def test_the_pipeline_estimate_reads_its_config():
    from worldmem.pipelines.cost import pipeline_estimate
    from worldmem.pipelines.tiny import random_tiny_pipeline

    pipe = random_tiny_pipeline(0)
    e = pipeline_estimate(pipe, 46, 8, guidance_scale=2.0, given_frames=2)
    assert e.chunks == 12 and e.passes == 12 * 8 * 2 and e.map_bytes > 0


def test_the_pipeline_refuses_more_new_frames_than_a_run(monkeypatch):
    from tests.robustness import fixtures as fx
    from worldmem.pipelines import pipeline_worldmem

    monkeypatch.setattr(pipeline_worldmem, "MAX_RUN_FRAMES", 3)
    f, d, cams = fx.scene_inputs(n=6)
    with pytest.raises(ValueError, match="cameras: expected at most 3 new frames per call"):
        fx.tiny_pipeline()(frames=f, depth=d, cameras=cams, num_inference_steps=1, progress=False)
    assert MAX_RUN_FRAMES == 10_000
