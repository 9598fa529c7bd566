import pytest
import torch
from diffusers import AutoencoderKLCogVideoX

from worldmem.models import PixelCodec, TransformersDepthEstimator, VAECodec, align_depth


def tiny_vae() -> AutoencoderKLCogVideoX:
    torch.manual_seed(0)
    return AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    ).eval()


def test_pixel_codec_round_trip_keeps_rgb_depth_and_unknown_depth():
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 3, 3, 8, 8, generator=g)
    depth = torch.rand(2, 3, 1, 8, 8, generator=g) * 10 + 0.1
    depth[0, 0, 0, :2] = 0.0
    codec = PixelCodec(depth_scale=2.0)
    latents = codec.encode(frames, depth)
    assert latents.shape == (2, 3, 4, 8, 8) and latents.abs().max() <= 1.0
    rgb, d = codec.decode(latents)
    torch.testing.assert_close(rgb, frames, atol=1e-6, rtol=0)
    assert (d[0, 0, 0, :2] == 0).all()
    known = depth > 0
    torch.testing.assert_close(d[known], depth[known], rtol=1e-4, atol=1e-4)


def test_vae_codec_shapes_and_saved_round_trip(tmp_path):
    codec = VAECodec.from_vae(tiny_vae())
    assert (codec.latent_channels, codec.spatial_factor, codec.temporal_factor) == (4, 8, 4)
    frames = torch.rand(1, 9, 3, 16, 16)
    with torch.no_grad():
        latents = codec.encode(frames)
        assert latents.shape == (1, 3, 4, 2, 2)
        rgb, depth = codec.decode(latents)
    assert rgb.shape == (1, 9, 3, 16, 16) and depth is None and 0 <= rgb.min() and rgb.max() <= 1
    assert codec.latent_frame_index(9).tolist() == [0, 4, 8]
    assert codec.chunk_size_error(9) is None and "8m + 1" in codec.chunk_size_error(5)
    mask = torch.zeros(1, 9, 1, 16, 16, dtype=torch.bool)
    mask[:, :, :, :8] = True
    assert codec.encode_mask(mask).shape == (1, 3, 1, 2, 2)
    assert codec.encode_mask(mask)[0, 0, 0, :, 0].tolist() == [1.0, 0.0]
    codec.save_pretrained(tmp_path)
    loaded = VAECodec.from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(frames), latents)


def test_align_depth_recovers_scale_and_shift_despite_outliers():
    g = torch.Generator().manual_seed(0)
    reference = torch.rand(4, 1, 32, 32, generator=g) * 4 + 1
    predicted = (reference - 0.3) / 2.5
    outliers = torch.rand(reference.shape, generator=g) < 0.2
    predicted = torch.where(outliers, predicted * 3 + 1, predicted)
    reference[:, :, :4] = 0  # not covered by the memory: not used
    aligned, fit = align_depth(predicted, reference)
    assert fit.scale == pytest.approx(2.5, rel=1e-4) and fit.shift == pytest.approx(0.3, abs=1e-4)
    good = ~outliers & (reference > 0)
    torch.testing.assert_close(aligned[good], reference[good], rtol=1e-4, atol=1e-4)


def test_align_depth_leaves_depth_alone_without_overlap():
    depth = torch.rand(1, 1, 8, 8) + 0.5
    aligned, fit = align_depth(depth, torch.zeros_like(depth))
    assert torch.equal(aligned, depth) and tuple(fit) == (1.0, 0.0, 0)
    with pytest.raises(ValueError, match="reference: expected the shape"):
        align_depth(depth, torch.zeros(1, 1, 4, 4))


def test_depth_estimator_without_weights_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json in .*missing"):
        TransformersDepthEstimator(tmp_path / "missing")
