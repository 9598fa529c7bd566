"""worldmem: autoregressive, camera-controlled video generation with a geometry-grounded long-term memory.

Subpackages: :mod:`worldmem.geometry` (cameras, trajectories, point rendering, TSDF), :mod:`worldmem.memory`
(spatial, working and episodic memory), :mod:`worldmem.synthetic` (procedural scenes with an exact renderer).
"""

__version__ = "0.1.0"
