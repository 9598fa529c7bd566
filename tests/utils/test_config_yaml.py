"""The YAML bounds of worldmem.utils.config: regular files of at most MAX_YAML_BYTES, no aliases, and errors about
a file that is not a config quote nothing from it. (Refusals through the commands: tests/robustness/cases_paths.py.)"""

import os
import threading
from pathlib import Path

import pytest

from train.config import load_config
from worldmem.data.config import load_curation_config
from worldmem.utils import config as cfg
from worldmem.utils.config import MAX_YAML_BYTES, ConfigError

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.yaml"
SECRET = "TOKEN-not-to-be-printed"


def test_the_size_bound_is_one_mib_and_checked_before_reading(tmp_path):
    assert MAX_YAML_BYTES == 1 << 20
    path = tmp_path / "c.yaml"
    head = "voxel_size: 0.05\n"
    path.write_text(head + "#" * (MAX_YAML_BYTES - len(head) - 1) + "\n")  # exactly the bound: read
    assert os.path.getsize(path) == MAX_YAML_BYTES and load_curation_config(path).voxel_size == 0.05
    with open(path, "a") as f:
        f.write("#")
    with pytest.raises(ConfigError, match=rf"^{path}: \(top level\): expected a YAML file of at most 1 MiB \(it has "
                                          rf"{MAX_YAML_BYTES + 1} bytes\), got '{path}'$"):
        load_curation_config(path)


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_non_regular_files_are_refused_without_blocking(tmp_path, kind):
    path = "/dev/zero" if kind == "device" else str(tmp_path / "pipe")
    if kind == "fifo":
        os.mkfifo(path)
    result = {}

    def load():
        try:
            load_config(TINY, [f"data.curation={path}"])
        except ConfigError as err:
            result["error"] = str(err)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "blocked on a non-regular file"
    assert result["error"] == (f"<overrides>: data.curation: expected a regular YAML file (not a device, FIFO or "
                               f"socket), got '{path}'")


def test_aliases_are_refused_at_their_line_and_anchors_alone_are_fine(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("voxel_size: &v 0.05\n")
    assert load_curation_config(path).voxel_size == 0.05
    path.write_text("voxel_size: &v 0.05\nvisibility_voxel_size: *v\n")
    with pytest.raises(ConfigError, match=rf"^{path}: line 2: expected valid YAML \(aliases \(\*name\) are not "
                                          "supported in configs; write the value out\\), got 'visibility_voxel_size: \\*v'$"):
        load_curation_config(path)
    with pytest.raises(ConfigError, match="^<overrides>: optim.lr: expected a YAML value"):
        load_config(TINY, ["optim.lr=*v"])
    assert not any(s in p.read_text() for p in ROOT.glob("configs/**/*.yaml") for s in ("*", "<<:")), \
        "a shipped config uses an alias"


def test_deep_nesting_is_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: " + "[" * 50_000 + "\n")
    with pytest.raises(ConfigError, match=rf"^{path}: \(top level\): expected YAML nested less deeply"):
        load_config(path)


@pytest.mark.parametrize("text, message", [
    (f"{SECRET}: 1\n", "data.curation: expected only keys of CurationConfig (one of image_size, "),
    (f"voxel_size: 0.05\nnested: {{{SECRET}: 1}}\n", "data.curation: expected only keys of CurationConfig"),
    (f"password = {SECRET}\n", "data.curation: expected a YAML mapping of CurationConfig keys, got a string of 34 "
                               "characters"),
    (f"- {SECRET}\n", "data.curation: expected a YAML mapping of CurationConfig keys, got a list of 1 items"),
    (f"token: {SECRET}: x\n", "line 1: expected valid YAML (mapping values are not allowed here), got a line not "
                              "shown"),
])
def test_an_included_file_that_is_no_config_is_not_quoted(tmp_path, text, message):
    included = tmp_path / "notes.txt"
    included.write_text(text)
    for overrides in ([f"data.curation={included}"], [f"data.curation={included}", "data.curation.voxel_size=1"]):
        with pytest.raises(ConfigError) as err:
            load_config(TINY, overrides)
        assert str(err.value).startswith(f"{included}: {message}") and SECRET not in str(err.value)


def test_an_included_config_still_names_its_bad_value_and_typo(tmp_path):
    included = tmp_path / "cur.yaml"
    included.write_text("voxel_sise: 0.05\n")
    with pytest.raises(ConfigError, match=rf"^{included}: data.curation.voxel_sise: expected a key of CurationConfig "
                                          r"\(did you mean voxel_size\?\), got 'voxel_sise'$"):
        load_config(TINY, [f"data.curation={included}"])
    included.write_text("voxel_size: -1\n")
    with pytest.raises(ConfigError, match=rf"^{included}: data.curation.voxel_size: expected a finite value > 0, "
                                          "got -1.0$"):
        load_config(TINY, [f"data.curation={included}"])


def test_a_top_level_that_is_no_mapping_is_described_not_quoted(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text(f"password = {SECRET}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: (top level): expected a mapping, got a string of 34 characters"


def test_long_values_are_cut_in_errors():
    err = ConfigError("seed", "an integer", "x" * 1000, "c.yaml")
    assert len(str(err)) < 200 and str(err).endswith("...")
    assert cfg.ConfigError("k", "w", "short").value == "short"
