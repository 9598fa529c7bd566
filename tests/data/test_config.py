import dataclasses

import pytest

from worldmem.data import CurationConfig, load_curation_config
from worldmem.memory import MemoryConfig


def test_defaults_fit_the_tiny_model():
    c = CurationConfig()
    assert c.image_size == (64, 64) and c.target_frames == 4 and c.working_frames == 2 and c.max_keyframes == 4
    assert 0.02 <= c.voxel_size <= 0.04
    m = c.memory_config()
    assert isinstance(m, MemoryConfig) and m.working.window == 2 and m.episodic.num_retrieved == 4
    assert m.spatial.voxel_size == c.voxel_size
    assert CurationConfig.from_dict(c.to_dict()) == c


def test_yaml_round_trip_and_shipped_configs(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("image_size: [32, 48]\nvoxel_size: 0.03\nsynthetic_paths: [loop]\nrevisit_windows: false\n")
    c = load_curation_config(p)
    assert c.image_size == (32, 48) and c.voxel_size == 0.03 and c.synthetic_paths == ("loop",)
    assert c.revisit_windows is False
    for name in ("synthetic", "default"):
        assert isinstance(load_curation_config(f"configs/curation/{name}.yaml"), CurationConfig)
    assert load_curation_config(None) == CurationConfig()
    assert load_curation_config("configs/curation/default.yaml") == CurationConfig()  # the defaults, written out


@pytest.mark.parametrize("text, message", [
    ("voxel_sise: 0.03\n", "unknown key 'voxel_sise'"),
    ("image_size: 64\n", "image_size: expected a list"),
    ("image_size: [64, 64, 3]\n", "image_size: expected 2 values"),
    ("target_frames: 2.5\n", "target_frames: expected an int"),
    ("revisit_windows: 1\n", "revisit_windows: expected true or false"),
    ("synthetic_paths: [spiral]\n", "synthetic_paths: expected a non-empty list"),
    ("synthetic_supersample: 2\n", "synthetic_supersample: expected an odd int"),
    ("working_frames: 9\n", "min_source_frames: expected working_frames <= min_source_frames"),
    ("- a\n- b\n", "expected a mapping"),
    ("a: [\n", "invalid YAML"),
])
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ValueError, match=message.replace("[", r"\[")) as err:
        load_curation_config(p)
    assert "\n" not in str(err.value) and str(p) in str(err.value)


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        load_curation_config(tmp_path / "nope.yaml")


def test_replace_validates():
    with pytest.raises(ValueError, match="keyframe_min_overlap"):
        dataclasses.replace(CurationConfig(), keyframe_min_overlap=1.5)
