"""The three memories (spatial, working, episodic) and their composition :class:`WorldMemory`.

Memories know nothing of the model: they take frames, depth and cameras, and hand back a
:class:`MemoryReadout` of tensors.
"""

from worldmem.memory.config import EpisodicConfig, MemoryConfig, SpatialConfig, WorkingConfig
from worldmem.memory.episodic import EpisodicMemory
from worldmem.memory.readout import FrameSet, MemoryReadout, SpatialRender
from worldmem.memory.spatial import SpatialMemory
from worldmem.memory.working import WorkingMemory
from worldmem.memory.world import WorldMemory

__all__ = [
    "WorldMemory",
    "MemoryConfig",
    "SpatialConfig",
    "WorkingConfig",
    "EpisodicConfig",
    "SpatialMemory",
    "WorkingMemory",
    "EpisodicMemory",
    "MemoryReadout",
    "SpatialRender",
    "FrameSet",
]
