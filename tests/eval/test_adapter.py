"""``eval revisit --model MODULE:FACTORY``: the adapter protocol, its errors, and the pipeline through it."""

import json

import pytest
import torch

from eval.adapter import PipelineModel, load_model, model_rollout
from eval.cli import main
from eval.episodes import RevisitError, synthetic_episodes
from eval.scoring import evaluate_episode
from tests.eval.test_revisit import S, make_pipe

SEED = 1_000_000


def _episode(num_frames=16):
    return next(synthetic_episodes([SEED], ["out-and-back"], num_frames, S, 2))


def test_the_pipeline_through_the_adapter_scores_as_the_built_in_variant():
    pipe, episode = make_pipe(), _episode()
    entry, rollouts = evaluate_episode(pipe, episode, ["full"], 2, 0, 6, 0.5, protocol="recall")
    model = PipelineModel(pipe, "full", steps=2)
    entry2, rollouts2 = evaluate_episode(None, episode, ["adapted"], 2, 0, 6, 0.5, protocol="recall",
                                         models={"adapted": model})
    assert torch.equal(rollouts["full"].frames, rollouts2["adapted"].frames)
    assert torch.equal(rollouts["full"].depth, rollouts2["adapted"].depth)
    a, b = entry["variants"]["full"], entry2["variants"]["adapted"]
    assert a.keys() == b.keys() and a["same_pose_psnr"] is not None
    for key, value in a.items():
        if isinstance(value, float):
            assert b[key] == pytest.approx(value, abs=1e-6), key
    # a different variant gives different frames: the check above could fail
    other = model_rollout(PipelineModel(pipe, "working_only", steps=2), episode, 0)
    assert not torch.equal(other.frames, rollouts["full"].frames)


MODEL_FILE = '''
import torch

class Truthless:
    frame_size = (16, 16)

    def generate(self, given_frames, given_depth, cameras, generator):
        t = len(cameras)
        noise = torch.rand(t, 3, 16, 16, generator=generator)
        return torch.cat([given_frames, noise[len(given_frames):]])

def make():
    return Truthless()

def bad_shape():
    class M:
        def generate(self, f, d, c, g):
            return torch.zeros(len(c), 3, 8, 8)
    return M()

def nan():
    class M:
        def generate(self, f, d, c, g):
            return torch.full((len(c), 3, 16, 16), float("nan"))
    return M()

def too_bright():
    class M:
        def generate(self, f, d, c, g):
            return torch.full((len(c), 3, 16, 16), 2.0)
    return M()

def raises():
    raise RuntimeError("no weights")

def no_generate():
    return object()

not_callable = 3
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(MODEL_FILE)
    return path


def test_a_model_in_a_file_is_scored_by_eval_revisit(model_file, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["revisit", "--model", f"{model_file}:make", "--scenes", "1", "--trajectories", "out-and-back",
                 "--num-frames", "16", "--min-gap", "6", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["model"] == f"{model_file}:make"
    assert results["config"]["image_size"] == [16, 16]
    variants = results["scenes"][0]["variants"]
    assert list(variants) == ["make"]
    assert variants["make"]["same_pose_psnr"] < 20  # noise is not consistent
    assert (out / "report.html").is_file() and "make" in (out / "report.md").read_text()


def _error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    msg = capsys.readouterr().err.rsplit("\r", 1)[-1].splitlines()  # a progress bar may come first
    assert len(msg) <= 2 and msg[-1].startswith("python -m eval revisit: error: "), msg
    assert "Traceback" not in msg[-1]
    return msg[-1]


def test_bad_models_are_one_line_errors(model_file, tmp_path, capsys):
    out = tmp_path / "o"
    base = ["revisit", "--scenes", "1", "--trajectories", "out-and-back", "--num-frames", "16", "--min-gap", "6",
            "--out", str(out)]
    assert "exactly one" in _error(capsys, base)
    assert "exactly one" in _error(capsys, base + ["--model", "eval.baselines:repeat_last", "--checkpoint", "x"])
    assert "MODULE:FACTORY" in _error(capsys, base + ["--model", "eval.baselines"])
    assert "importing no_such_module failed" in _error(capsys, base + ["--model", "no_such_module:make"])
    assert "no such file" in _error(capsys, base + ["--model", f"{tmp_path / 'gone.py'}:make"])
    assert "has no 'nothing'" in _error(capsys, base + ["--model", f"{model_file}:nothing"])
    assert "not callable" in _error(capsys, base + ["--model", f"{model_file}:not_callable"])
    assert "no weights" in _error(capsys, base + ["--model", f"{model_file}:raises"])
    assert "without a generate" in _error(capsys, base + ["--model", f"{model_file}:no_generate"])
    assert "--variants" in _error(capsys, base + ["--model", f"{model_file}:make", "--variants", "full"])
    for factory, why in (("bad_shape", "expected shape (16, 3, 16, 16)"), ("nan", "NaN"), ("too_bright", "[0, 1]")):
        msg = _error(capsys, base + ["--model", f"{model_file}:{factory}", "--image-size", "16"])
        assert why in msg and "--model on synthetic:1000000 out-and-back" in msg
    assert not out.exists()  # nothing partial


def test_load_model_names_the_flag():
    with pytest.raises(RevisitError, match="^--model: expected MODULE:FACTORY"):
        load_model("a:b:c")
    assert callable(load_model("eval.baselines:repeat_last").generate)


def test_a_model_without_window_or_chunk_gets_a_report_without_them(tmp_path):
    out = tmp_path / "gh"
    assert main(["revisit", "--model", "eval.baselines:repeat_last", "--protocol", "given-half", "--scenes", "1",
                 "--trajectories", "excursion", "--image-size", "16", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["working_window"] is None and results["config"]["min_gap"] == 8
    md = (out / "report.md").read_text()
    assert "None" not in md and "Videos: ground truth | repeat_last." in md
    assert "unranked: motion" in md
