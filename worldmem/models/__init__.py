"""The generator: memory-conditioned video transformer, codecs, depth for write-back."""

from worldmem.models.codecs import Codec, PixelCodec, VAECodec
from worldmem.models.depth import DepthEstimator, TransformersDepthEstimator, align_depth
from worldmem.models.transformer import SPATIAL_MODES, TINY_BASE_CONFIG, WorldMemTransformer

__all__ = [
    "SPATIAL_MODES",
    "TINY_BASE_CONFIG",
    "Codec",
    "DepthEstimator",
    "PixelCodec",
    "TransformersDepthEstimator",
    "VAECodec",
    "WorldMemTransformer",
    "align_depth",
]
