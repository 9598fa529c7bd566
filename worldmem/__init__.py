"""worldmem: autoregressive, camera-controlled video generation with a geometry-grounded long-term memory.

Subpackages: :mod:`worldmem.geometry` (cameras, trajectories, point rendering, TSDF), :mod:`worldmem.memory`
(spatial, working and episodic memory), :mod:`worldmem.synthetic` (procedural scenes with an exact renderer).
"""

__version__ = "0.1.0"

# Top-level names for the pipeline components: diffusers' ``from_pretrained`` resolves a saved component as
# ``getattr(importlib.import_module("worldmem"), class_name)``. Imported lazily to keep ``import worldmem`` light.
_LAZY = {
    "WorldMemTransformer": "worldmem.models.transformer",
    "PixelCodec": "worldmem.models.codecs",
    "VAECodec": "worldmem.models.codecs",
    "WorldMemPipeline": "worldmem.pipelines.pipeline_worldmem",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'worldmem' has no attribute {name!r}")
