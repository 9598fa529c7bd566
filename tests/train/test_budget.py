"""``python -m train budget``: the memory budget of training a config, its documented table, its one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from train.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
FIVE_B = ROOT / "configs" / "cogvideox-5b.yaml"


def test_the_command_prints_and_writes_the_table_docs_models_shows(budget_run):
    assert budget_run["status"] == 0
    result = budget_run["result"]
    assert result["table"] in budget_run["stdout"]
    assert f"wrote {budget_run['out']}" in budget_run["stdout"]
    # docs/models.md's table is this command's output, line for line.
    assert result["table"] in (ROOT / "docs" / "models.md").read_text()
    assert result["base_config_source"] == "configs/models/cogvideox-5b-i2v-transformer.json"


def test_the_measured_fits_are_exact_and_our_block_is_diffusers(budget_run):
    activations = budget_run["result"]["activations"]
    # Autograd's saved bytes are exactly linear in the tokens: the size left out of each fit is predicted exactly.
    assert {name: fit["linear_check_rel_error"] for name, fit in activations["fits"].items()} == {
        "block_main": 0.0, "block_trainable": 0.0, "control_out": 0.0, "keyframe_attention": 0.0}
    assert activations["block_check"]["equal"] and activations["block_check"]["max_abs_diff"] == 0.0
    per_sample = activations["per_sample_bytes"]
    assert per_sample["with_checkpointing"] < per_sample["without_checkpointing"]


def test_more_gpus_memory_or_checkpointing_never_need_more(budget_run):
    fits = budget_run["result"]["fits"]
    for key, row in fits.items():
        for fit in row.values():
            gib = [fit["gib_per_gpu"][n] for n in sorted(fit["gib_per_gpu"], key=int)]
            if key.startswith("ddp/"):
                assert len(set(gib)) == 1, (key, gib)  # every replica holds everything
            else:
                assert gib == sorted(gib, reverse=True) and gib[-1] < gib[0], (key, gib)

    def fewest(key, gpu):
        return fits[key][gpu]["min_gpus"] or float("inf")

    for strategy in ("ddp", "fsdp", "zero2", "zero3"):
        for ckpt in ("with_checkpointing", "without_checkpointing"):
            assert fewest(f"{strategy}/{ckpt}", "141GB") <= fewest(f"{strategy}/{ckpt}", "80GB")
        for gpu in ("80GB", "141GB"):
            assert fewest(f"{strategy}/with_checkpointing", gpu) <= fewest(f"{strategy}/without_checkpointing", gpu)
    assert fits["ddp/with_checkpointing"]["80GB"]["min_gpus"] == 1  # the README: one 80 GB GPU under DDP


@pytest.fixture(scope="module", params=[("wan2.1-1.3b.yaml", 1_418_996_800, "1.419 B"),
                                        ("wan2.2-ti2v-5b.yaml", 4_999_787_712, "5.000 B")], ids=["wan2.1", "wan2.2"])
def wan_budget(request, tmp_path_factory):
    config, base, shown = request.param
    out = tmp_path_factory.mktemp("wan") / "budget.json"
    status = main(["budget", "--config", str(ROOT / "configs" / config), "--out", str(out)])
    return {"status": status, "result": json.loads(out.read_text()), "base": base, "shown": shown}


def test_the_wan_budgets_count_the_published_bases_and_list_the_new_paths(wan_budget):
    result = wan_budget["result"]
    assert wan_budget["status"] == 0 and result["backbone"] == "wan"
    rows = {r["path"]: r for r in result["parameters"]["rows"]}
    # The base counted from the published config (configs/models/), frozen; the new paths by path, trained.
    assert rows["base (Wan)"]["total"] == wan_budget["base"] == rows["base (Wan)"]["frozen"]
    assert f"| base (Wan) | {wan_budget['shown']} | 0.00 M | {wan_budget['shown']} |" in result["table"]
    for path in ("VACE copies", "VACE in/out", "keyframe cross-attention", "camera embedding",
                 "working embedding"):
        assert rows[path]["trainable"] == rows[path]["total"] > 0, path
    assert result["base_config_source"].startswith("configs/models/wan2.")
    assert result["tokens"]["text_tokens"] == 512 and result["tokens"]["text_enters"] == "cross-attention"
    activations = result["activations"]
    assert activations["block_check"]["equal"] and activations["block_check"]["max_abs_diff"] == 0.0
    assert all(fit["linear_check_rel_error"] < 1e-9 for fit in activations["fits"].values())
    # docs/models.md's tables are this command's output, line for line.
    assert result["table"] in (ROOT / "docs" / "models.md").read_text()


def test_the_lean_recipe_brings_the_1_3b_model_under_24_gb_on_paper(tmp_path):
    out = tmp_path / "b.json"
    assert main(["budget", "--config", str(ROOT / "configs" / "wan2.1-1.3b.yaml"), "--out", str(out)]) == 0
    lean = json.loads(out.read_text())["lean"]
    assert [r["fits_24gb"] for r in lean] == [False, False, False, True, True, True]
    gib = [r["gib"] for r in lean]
    assert gib[1] < gib[0] and gib[2] < gib[1] and gib[4] < gib[3] < gib[2] and gib[5] > gib[4]
    for r in lean:  # each line is the sum of its parts
        assert abs(sum(r["bytes"].values()) / 2**30 - r["gib"]) < 1e-9


@pytest.mark.parametrize("args, message", [
    (["--config", str(FIVE_B), "--out", "budget.txt"], "budget.txt: expected a .json file name"),
    (["--config", "no/such.yaml", "--out", "b.json"], "no/such.yaml"),
    (["--config", str(FIVE_B), "--out", "b.json", "optim.lrr=1"], "optim.lrr"),
    (["--config", str(FIVE_B), "--out", "b.json", "model.pretrained=/no/such/folder"],
     "model.pretrained: no transformer config.json under /no/such/folder"),
    (["--out", "b.json"], "--config"),
])
def test_bad_arguments_give_one_line_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(ROOT)  # the 5B config names its curation file relative to the repository root
    args = [str(tmp_path / a) if a in ("budget.txt", "b.json") else a for a in args]
    with pytest.raises(SystemExit) as stop:
        main(["budget", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m train budget: error: ") and message in err and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir())  # nothing written


def test_help_of_train_names_the_budget_and_training_keeps_its_command_line():
    train_help = subprocess.run([sys.executable, "-m", "train", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert train_help.returncode == 0 and "python -m train budget --help" in train_help.stdout
    assert "--config" in train_help.stdout and "--resume" in train_help.stdout
    budget_help = subprocess.run([sys.executable, "-m", "train", "budget", "--help"], cwd=ROOT, capture_output=True,
                                 text=True)
    assert budget_help.returncode == 0 and "--out" in budget_help.stdout and "--resume" not in budget_help.stdout


def test_every_shipped_training_config_saves_a_pipeline_that_can_run(tmp_path, monkeypatch):
    """The generation settings a config saves agree with its memory (the 5B config's working window of 5 frames
    needs a memory that keeps 5: its curation file), checked where the pipeline is built."""
    from train.config import generation_config, load_config

    monkeypatch.chdir(ROOT)
    (tmp_path / "pretrained").mkdir()
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        overrides = ["data.source=synthetic"]  # no shards here: the check is about the saved settings
        if "cogvideox" in path.name or path.name.startswith("wan"):
            overrides += [f"model.pretrained={tmp_path / 'pretrained'}", "model.text_encoder="]
        cfg = load_config(path, overrides)
        generation = generation_config(cfg)
        assert generation.working_window <= generation.memory_config.working.window, path.name
