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
    for name in ("synthetic", "default", "tiny"):
        assert isinstance(load_curation_config(f"configs/curation/{name}.yaml"), CurationConfig)
    assert load_curation_config(None) == CurationConfig()
    assert load_curation_config("configs/curation/default.yaml") == CurationConfig()  # the defaults, written out


def test_exponent_floats_and_ints_for_floats(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("voxel_size: 4e-2\nvisibility_voxel_size: 1E-1\nsynthetic_fov_deg: [60, 7.0e1]\nrevisit_min_overlap: 1\n")
    c = load_curation_config(p)
    assert c.voxel_size == 0.04 and c.visibility_voxel_size == 0.1 and c.synthetic_fov_deg == (60.0, 70.0)
    assert type(c.revisit_min_overlap) is float and type(c.synthetic_fov_deg[0]) is float


@pytest.mark.parametrize("text, message", [
    ("voxel_sise: 0.03\n", "voxel_sise: expected a key of CurationConfig (did you mean voxel_size?), got 'voxel_sise'"),
    ("image_size: 64\n", "image_size: expected a list of 2 integers, got 64"),
    ("image_size: [64, 64, 3]\n", "image_size: expected a list of 2 integers, got [64, 64, 3]"),
    ("target_frames: 2.5\n", "target_frames: expected an integer, got 2.5"),
    ("target_frames: true\n", "target_frames: expected an integer, got True"),
    ("revisit_windows: 1\n", "revisit_windows: expected true or false, got 1"),
    ("synthetic_paths: [spiral]\n", "synthetic_paths: expected a non-empty list"),
    ("synthetic_paths: loop\n", "synthetic_paths: expected a list of strings, got 'loop'"),
    ("synthetic_supersample: 2\n", "synthetic_supersample: expected an odd int"),
    ("working_frames: 9\n", "min_source_frames: expected working_frames <= min_source_frames"),
    ("voxel_size: -0.1\n", "voxel_size: expected a finite value > 0, got -0.1"),
    ("voxel_size: .nan\n", "voxel_size: expected a finite value > 0, got nan"),
    ("keyframe_min_overlap: 1.5\n", "keyframe_min_overlap: expected a finite value in [0, 1], got 1.5"),
    ("- a\n- b\n", "(top level): expected a mapping, got a list of 2 items"),  # content never quoted
    ("a: [\n", "line 1: expected valid YAML (expected the node content, but found '<stream end>'), got 'a: ['"),
    ("voxel_size: !!python/object/apply:os.system [echo hi]\n", "line 1: expected plain YAML data"),
])
def test_bad_configs_are_one_line_errors(tmp_path, text, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ValueError) as err:
        load_curation_config(p)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{p}: {message}")


def test_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="expected a readable YAML file"):
        load_curation_config(tmp_path / "nope.yaml")


def test_replace_validates():
    with pytest.raises(ValueError, match=r"^<dict>: keyframe_min_overlap: expected a finite value in \[0, 1\], got 1.5$"):
        dataclasses.replace(CurationConfig(), keyframe_min_overlap=1.5)
    with pytest.raises(ValueError, match="^<dict>: working.window: expected a value >= 1, got 0$"):
        MemoryConfig.from_dict({"working": {"window": 0}})
