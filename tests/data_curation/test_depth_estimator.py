"""``build --depth-estimator``: RGB-only clips get a monocular model's depth, fitted to their cameras."""

import json

import numpy as np
import pytest
import torch

from data_curation import depth as depth_module
from data_curation.build import run_build
from data_curation.cli import main
from tests.data import fixtures
from worldmem.data import CurationConfig
from worldmem.data.sample import TrainingSample
from worldmem.data.shards import iter_shard

CFG = CurationConfig(image_size=(64, 64), voxel_size=0.05, synthetic_supersample=1, synthetic_frames=16,
                     source_frames=8, min_source_frames=4, target_frames=2, working_frames=1, max_keyframes=2,
                     samples_per_clip=2, clips_per_shard=2)
A, B = 2.0, 0.5  # the fake estimator's depth: A * true depth + B


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random Depth Anything (relative depth, i.e. disparity) of 24k parameters with its image processor."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            patch_size=14, image_size=70, out_features=["stage1", "stage2"],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, reassemble_factors=[1, 1],
                                 neck_hidden_sizes=[8, 16], fusion_hidden_size=8, head_hidden_size=4,
                                 depth_estimation_type="relative")
    path = tmp_path_factory.mktemp("tiny_depth_anything")
    DepthAnythingForDepthEstimation(config).save_pretrained(path)
    DPTImageProcessor(image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def re10k(tmp_path_factory):
    """A RealEstate10K folder with one clip (16 frames, 64x64, PNGs, no depth) and the clip's true depth."""
    frames, depth, cams = fixtures.rendered(16, 64, 64, seed=1)
    root = tmp_path_factory.mktemp("in") / "re10k"
    fixtures.write_realestate10k(root, "walk", frames, depth, cams, None)
    return root, depth


class FakeEstimator:
    """Returns ``A * true depth + B`` (0 where the truth is unknown) from ``PATH/truth.npy``, whatever the frames."""

    def __init__(self, path, output, batch_size):
        self.truth = torch.from_numpy(np.load(f"{path}/truth.npy"))
        self.output = "depth"
        self.calls = 0

    def predict(self, frames):
        assert frames.shape[0] == self.truth.shape[0]
        self.calls += 1
        return torch.where(self.truth > 0, A * self.truth + B, torch.zeros_like(self.truth))


@pytest.fixture
def fake(tmp_path, monkeypatch, re10k):
    monkeypatch.setitem(depth_module.ESTIMATORS, "fake", FakeEstimator)
    folder = tmp_path / "fake_model"
    folder.mkdir()
    np.save(folder / "truth.npy", re10k[1].numpy())
    return f"fake:{folder}"


def read_samples(out):
    samples = []
    for tar in sorted((out / "shards").glob("*.tar")):
        samples += [TrainingSample.from_bytes(files) for _, files in iter_shard(tar)]
    return samples


def test_fake_estimator_through_curation_gives_depth_within_2_percent(tmp_path, fake, re10k):
    root, truth = re10k
    res = run_build([f"realestate10k:{root}"], tmp_path / "out", CFG, depth_estimator=fake, progress=False)
    assert (res.clips_ok, res.clips_failed) == (1, 0) and res.samples == 2
    samples = read_samples(tmp_path / "out")
    assert len(samples) == 2
    for s in samples:
        fit = s.meta["clip"]["depth_fit"]
        assert fit["reliable"] and abs(fit["scale"] * A - 1) < 0.02, fit  # depth = output / A - B / A
        got = s.target.depth * s.meta["scale"]  # back from the sample's normalised units to the cameras'
        want = truth[s.target.indices]
        known = want > 0
        assert bool((got[known] > 0).all())
        assert float(((got[known] - want[known]).abs() / want[known]).median()) < 0.02
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert plan["depth_estimator"] == {"kind": "fake", "path": fake.partition(":")[2], "output": "depth",
                                       "batch_size": 8}


def test_nerfstudio_without_depth_files_gets_the_estimate(tmp_path, fake, re10k):
    frames, depth, cams = fixtures.rendered(16, 64, 64, seed=1)
    folder = fixtures.write_nerfstudio(tmp_path / "ns" / "walk", frames, depth, cams)
    data = json.loads((folder / "transforms.json").read_text())
    for frame in data["frames"]:
        del frame["depth_file_path"]
    (folder / "transforms.json").write_text(json.dumps(data))
    without = run_build([f"nerfstudio:{folder}"], tmp_path / "none", CFG, progress=False)
    assert without.clips_failed == 1  # no depth and no estimator: "depth missing"
    assert "depth missing" in (tmp_path / "none" / "failures.jsonl").read_text()
    res = run_build([f"nerfstudio:{folder}"], tmp_path / "out", CFG, depth_estimator=fake, progress=False)
    assert (res.clips_ok, res.clips_failed) == (1, 0)
    for s in read_samples(tmp_path / "out"):
        got, want = s.target.depth * s.meta["scale"], depth[s.target.indices]
        known = want > 0
        assert float(((got[known] - want[known]).abs() / want[known]).median()) < 0.02


def test_sources_with_depth_keep_their_own(tmp_path, fake):
    with_estimator = run_build(["synthetic:1"], tmp_path / "a", CFG, depth_estimator=fake, progress=False)
    plain = run_build(["synthetic:1"], tmp_path / "b", CFG, progress=False)
    assert with_estimator.samples == plain.samples > 0
    for x, y in zip(read_samples(tmp_path / "a"), read_samples(tmp_path / "b"), strict=True):
        assert torch.equal(x.target.depth, y.target.depth) and "depth_fit" not in x.meta["clip"]


def test_tiny_random_model_end_to_end(tmp_path, tiny_model, re10k):
    """A random network's disparity has nothing to do with the scene: the clip fails with the fit's reason."""
    root, _ = re10k
    spec = f"transformers:{tiny_model}"
    res = run_build([f"realestate10k:{root}"], tmp_path / "out", CFG, depth_estimator=spec, depth_batch_size=5,
                    progress=False)
    assert (res.clips_ok, res.clips_failed, res.samples) == (0, 1, 0)
    (failure,) = [json.loads(line) for line in (tmp_path / "out" / "failures.jsonl").read_text().splitlines()]
    assert failure["clip_id"] == "walk" and failure["stage"] == "clip"
    # Its head ends in a ReLU: with random weights the output is 0 (unknown) on most pixels, and where it is
    # positive it does not follow the scene: the best line through (output, triangulated inverse depth) falls.
    # (The camera does move: the fake estimator's fit on the same clip above succeeds.)
    assert failure["reason"] == ("estimated depth unusable: no increasing affine map fits the estimator's output "
                                 "to the triangulated depth"), failure
    frames, _, _ = fixtures.rendered(16, 64, 64, seed=1)
    from worldmem.models import TransformersDepthEstimator

    output = TransformersDepthEstimator(tiny_model, output="auto").predict(frames)
    assert float((output > 0).float().mean()) < 0.5
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert plan["depth_estimator"] == {"kind": "transformers", "path": str(tiny_model), "output": "disparity",
                                       "batch_size": 5}
    again = run_build([f"realestate10k:{root}"], tmp_path / "out", CFG, depth_estimator=spec, depth_batch_size=5,
                      progress=False)
    assert (again.shards_written, again.shards_skipped) == (0, 1)
    with pytest.raises(ValueError, match="different sources, clips or config"):
        run_build([f"realestate10k:{root}"], tmp_path / "out", CFG, depth_estimator=spec, depth_batch_size=4,
                  progress=False)


@pytest.mark.slow
def test_estimator_in_worker_processes_gives_the_same_output(tmp_path, tiny_model):
    """Spawned workers load the estimator from the plan's entry (once each) and write the same bytes."""
    frames, depth, cams = fixtures.rendered(16, 64, 64, seed=1)
    root = tmp_path / "re10k"
    for name in ("walk_a", "walk_b"):
        fixtures.write_realestate10k(root, name, frames, depth, cams, None)
    spec = f"transformers:{tiny_model}"
    one = run_build([f"realestate10k:{root}"], tmp_path / "one", CFG, depth_estimator=spec, progress=False)
    two = run_build([f"realestate10k:{root}"], tmp_path / "two", CFG, depth_estimator=spec, workers=2,
                    progress=False)
    assert (one.clips_failed, two.clips_failed) == (2, 2)
    for name in ("failures.jsonl", "summary.json", "plan.json"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


def test_estimator_predicts_in_batches(tiny_model):
    from worldmem.models import TransformersDepthEstimator

    frames = torch.rand(5, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    one = TransformersDepthEstimator(tiny_model, output="auto", batch_size=1)
    many = TransformersDepthEstimator(tiny_model, output="auto", batch_size=4)
    assert one.output == "disparity" and one.patch == 14 and one.mean.flatten().tolist() == [0.5] * 3
    a, b = one.predict(frames), many.predict(frames)
    assert a.shape == (5, 1, 40, 48) and torch.allclose(a, b, atol=1e-6)


def test_tiny_dpt_on_frames_that_are_not_square(tmp_path):
    """transformers' plain DPT only takes square inputs: the adapter feeds it square frames, any aspect out."""
    from transformers import DPTConfig, DPTForDepthEstimation

    from worldmem.models import TransformersDepthEstimator

    torch.manual_seed(0)
    config = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64,
                       patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 16, 32],
                       fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5])
    DPTForDepthEstimation(config).save_pretrained(tmp_path)
    estimator = TransformersDepthEstimator(tmp_path, output="auto", batch_size=2)
    assert estimator.square and estimator.patch == 16 and estimator.output == "disparity"
    frames = torch.rand(3, 3, 48, 72, generator=torch.Generator().manual_seed(0))
    out = estimator.predict(frames)
    assert out.shape == (3, 1, 48, 72) and bool(torch.isfinite(out).all())


def test_bad_estimator_arguments_are_one_line_errors_before_any_work(tmp_path, tiny_model, re10k, capsys):
    root, _ = re10k
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    cases = [
        ([f"transformers:{tmp_path / 'missing'}"], "not a folder"),
        ([f"transformers:{empty}"], "no config.json"),
        ([f"transformers:{broken}"], "not a loadable transformers depth-estimation checkpoint"),
        ([f"onnx:{tiny_model}"], "expected KIND:PATH with KIND one of transformers"),
        ([f"transformers:{tiny_model}", "--depth-dir", str(empty)], "expected one of them, not both"),
        ([f"transformers:{tiny_model}", "--depth-batch-size", "0"], "--depth-batch-size: expected an int >= 1"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["build", "--source", f"realestate10k:{root}", "--out", str(out), "--no-progress",
                  "--depth-estimator", *extra])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and err.count("\n") == 1, (extra, err)
        assert err.startswith("python -m data_curation build: error: ")
        assert not out.exists()
