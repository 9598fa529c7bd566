import pytest

from tests.synthetic.scene_paths import out_and_back_in_scene
from worldmem.synthetic import SyntheticScene

WORLD_SIZE = 16


def room_world(frames: int = 12, size: int = WORLD_SIZE):
    """A synthetic room (seed 3) seen along an out-and-back path of ``frames`` at ``size``: cameras, frames, depth."""
    scene = SyntheticScene.random(seed=3, kind="room")
    cams = out_and_back_in_scene(scene, frames, size)
    rgb, depth = scene.render(cams)
    return cams, rgb, depth


@pytest.fixture(scope="module")
def world():
    """:func:`room_world`: 12 frames at 16x16."""
    return room_world()
