"""Broken pipeline folders: ``load_pipeline`` (and the commands built on it) report one line naming the folder."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from worldmem.pipelines import load_pipeline

ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints" / "worldmem-tiny"
WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


def _edit_json(name, edit):
    def change(folder):
        data = json.loads((folder / name).read_text())
        edit(data)
        (folder / name).write_text(json.dumps(data))
    return change


def _truncate(name, keep):
    def change(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:keep] if keep >= 0 else data[:keep])
    return change


CASES = [
    (lambda f: shutil.rmtree(f / "transformer"), "transformer/: missing"),
    (lambda f: (f / "model_index.json").write_text("{"), "model_index.json is not readable JSON"),
    (lambda f: (f / "model_index.json").write_text("[]"), "model_index.json: expected a JSON object"),
    (_edit_json("model_index.json", lambda d: d.update(_class_name="Other")), "_class_name: expected 'WorldMemPipeline'"),
    (_edit_json("model_index.json", lambda d: d.update(memory_config={"spatial": {"voxel_size": -1}})),
     "model_index.json: memory_config.spatial.voxel_size: expected a finite value > 0"),
    (_edit_json("model_index.json", lambda d: d.update(memory_config={"nonsense": 1})),
     "model_index.json: memory_config.nonsense: expected a key of MemoryConfig"),
    (_edit_json("model_index.json", lambda d: d.update(write_gate={"mode": "maybe"})), "write_gate.mode"),
    (_edit_json("model_index.json", lambda d: d.update(write_gate={"margin": -1})),
     "model_index.json: write_gate.margin: expected a value >= 0, got -1"),
    (_edit_json("model_index.json", lambda d: d.update(render_anchor=2)),
     "model_index.json: render_anchor: expected a finite value in [0, 1], got 2.0"),
    (_edit_json("model_index.json", lambda d: d.update(num_inference_steps=0)),
     "model_index.json: num_inference_steps: expected a value >= 1, got 0"),
    (_edit_json("model_index.json", lambda d: d.update(chunk_size=0)), "chunk_size: expected a value >= 1, got 0"),
    (_edit_json("model_index.json", lambda d: d.update(working_window=9)),
     "working_window: expected a value <= memory_config.working.window (2), got 9"),
    (_edit_json("model_index.json", lambda d: d.pop("codec")), "codec: expected [module, class]"),
    (lambda f: (f / WEIGHTS).write_bytes(b""), "not a readable safetensors file"),
    (_truncate(WEIGHTS, -1000), "not a readable safetensors file"),
    (_truncate(WEIGHTS, 50), "not a readable safetensors file"),
    (lambda f: (f / WEIGHTS).write_bytes(b"\xff" * 4096), "not a readable safetensors file"),
    (lambda f: (f / WEIGHTS).unlink(), "transformer/: expected one .safetensors weights file, got 0"),
    (lambda f: (f / "transformer" / "config.json").unlink(), "transformer/: missing config.json"),
    (_edit_json("transformer/config.json", lambda d: d["base_config"].update(num_layers=2)),
     "transformer/: the weights do not match its config.json (unexpected"),
    (_edit_json("transformer/config.json", lambda d: d["base_config"].update(num_layers=6)),
     "transformer/: the weights do not match its config.json (missing"),
    (_edit_json("transformer/config.json", lambda d: d["base_config"].update(attention_head_dim=16)),
     "could not build the pipeline: Cannot load"),  # diffusers refuses shapes itself, in one line
    (_edit_json("transformer/config.json", lambda d: d.update(spatial_mode="sideways")), "could not build the pipeline"),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return tmp_path_factory.mktemp("ckpt")


@pytest.mark.parametrize("change, message", CASES)
def test_broken_checkpoints_are_one_line_errors(change, message, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(CKPT, folder)
    change(folder)
    with pytest.raises(ValueError) as info:
        load_pipeline(folder)
    text = str(info.value)
    assert text.startswith(f"{folder}: ") and message in text and "\n" not in text, text


@pytest.mark.parametrize("kwargs", [{}, {"torch_dtype": torch.float32}, {"low_cpu_mem_usage": False}])
@pytest.mark.parametrize("change, message", [CASES[14], CASES[19], CASES[6]])  # truncated, fewer layers, bad gate
def test_from_pretrained_checks_every_local_folder_with_or_without_keyword_arguments(change, message, kwargs,
                                                                                     tmp_path):
    from worldmem.pipelines import WorldMemPipeline

    folder = tmp_path / "ckpt"
    shutil.copytree(CKPT, folder)
    change(folder)
    with pytest.raises(ValueError) as info:
        WorldMemPipeline.from_pretrained(folder, **kwargs)
    text = str(info.value)
    assert text.startswith(f"{folder}: ") and message in text and "\n" not in text, text


def test_from_pretrained_with_keyword_arguments_loads_the_checked_pipeline():
    from worldmem.pipelines import WorldMemPipeline

    pipe = WorldMemPipeline.from_pretrained(CKPT, torch_dtype=torch.float64)
    assert pipe.transformer.dtype == torch.float64 and pipe.generation == load_pipeline(CKPT).generation


def test_loading_has_no_call_cycle():
    """from_pretrained runs the checks and then diffusers' loader; the checks never call from_pretrained."""
    import inspect

    from worldmem.pipelines import loading

    assert "from_pretrained(" not in inspect.getsource(loading).replace("``WorldMemPipeline.from_pretrained``", "")
    assert "pipeline_worldmem" not in inspect.getsource(loading)


def test_the_shipped_checkpoint_loads():
    pipe = load_pipeline(CKPT)
    assert pipe.config.chunk_size >= 1


@pytest.mark.slow
@pytest.mark.parametrize("command", [["-m", "worldmem.cli", "generate", "--scene", "synthetic:1", "--out", "o"],
                                     ["-m", "eval", "revisit", "--out", "o"]])
def test_commands_report_a_broken_checkpoint_in_one_line(command, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(CKPT, folder)
    _truncate(WEIGHTS, -1000)(folder)
    run = subprocess.run([sys.executable, *command, "--checkpoint", str(folder)], cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-800:]
    assert "--checkpoint: " in run.stderr and "not a readable safetensors file" in run.stderr
    assert run.stderr.strip().count("\n") == 0, run.stderr
    assert not (tmp_path / "o").exists()
