"""A pipeline on a Wan backbone: the pixel RGB-D tiny Wan generates and resumes like the tiny CogVideoX, the Wan VAE
codec's 4m + 1 frame rule is checked before any work, and a saved Wan pipeline loads as one."""

import pytest
import torch
from diffusers import AutoencoderKLWan

from tests.models.test_wan import tiny_wan, tiny_wan_vae
from worldmem.models import VAECodec, WorldMemTransformer
from worldmem.pipelines import WorldMemPipeline, default_scheduler
from worldmem.pipelines.tiny import random_tiny_pipeline

S = 16
MEMORY = {"spatial": {"voxel_size": 0.1}, "episodic": {"keyframe_pool": 3}}


def test_the_tiny_wan_pipeline_generates_saves_and_loads(tmp_path, world):
    cams, frames, depth = world
    pipe = random_tiny_pipeline(seed=0, size=S, backbone="wan")
    assert pipe.transformer.config.backbone == "wan" and pipe.frame_size == (S, S)
    kwargs = dict(frames=frames[:2], depth=depth[:2], cameras=cams, num_inference_steps=2, progress=False)
    out = pipe(**kwargs, generator=torch.Generator().manual_seed(0))
    assert out.frames.shape == (12, 3, S, S) and torch.isfinite(out.frames).all() and out.depth.shape == (12, 1, S, S)
    pipe.save_pretrained(tmp_path / "wan")
    again = WorldMemPipeline.from_pretrained(tmp_path / "wan")
    assert type(again.transformer.base).__name__ == "WanTransformer3DModel"
    assert torch.equal(again(**kwargs, generator=torch.Generator().manual_seed(0)).frames, out.frames)


def test_a_wan_vae_pipeline_checks_its_frame_rule_and_generates_4m_plus_1(world, tmp_path):
    torch.manual_seed(0)
    vae = AutoencoderKLWan(**tiny_wan_vae("2.1"))
    model = WorldMemTransformer(base_config=dict(tiny_wan(4), patch_size=[1, 1, 1]), backbone="wan", latent_channels=4,
                                spatial_mode="controlnet", num_control_layers=1, sample_size=[2, 2]).eval()
    pipe = WorldMemPipeline(model, default_scheduler(), VAECodec.from_vae(vae), memory_config=MEMORY, chunk_size=5,
                            working_window=1)
    pipe.depth_estimator = lambda x: torch.ones(x.shape[0], 1, *x.shape[-2:])
    cams, frames, depth = world
    with pytest.raises(ValueError, match=r"chunk_size: expected 4m \+ 1 frames"):
        pipe(frames=frames[:1], depth=depth[:1], cameras=cams[:9], chunk_size=4, progress=False)
    out = pipe(frames=frames[:1], depth=depth[:1], cameras=cams[:11], num_inference_steps=1, progress=False,
               generator=torch.Generator().manual_seed(0))
    assert out.frames.shape == (11, 3, S, S) and torch.isfinite(out.frames).all()
