"""The autoregressive generation pipeline."""

from worldmem.pipelines.pipeline_worldmem import WorldMemPipeline, WorldMemPipelineOutput, default_scheduler

__all__ = ["WorldMemPipeline", "WorldMemPipelineOutput", "default_scheduler"]
