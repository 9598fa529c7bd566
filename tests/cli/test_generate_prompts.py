"""``worldmem generate --prompt``: text pipelines, --text-encoder, resuming with the recorded prompt, errors."""

from pathlib import Path

import pytest
import torch

from tests.cli.test_generate import _capture_videos
from tests.models.tiny_text import save_tiny_text_encoder
from tests.pipelines.test_prompts import text_pipe
from worldmem import generate
from worldmem.memory import WorldMemory


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved 16x16 pipeline with a text encoder, the same one without, and a text encoder folder."""
    root = tmp_path_factory.mktemp("gen_text")
    text_dir = save_tiny_text_encoder(root / "t5")
    pipe = text_pipe(text_dir)
    pipe.save_pretrained(root / "with_text")
    pipe.set_text_encoder(None, None)
    pipe.save_pretrained(root / "no_text")
    return root


def _run(*args) -> int:
    return generate.main(["--scene", "synthetic:5", "--trajectory", "loop", "--num-frames", "6", "--steps", "1",
                          "--context-frames", "2", *map(str, args)])


def test_the_prompt_conditions_the_video_and_resuming_keeps_it(saved, tmp_path, monkeypatch):
    videos = _capture_videos(monkeypatch)
    ckpt = saved / "with_text"
    assert _run("--checkpoint", ckpt, "--prompt", "a red room", "--out", tmp_path / "whole") == 0
    assert _run("--checkpoint", ckpt, "--stop-after", 4, "--out", tmp_path / "other") == 0  # the empty prompt
    assert _run("--checkpoint", ckpt, "--prompt", "a red room", "--stop-after", 4, "--out", tmp_path / "first") == 0
    assert WorldMemory.load(tmp_path / "first" / "memory").metadata["prompt"] == "a red room"
    assert generate.main(["--checkpoint", str(ckpt), "--resume-memory", str(tmp_path / "first" / "memory"),
                          "--steps", "1", "--out", str(tmp_path / "rest")]) == 0
    whole, other, first, rest = videos
    assert (whole[2:4] - other[2:]).abs().max() > 1e-3
    assert torch.equal(torch.cat([first, rest]), whole)
    # A pipeline saved without text gets it from --text-encoder.
    assert _run("--checkpoint", saved / "no_text", "--text-encoder", saved / "t5", "--prompt", "a red room",
                "--out", tmp_path / "attached") == 0
    assert torch.equal(videos[-1], whole)


@pytest.mark.parametrize("args, message", [
    (["--random-init", "--prompt", "a room"], "--prompt: --random-init has no text encoder"),
    (["--random-init", "--text-guidance-scale", "2"], "--text-guidance-scale: --random-init has no text encoder"),
    (["--random-init", "--guidance-scale", "0.5"], "--guidance-scale: expected a number >= 1"),
    (["--random-init", "--negative-prompt", "dark"], "--negative-prompt: only read by text guidance"),
    (["--random-init", "--text-encoder", "nowhere"], "--text-encoder: no such folder nowhere"),
    (["--checkpoint", "{saved}/no_text", "--text-encoder", "{saved}"], "--text-encoder: text encoder {saved}: missing "
                                                                        "text_encoder/config.json"),
])
def test_bad_prompt_arguments_are_one_line_errors(saved, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as info:
        _run(*[a.format(saved=saved) for a in args], "--out", tmp_path / "o")
    err = capsys.readouterr().err
    assert info.value.code == 2 and message.format(saved=saved) in err and err.count("\n") == 1, err
    assert not Path(tmp_path / "o").exists()
