"""The built-in synthetic world: seeded procedural scenes and an exact RGB + depth + id ray caster.

World convention: right-handed, **+z is up** (gravity along -z), units are metres, the floor is z = 0.
Cameras are :class:`worldmem.geometry.Cameras` (OpenCV axes); depth is z-depth, 0 (and id -1) for sky.

    from worldmem.synthetic import SyntheticScene
    scene = SyntheticScene.random(seed=0, dynamic=False, kind=None)  # kind: None | "room" | "courtyard"
    frames, depth, ids = scene.render(cams, times=None, return_ids=True)
"""

from worldmem.synthetic.primitives import Box, Cylinder, Motion, Quad, Sphere
from worldmem.synthetic.scene import KINDS, SceneObject, SyntheticScene

__all__ = ["SyntheticScene", "SceneObject", "KINDS", "Quad", "Box", "Sphere", "Cylinder", "Motion"]
