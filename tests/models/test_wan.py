"""The memory paths on a Wan base: the zero-initialised guarantee against diffusers' own WanTransformer3DModel, each
path connected once trained, the Wan VAE codec's frame rule and scaling, and the clear failures of from_wan."""

import pytest
import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel

from worldmem.models import VAECodec, WorldMemTransformer
from worldmem.models.tiny import wake_zero_initialised

H, W = 8, 12  # latent size


def tiny_wan(channels: int) -> dict:
    """The published Wan2.1-T2V-1.3B (16 channels) / Wan2.2-TI2V-5B (48 channels) configs at tiny width."""
    return dict(patch_size=[1, 2, 2], num_attention_heads=2, attention_head_dim=12, in_channels=channels,
                out_channels=channels, text_dim=20, freq_dim=16, ffn_dim=48, num_layers=4, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=64)


def inputs(c: int, b=2, f=3, fw=2, k=2, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(hidden_states=r(b, f, c, H, W), timestep=torch.tensor([10.0, 700.0][:b]), working=r(b, fw, c, H, W),
                spatial=r(b, f, c + 1, H, W), keyframes=r(b, k, c, H, W),
                keyframe_mask=torch.tensor([[True, True], [True, False]][:b]), plucker=r(b, fw + f, 6, H, W),
                keyframe_plucker=r(b, k, 6, H, W), encoder_hidden_states=r(b, 5, 20))


def base_output(base, x: dict) -> torch.Tensor:
    """diffusers' forward on the working frames in front of the chunk, the working tokens at timestep 0."""
    b, fw, f = x["working"].shape[0], x["working"].shape[1], x["hidden_states"].shape[1]
    video = torch.cat([x["working"], x["hidden_states"]], dim=1).transpose(1, 2)
    per_frame = torch.cat([torch.zeros(b, fw), x["timestep"][:, None].expand(b, f)], dim=1)
    timestep = per_frame.repeat_interleave((H // 2) * (W // 2), dim=1)
    return base(video, timestep, x["encoder_hidden_states"]).sample.transpose(1, 2)[:, fw:]


@pytest.fixture(scope="module", params=[16, 48], ids=["wan2.1", "wan2.2"])
def wan_dir(request, tmp_path_factory):
    torch.manual_seed(request.param)
    folder = tmp_path_factory.mktemp(f"wan{request.param}")
    WanTransformer3DModel(**tiny_wan(request.param)).eval().save_pretrained(folder / "transformer")
    return folder, request.param


@pytest.mark.parametrize("placement", ["first", "spread"])
def test_untrained_memory_gives_exactly_the_base_wan_output(wan_dir, placement):
    folder, c = wan_dir
    base = WanTransformer3DModel.from_pretrained(folder / "transformer").eval()
    model = WorldMemTransformer.from_wan(folder, spatial_mode="both", num_control_layers=2, keyframe_every=2,
                                        control_placement=placement, sample_size=[H, W]).eval()
    assert model.config.backbone == "wan" and model.config.latent_channels == c
    x = inputs(c)
    with torch.no_grad():
        ours = model(**x).sample  # every memory path present: working, spatial (concat + control), keyframes, cameras
        assert torch.equal(ours, base_output(base, x))
        plain = model(x["hidden_states"], x["timestep"], encoder_hidden_states=x["encoder_hidden_states"]).sample
        ref = base(x["hidden_states"].transpose(1, 2), x["timestep"], x["encoder_hidden_states"]).sample
        assert torch.equal(plain, ref.transpose(1, 2))
    # The control blocks start as exact copies of the main blocks they feed.
    want = (0, 1) if placement == "first" else (0, 2)
    assert model.control_at == want
    for block, i in zip(model.control_blocks, want, strict=True):
        for (name, a), (_, b) in zip(block.state_dict().items(), base.blocks[i].state_dict().items(), strict=True):
            assert torch.equal(a, b), name


def test_each_wan_memory_path_reaches_the_output_once_trained(wan_dir):
    folder, c = wan_dir
    model = WorldMemTransformer.from_wan(folder, spatial_mode="both", num_control_layers=2, keyframe_every=2,
                                        control_placement="spread").eval()
    assert wake_zero_initialised(model, torch.Generator().manual_seed(1), 0.05) > 0
    x = inputs(c)
    with torch.no_grad():
        full = model(**x).sample
        for off in ("spatial", "keyframes", "plucker"):
            y = dict(x, **{off: None})
            if off == "keyframes":
                y["keyframe_mask"] = y["keyframe_plucker"] = None
            assert (model(**y).sample - full).abs().max() > 1e-4, off
        no_work = dict(x, working=None, plucker=x["plucker"][:, 2:])
        assert (model(**no_work).sample - full).abs().max() > 1e-4


def test_wan_without_a_prompt_reads_one_zero_token_and_trains(wan_dir):
    folder, c = wan_dir
    model = WorldMemTransformer.from_wan(folder, spatial_mode="controlnet", num_control_layers=1)
    x = dict(inputs(c), encoder_hidden_states=None)
    model.enable_gradient_checkpointing()
    model(**x).sample.square().mean().backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith("control_out")]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_from_wan_names_a_missing_folder_and_a_wrong_base(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"from_wan: no transformer config.json under .*nowhere"):
        WorldMemTransformer.from_wan(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="base_config.in_channels: expected 16"):
        WorldMemTransformer(base_config=dict(tiny_wan(16), in_channels=36), backbone="wan", latent_channels=16)
    with pytest.raises(ValueError, match="backbone: expected one of"):
        WorldMemTransformer(backbone="sora")
    with pytest.raises(FileNotFoundError, match=r"VAECodec.from_wan: no VAE config.json under"):
        VAECodec.from_wan(tmp_path / "nowhere")


def tiny_wan_vae(version: str) -> dict:
    common = dict(base_dim=8, dim_mult=[1, 2, 2, 2], num_res_blocks=1, attn_scales=[],
                  temperal_downsample=[False, True, True])
    if version == "2.1":
        return dict(common, z_dim=4, latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[2.0, 1.5, 0.5, 1.0])
    # Wan2.2's: a 2x2 pixel patch in front of the 8x encoder (16x in all), residual blocks.
    return dict(common, z_dim=6, latents_mean=[0.0] * 6, latents_std=[1.5] * 6, is_residual=True, in_channels=12,
                out_channels=12, patch_size=2, scale_factor_spatial=16, decoder_base_dim=8)


@pytest.mark.parametrize("version, factor, channels", [("2.1", 8, 4), ("2.2", 16, 6)])
def test_wan_vae_codec_frame_rule_factors_and_scaling(tmp_path, version, factor, channels):
    torch.manual_seed(0)
    AutoencoderKLWan(**tiny_wan_vae(version)).save_pretrained(tmp_path / "vae")
    codec = VAECodec.from_wan(tmp_path).eval()
    assert (codec.family, codec.spatial_factor, codec.temporal_factor, codec.latent_channels) == ("wan", factor, 4,
                                                                                                  channels)
    assert codec.chunk_size_error(5) is None and codec.chunk_size_error(9) is None
    assert "expected 4m + 1 frames" in codec.chunk_size_error(8)
    frames = torch.rand(1, 5, 3, 32, 32)
    with torch.no_grad():
        latents = codec.encode(frames)
        assert latents.shape == (1, 2, channels, 32 // factor, 32 // factor)
        raw = codec.vae.encode((frames * 2 - 1).movedim(1, 2)).latent_dist.mode().movedim(2, 1)
        mean = torch.tensor(codec.vae.config.latents_mean).view(1, 1, -1, 1, 1)
        std = torch.tensor(codec.vae.config.latents_std).view(1, 1, -1, 1, 1)
        torch.testing.assert_close(latents, (raw - mean) / std)
        decoded, depth = codec.decode(latents)
    assert decoded.shape == frames.shape and depth is None
    assert decoded.min() >= 0 and decoded.max() <= 1
    # A saved codec reloads as the same family.
    codec.save_pretrained(tmp_path / "codec")
    again = VAECodec.from_pretrained(tmp_path / "codec")
    assert again.family == "wan" and again.spatial_factor == factor


def test_umt5_prompts_follow_diffusers_wan_and_reach_a_wan_model(tmp_path):
    from tests.models.tiny_text import save_tiny_text_encoder
    from worldmem.models.text import encode_prompts, load_text_encoder

    encoder, tokenizer = load_text_encoder(save_tiny_text_encoder(tmp_path, d_model=20, umt5=True))
    assert type(encoder).__name__ == "UMT5EncoderModel"
    emb = encode_prompts(encoder, tokenizer, ["a red room", ""], 8)
    # Wan's convention: the encoder sees the attention mask, and the padding's embeddings are zero.
    tokens = tokenizer(["a red room"], padding="max_length", max_length=8, return_tensors="pt")
    assert tokens.input_ids.tolist() == [[3, 4, 7, 1, 0, 0, 0, 0]]
    ref = encoder(tokens.input_ids, attention_mask=tokens.attention_mask)[0]
    torch.testing.assert_close(emb[0, :4], ref[0, :4])
    assert emb[0, 4:].abs().sum() == 0 and emb[0, :4].abs().sum() > 0 and emb[1, 1:].abs().sum() == 0
    torch.manual_seed(0)
    model = WorldMemTransformer(base_config=tiny_wan(4), backbone="wan", latent_channels=4, sample_size=[H, W])
    wake_zero_initialised(model, torch.Generator().manual_seed(0), 0.05)
    x = inputs(4, b=1)
    with torch.no_grad():
        a = model(**dict(x, encoder_hidden_states=emb[:1])).sample
        b = model(**dict(x, encoder_hidden_states=emb[1:])).sample
    assert (a - b).abs().max() > 1e-5  # the prompt changes the output
