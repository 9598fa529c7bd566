"""One command shape: real sub-parsers (``worldmem generate --help`` lists generate's options), every sub-command a
module with ``add_arguments(parser)`` and ``run(args)``, and a bad input raised as ``UsageError`` and printed once."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from worldmem import cli
from worldmem.utils.cli_errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


def _help(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    return capsys.readouterr().out


def test_generate_help_lists_generates_own_options(capsys):
    text = _help(cli.main, ["generate", "--help"], capsys)
    assert text.startswith("usage: worldmem generate")
    for flag in ("--checkpoint", "--prompt", "--random-init", "--trajectory", "--resume-memory", "--out"):
        assert flag in text, flag
    # The real entry point, as the module docstring tells users to run it.
    run = subprocess.run([sys.executable, "-m", "worldmem.cli", "generate", "--help"], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0 and "--checkpoint" in run.stdout and "--prompt" in run.stdout, run.stderr[-500:]


def test_demo_help_and_the_top_level_help_list_their_own_options(capsys):
    text = _help(cli.main, ["demo", "--help"], capsys)
    assert text.startswith("usage: worldmem demo") and "--generation-frames" in text and "--checkpoint" in text
    assert "--random-init" not in text
    top = _help(cli.main, ["--help"], capsys)
    assert "generate" in top and "demo" in top and "--random-init" not in top


@pytest.mark.parametrize("argv, prog, names", [
    (["generate", "--random-init", "--scene", "synthetic:1", "--out", "o", "--steps", "0"], "worldmem generate",
     "--steps: expected an int >= 1"),
    (["generate", "--random-init", "--scene", "synthetic:1", "--out", "o", "--bogus"], "worldmem generate",
     "unrecognized arguments: --bogus"),
    (["demo", "--frames", "2"], "worldmem demo", "--frames >= 4"),
])
def test_a_bad_input_is_one_line_named_by_the_sub_command(argv, prog, names, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(f"{prog}: error: ") and names in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_run_json_records_the_same_command_line_through_either_entry(tmp_path):
    from worldmem import generate

    argv = ["--random-init", "--scene", "synthetic:1", "--num-frames", "4", "--steps", "1", "--context-frames", "2"]
    assert generate.main([*argv, "--out", str(tmp_path / "alone")]) == 0
    assert cli.main(["generate", *argv, "--out", str(tmp_path / "sub")]) == 0
    records = [json.loads((tmp_path / d / "run.json").read_text()) for d in ("alone", "sub")]
    assert records[0] == {"command": "worldmem generate", "argv": [*argv, "--out", str(tmp_path / "alone")]}
    assert records[1] == {"command": "worldmem generate", "argv": [*argv, "--out", str(tmp_path / "sub")]}


def test_every_eval_sub_command_has_the_one_shape(capsys):
    from eval.cli import SUBCOMMANDS, main

    assert set(SUBCOMMANDS) == {"revisit", "plot-paths", "scale-fit", "strip", "bench", "export", "score", "compare"}
    for name, (module, _) in SUBCOMMANDS.items():
        assert callable(module.add_arguments) and callable(module.run), name
        assert not hasattr(module, "main"), f"{name}: a second entry shape"
        text = _help(main, [name, "--help"], capsys)
        assert text.startswith(f"usage: python -m eval {name}"), text[:80]
        assert "--out" in text  # every one writes somewhere, and its own help says where
    assert "--repeats" in _help(main, ["bench", "--help"], capsys)
    assert "--protocol" in _help(main, ["revisit", "--help"], capsys)


@pytest.mark.parametrize("name", ["revisit", "plot-paths", "scale-fit", "strip", "bench", "compare"])
def test_a_usage_error_of_any_eval_sub_command_is_caught_once(name, capsys, monkeypatch):
    from eval.cli import SUBCOMMANDS, main

    def refuse(args):
        raise UsageError("--out: bad\nsecond line")

    monkeypatch.setattr(SUBCOMMANDS[name][0], "run", refuse)
    required = {"revisit": ["--checkpoint", "c", "--out", "o"], "strip": ["--checkpoint", "c", "--out", "o"],
                "plot-paths": ["--out", "o.png"], "scale-fit": ["--out", "o.png"], "bench": ["geometry"],
                "compare": ["r", "--out", "o"]}
    with pytest.raises(SystemExit) as info:
        main([name, *required[name]])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err == f"python -m eval {name}: error: --out: bad second line\n", err
