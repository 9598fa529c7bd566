import pytest

from tests.synthetic.scene_paths import out_and_back_in_scene
from worldmem.synthetic import SyntheticScene

WORLD_SIZE = 16


@pytest.fixture(scope="module")
def world():
    """A synthetic room (seed 3) seen along a 12-frame out-and-back path at 16x16: cameras, frames, depth."""
    scene = SyntheticScene.random(seed=3, kind="room")
    cams = out_and_back_in_scene(scene, 12, WORLD_SIZE)
    frames, depth = scene.render(cams)
    return cams, frames, depth
