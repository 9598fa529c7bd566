"""The autoregressive generation pipeline and its model boundary (readouts -> :class:`ModelInputs`)."""

from worldmem.pipelines.generation_config import GenerationConfig, generation_from
from worldmem.pipelines.model_inputs import ModelInputs, encode_readouts
from worldmem.pipelines.pipeline_worldmem import (
    WorldMemPipeline,
    WorldMemPipelineOutput,
    default_scheduler,
    load_pipeline,
)
from worldmem.pipelines.write_gate import WriteGate

__all__ = ["GenerationConfig", "ModelInputs", "WorldMemPipeline", "WorldMemPipelineOutput", "WriteGate",
           "default_scheduler", "encode_readouts", "generation_from", "load_pipeline"]
