"""``python -m eval revisit`` end to end with a random tiny model, its protocol pieces, and its one-line errors."""

import json

import pytest
import torch

from eval.cli import main
from eval.episodes import DEFAULT_TRAJECTORIES, Episode, eval_path
from eval.report import SCALAR_METRICS, check_results
from eval.revisit_detect import Revisit, covisibility_matrix, find_revisits
from eval.scoring import away_frames, score_rollout
from eval.variants import VARIANT_NAMES, Rollout, oracle_render
from worldmem.data.readers.synthetic import EVAL_SEEDS
from worldmem.models import PixelCodec, WorldMemTransformer
from worldmem.models.tiny import wake_zero_initialised
from worldmem.pipelines import WorldMemPipeline, default_scheduler
from worldmem.synthetic import SyntheticScene

S = 16
BASE = dict(num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=32,
            text_embed_dim=8, num_layers=2, sample_width=S, sample_height=S, sample_frames=4, patch_size=4,
            temporal_compression_ratio=1, max_text_seq_length=0, use_rotary_positional_embeddings=True)
MEMORY = {"spatial": {"voxel_size": 0.1}, "episodic": {"keyframe_pool": 3}}


def make_pipe(seed=0) -> WorldMemPipeline:
    """As tests/pipelines/test_pipeline.py: a tiny random pipeline whose memory paths all act."""
    torch.manual_seed(seed)
    model = WorldMemTransformer(base_config=BASE, latent_channels=4, spatial_mode="both", num_control_layers=1,
                                keyframe_every=1).eval()
    wake_zero_initialised(model, torch.Generator().manual_seed(seed + 1), 0.05)
    return WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=MEMORY, chunk_size=2,
                            working_window=2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt")
    make_pipe().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def run_dir(checkpoint, tmp_path_factory):
    """One complete given-half run: 1 static scene, the three default paths, every variant."""
    out = tmp_path_factory.mktemp("revisit")
    assert main(["revisit", "--checkpoint", str(checkpoint), "--protocol", "given-half", "--scenes", "1",
                 "--num-frames", "16", "--steps", "2", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_revisit_run_writes_every_output(run_dir, capsys):
    for name in ("results.json", "report.md", "report.html", "psnr_per_frame.png"):
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    res = json.loads((run_dir / "results.json").read_text())
    check_results(res)
    assert [s["trajectory"] for s in res["scenes"]] == list(DEFAULT_TRAJECTORIES)
    assert res["config"]["seeds"] == [EVAL_SEEDS.start] and res["config"]["min_gap"] == 8
    assert res["lpips"]["available"] is False and "--lpips-weights" in res["lpips"]["reason"]
    assert set(res["summary"]) == set(VARIANT_NAMES)
    for scene in res["scenes"]:
        assert scene["context_frames"] == 8 and scene["dynamic"] is False
        video = run_dir / scene["video"]
        assert video.is_file() and video.stat().st_size > 0
        assert all(t >= 8 for t in scene["revisit_frames"])
        assert scene["reference"]["warp_psnr"] is not None
        for name, m in scene["variants"].items():
            assert len(m["psnr_per_frame"]) == 16
            assert m["psnr_per_frame"][:8] == [None] * 8, name  # the given frames are not scored
            assert all(isinstance(x, float) for x in m["psnr_per_frame"][8:]), name
            assert m["lpips"] is None and m["warp_psnr"] is not None and m["depth_abs_rel"] is not None
    # The out-and-back returns, and the excursion stays away long enough.
    by_name = {s["trajectory"]: s for s in res["scenes"]}
    assert by_name["out-and-back"]["revisit_frames"]
    assert by_name["excursion"]["away_ok"] is True
    md = (run_dir / "report.md").read_text()
    assert "## Protocol" in md and "oracle" in md and "Ground truth warp PSNR" in md
    assert "<h2>Reference</h2>" in (run_dir / "report.html").read_text()


@pytest.mark.slow
def test_oracle_beats_working_only_on_a_static_scene(run_dir):
    res = json.loads((run_dir / "results.json").read_text())
    scored = [s for s in res["scenes"] if s["revisit_frames"]]
    assert scored
    for scene in scored:
        v = scene["variants"]
        assert v["oracle"]["revisit_psnr"] > v["working_only"]["revisit_psnr"] + 3.0, scene["trajectory"]
        assert v["oracle"]["revisit_coverage"] > 0.3
    assert res["summary"]["oracle"]["revisit_psnr"] > res["summary"]["working_only"]["revisit_psnr"]


def _episode(name="out-and-back", n=16, context=8, seed=EVAL_SEEDS.start):
    from eval.episodes import _render_synthetic

    frames, depth, cams = _render_synthetic(seed, False, name, n, S)
    return Episode(f"synthetic:{seed}", name, frames, depth, cams, context, False)


def test_ground_truth_rollout_scores_the_ceiling_and_first_visit_pairs_count():
    ep = _episode("loop", n=16, context=2)
    revisits = [r for r in find_revisits(ep.cameras, ep.depth) if r.frame >= ep.context]
    assert revisits and any(r.earlier_frame >= ep.context for r in revisits)
    m = score_rollout(Rollout(ep.frames, ep.depth), ep, revisits)
    assert m["revisit_psnr"] == pytest.approx(100.0) and m["revisit_ssim"] == pytest.approx(1.0)
    assert m["depth_abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert m["revisit_psnr_vs_first_visit"] is not None and m["revisit_pairs_vs_first_visit"] > 0
    # Noise instead of the video: lower on every image metric; the first-visit pair score drops too.
    noise = Rollout(torch.rand(ep.frames.shape, generator=torch.Generator().manual_seed(0)), ep.depth)
    n = score_rollout(noise, ep, revisits)
    assert n["revisit_psnr"] < 15 and n["revisit_psnr_vs_first_visit"] < m["revisit_psnr_vs_first_visit"] - 5
    assert n["warp_psnr"] < m["warp_psnr"] - 5
    assert set(SCALAR_METRICS) <= set(m)


def test_oracle_render_holds_only_earlier_ground_truth():
    ep = _episode("out-and-back", n=12, context=6)
    r = oracle_render(ep.frames, ep.depth, ep.cameras, 6, 2, MEMORY, 2, fill="black")
    assert torch.equal(r.frames[:6], ep.frames[:6]) and torch.equal(r.depth[:6], ep.depth[:6])
    assert not r.memory_render[:6].any()
    covered = r.depth[6:] > 0
    assert covered.float().mean() > 0.3 and not r.frames[6:].masked_fill(covered, 0).any()  # black fill
    # In scene units: the map's depth agrees with the ground truth where it covers.
    rel = ((r.depth[6:] - ep.depth[6:]).abs() / ep.depth[6:].clamp_min(1e-6))[covered & (ep.depth[6:] > 0)]
    assert float(rel.median()) < 0.1
    # Each chunk's ground truth is written after its render: late frames of a loop from only 2 given frames
    # are covered by what earlier chunks wrote (with the context alone they would be mostly empty).
    loop = _episode("loop", n=16, context=2)
    r = oracle_render(loop.frames, loop.depth, loop.cameras, 2, 2, MEMORY, 2)
    assert float((r.depth[-6:] > 0).float().mean()) > 0.6
    # ... but never its own frames: frame 3 (the 2nd of the first chunk) turns towards what nothing showed yet.
    assert float((r.depth[3] > 0).float().mean()) < 0.3
    with pytest.raises(ValueError, match="fill"):
        oracle_render(ep.frames, ep.depth, ep.cameras, 6, 2, MEMORY, 2, fill="grey")


def test_every_default_path_revisits_after_the_given_half():
    for name in DEFAULT_TRAJECTORIES:
        for seed in (EVAL_SEEDS.start, EVAL_SEEDS.start + 1):
            scene = SyntheticScene.random(seed=seed)
            cams = eval_path(scene, name, 32, S)
            _, depth = scene.render(cams)
            assert [r for r in find_revisits(cams, depth) if r.frame >= 16], (name, seed)


def test_away_frames_counts_frames_that_left_the_view():
    s = torch.ones(10, 10, dtype=torch.float64)
    s[0, 3:8] = 0.1
    assert away_frames(s, [Revisit(9, 0, 0.9)], 0.5) == 5
    assert away_frames(s, [], 0.5) is None


def test_real_source_through_the_readers(checkpoint, tmp_path):
    from tests.data import fixtures

    frames, depth, cams = fixtures.rendered(12, 32, 32)
    fixtures.write_realestate10k(tmp_path / "re10k", "clip0", frames, depth, cams, tmp_path / "depth")
    out = tmp_path / "out"
    assert main(["revisit", "--checkpoint", str(checkpoint), "--protocol", "given-half",
                 "--source", f"realestate10k:{tmp_path / 're10k'}",
                 "--depth-dir", str(tmp_path / "depth"), "--num-frames", "12", "--steps", "1",
                 "--variants", "full,working_only,oracle", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    (scene,) = res["scenes"]
    assert scene["scene"] == "realestate10k:clip0" and scene["trajectory"] == "recorded"
    assert scene["num_frames"] == 12 and scene["context_frames"] == 6
    assert set(scene["variants"]) == {"full", "working_only", "oracle"} and (out / scene["video"]).is_file()


def _error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and msg.startswith("python -m eval revisit: error: "), msg
    assert "Traceback" not in msg
    return msg


def test_bad_inputs_are_one_line_errors(checkpoint, tmp_path, capsys):
    base = ["revisit", "--protocol", "given-half", "--out", str(tmp_path / "o"), "--scenes", "1", "--num-frames", "8"]
    assert "no such folder" in _error(capsys, base + ["--checkpoint", str(tmp_path / "missing")])
    (tmp_path / "not_a_pipeline").mkdir()
    assert "model_index.json" in _error(capsys, base + ["--checkpoint", str(tmp_path / "not_a_pipeline")])
    assert "is inside --checkpoint" in _error(capsys, base + ["--checkpoint", str(tmp_path)])  # --out in it
    good = base + ["--checkpoint", str(checkpoint)]
    assert "unknown trajectory 'zigzag'" in _error(capsys, good + ["--trajectories", "loop,zigzag"])
    assert "--source" in _error(capsys, good + ["--source", f"realestate10k:{tmp_path / 'nowhere'}"])
    assert "unknown kind" in _error(capsys, good + ["--source", "youtube:abc"])
    assert "EVAL_SEEDS" in _error(capsys, good + ["--seed", "5"])
    assert "--lpips-weights" in _error(capsys, good + ["--lpips-weights", str(tmp_path / "alexnet.pth")])
    assert "--variants" in _error(capsys, good + ["--variants", "full,best"])
    assert "--context-frames" in _error(capsys, good + ["--context-frames", "8"])
    assert "keys:WW" in _error(capsys, good + ["--trajectories", "keys:WW"])  # 3 frames, not 8


@pytest.mark.slow
def test_covisibility_helper_is_consistent_with_away(run_dir):
    """The recorded away count of the excursion is what the matrix of its path gives."""
    res = json.loads((run_dir / "results.json").read_text())
    exc = next(s for s in res["scenes"] if s["trajectory"] == "excursion")
    ep = _episode("excursion", n=16, context=8)
    matrix = covisibility_matrix(ep.cameras, ep.depth)
    revisits = [r for r in find_revisits(ep.cameras, ep.depth, matrix=matrix) if r.frame >= 8]
    assert exc["away_frames"] == away_frames(matrix, revisits, 0.5) >= 6


def test_lpips_is_scored_when_weights_are_given(checkpoint, tmp_path):
    g = torch.Generator().manual_seed(0)
    convs = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
    state = {}
    for i, (cout, cin, k) in convs.items():  # a torchvision-format alexnet with random weights
        state[f"features.{i}.weight"] = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(cout)
    torch.save(state, tmp_path / "alexnet.pth")
    out = tmp_path / "out"
    assert main(["revisit", "--checkpoint", str(checkpoint), "--protocol", "given-half", "--scenes", "1",
                 "--trajectories", "out-and-back",
                 "--num-frames", "16", "--steps", "1", "--variants", "working_only,oracle",
                 "--lpips-weights", str(tmp_path / "alexnet.pth"), "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["lpips"]["available"] is True and "alexnet.pth" in res["lpips"]["reason"]
    for m in res["scenes"][0]["variants"].values():
        assert isinstance(m["lpips"], float) and m["lpips"] >= 0
