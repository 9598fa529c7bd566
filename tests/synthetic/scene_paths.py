"""Registry paths in a synthetic scene: the scene's ``free_box`` is the box :mod:`worldmem.geometry.paths` fits
every path into (all names and parameters are there, and in docs/paths.md).

    from worldmem.geometry.paths import make_path
    cams = make_path("out-and-back", scene.free_box, 48, 64, 64)     # = scene_path(scene, "out-and-back", 48, 64)
"""

from __future__ import annotations

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.paths import FOV_DEG, make_path

__all__ = ["FOV_DEG", "scene_path", "out_and_back_in_scene"]


def scene_path(scene, name: str, num_frames: int, size: int, **params) -> Cameras:
    """The registry path ``name`` (canonical) in ``scene`` for ``size`` x ``size`` images."""
    return make_path(name, scene.free_box, num_frames, size, size, **params)


def out_and_back_in_scene(scene, num_frames: int, size: int, yaw_sweep_deg: float = 90.0) -> Cameras:
    """The registry's ``out-and-back`` in ``scene``, its view sweeping ``yaw_sweep_deg`` on the way out."""
    return make_path("out-and-back", scene.free_box, num_frames, size, size, sweep_deg=yaw_sweep_deg)
