"""Camera paths in a synthetic scene for tests: the registry's paths (:mod:`worldmem.geometry.paths`, docs/paths.md)
fitted into the scene's ``free_box``.

Library code calls ``make_path(name, scene.free_box, num_frames, height, width, ...)`` directly (the demo, training
validation, curation); this one-line shorthand is for the tests that need the canonical out-and-back.
"""

from __future__ import annotations

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.paths import make_path

__all__ = ["out_and_back_in_scene"]


def out_and_back_in_scene(scene, num_frames: int, size: int, yaw_sweep_deg: float = 90.0) -> Cameras:
    """The registry's ``out-and-back`` in ``scene`` for ``size`` x ``size`` images, its view sweeping
    ``yaw_sweep_deg`` on the way out."""
    return make_path("out-and-back", scene.free_box, num_frames, size, size, sweep_deg=yaw_sweep_deg)
