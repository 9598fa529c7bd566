"""``worldmem generate ... generation.KEY=VALUE``: the pipeline's generation settings overridden from the command line,
the same way as every command that generates (``worldmem.pipelines.generation_from``)."""

import pytest
import torch

from tests.cli.test_generate import _capture_videos
from worldmem import cli, generate

BASE = ["--random-init", "--scene", "synthetic:4", "--num-frames", "10", "--steps", "1"]


def test_an_override_acts_as_the_pipelines_own_keyword_and_may_stand_anywhere(tmp_path, monkeypatch):
    from worldmem.generate.paths import path_cameras, scene_record
    from worldmem.pipelines.tiny import random_tiny_pipeline
    from worldmem.synthetic import SyntheticScene

    videos = _capture_videos(monkeypatch)
    assert generate.main([*BASE, "--out", str(tmp_path / "default")]) == 0
    assert generate.main([*BASE, "generation.render_anchor=1", "--out", str(tmp_path / "anchored")]) == 0
    assert cli.main(["generate", "generation.render_anchor=1", *BASE, "--out", str(tmp_path / "first")]) == 0
    default, anchored, first = videos
    assert (default - anchored).abs().max() > 1e-3  # the override took effect
    assert torch.equal(anchored, first)  # before the flags or after them: the same run
    # The same frames as the API call with the per-call keyword of the same name.
    pipe = random_tiny_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    cams = path_cameras(scene_record("out-and-back", "synthetic:4", 10), pipe.frame_size)
    frames, depth = SyntheticScene.random(seed=4).render(cams[:2])
    out = pipe(frames=frames, depth=depth, cameras=cams, num_inference_steps=1,
               generator=torch.Generator().manual_seed(0), render_anchor=1.0)
    assert torch.equal(out.frames, anchored)


@pytest.mark.parametrize("extra, message", [
    (["generation.write_gate.margin=-1"], "generation.write_gate.margin: expected a value >= 0, got -1"),
    (["generation.nope=1"], "generation.nope: expected a key of GenerationConfig"),
    (["render_anchor=1"], "render_anchor: expected a generation setting written generation.KEY=VALUE"),
    (["generation.num_inference_steps=2"], "generation.num_inference_steps: set with --steps on this command line"),
    (["generation.guidance_scale=2"], "generation.guidance_scale: set with --guidance-scale"),
])
def test_bad_overrides_are_one_line_errors_naming_the_key(extra, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        generate.main([*BASE, *extra, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("worldmem generate: error: ") and message in err, err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_a_memory_override_is_refused_when_resuming(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        generate.main(["--random-init", "--resume-memory", str(tmp_path / "m"), "--out", str(tmp_path / "o"),
                       "generation.memory_config.spatial.sky_resolution=0"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "generation.memory_config.spatial.sky_resolution: not with --resume-memory" in err
