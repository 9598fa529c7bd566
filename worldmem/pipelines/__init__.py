"""The autoregressive generation pipeline and its model boundary (readouts -> :class:`ModelInputs`)."""

from worldmem.pipelines.loading import load_pipeline
from worldmem.pipelines.model_inputs import ModelInputs, encode_readouts
from worldmem.pipelines.pipeline_worldmem import WorldMemPipeline, WorldMemPipelineOutput, default_scheduler

__all__ = ["ModelInputs", "WorldMemPipeline", "WorldMemPipelineOutput", "default_scheduler", "encode_readouts",
           "load_pipeline"]
