import pytest
import torch
from diffusers import CogVideoXTransformer3DModel

from worldmem.models import WorldMemTransformer
from worldmem.models.tiny import wake_zero_initialised

C, H, W = 4, 16, 16


def tiny_base(rotary: bool = True, in_channels: int = 2 * C, text_dim: int = 8) -> dict:
    return dict(num_attention_heads=2, attention_head_dim=16, in_channels=in_channels, out_channels=C, time_embed_dim=32,
                text_embed_dim=text_dim, num_layers=4, sample_width=W, sample_height=H, sample_frames=5, patch_size=4,
                temporal_compression_ratio=1, max_text_seq_length=3, use_rotary_positional_embeddings=rotary)


def inputs(b=2, f=3, fw=2, k=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(
        hidden_states=r(b, f, C, H, W), timestep=torch.tensor([10, 700][:b]), working=r(b, fw, C, H, W),
        spatial=r(b, f, C + 1, H, W), keyframes=r(b, k, C, H, W), keyframe_mask=torch.tensor([[True, True], [True, False]][:b]),
        plucker=r(b, fw + f, 6, H, W), keyframe_plucker=r(b, k, 6, H, W), encoder_hidden_states=r(b, 3, 8),
    )


def perturb_zero_layers(model: WorldMemTransformer, seed: int = 1) -> None:
    wake_zero_initialised(model, torch.Generator().manual_seed(seed), 0.05)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cogvideox") / "transformer"
    CogVideoXTransformer3DModel(**tiny_base()).save_pretrained(path)
    return path


@pytest.mark.parametrize("rotary", [True, False])
def test_from_cogvideox_with_memory_off_equals_the_base_model(tmp_path, rotary):
    torch.manual_seed(0)
    base = CogVideoXTransformer3DModel(**tiny_base(rotary)).eval()
    base.save_pretrained(tmp_path / "transformer")
    model = WorldMemTransformer.from_cogvideox(tmp_path, spatial_mode="both", num_control_layers=2, keyframe_every=2).eval()
    x = inputs()
    with torch.no_grad():
        ours = model(x["hidden_states"], x["timestep"], encoder_hidden_states=x["encoder_hidden_states"]).sample
        rope = model._rotary(3, H, W, "cpu")
        cond_in = torch.cat([x["hidden_states"], torch.zeros_like(x["hidden_states"])], dim=2)
        ref = base(cond_in, x["encoder_hidden_states"], x["timestep"], image_rotary_emb=rope).sample
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    # The control branch starts as an exact copy of the base's first blocks.
    for i, block in enumerate(model.control_blocks):
        for (n, a), (_, b) in zip(block.state_dict().items(), base.transformer_blocks[i].state_dict().items(), strict=True):
            assert torch.equal(a, b), n


def test_new_paths_start_as_no_ops_and_each_one_is_connected(base_dir):
    model = WorldMemTransformer.from_cogvideox(base_dir, spatial_mode="both", num_control_layers=2, keyframe_every=2).eval()
    x = inputs()
    with torch.no_grad():
        plain = model(x["hidden_states"], x["timestep"], working=x["working"],
                      encoder_hidden_states=x["encoder_hidden_states"]).sample
        full = model(**x).sample
        torch.testing.assert_close(full, plain, rtol=0, atol=1e-6)  # zero-initialised: nothing changes yet
        perturb_zero_layers(model)
        full = model(**x).sample
        for off in ("spatial", "keyframes", "plucker"):
            y = dict(x)
            y[off] = None
            if off == "keyframes":
                y["keyframe_mask"] = y["keyframe_plucker"] = None
            assert (model(**y).sample - full).abs().max() > 1e-4, off
        no_work = dict(x, working=None, plucker=x["plucker"][:, 2:])
        assert (model(**no_work).sample - full).abs().max() > 1e-4


def test_padded_keyframes_are_ignored_and_samples_without_keyframes_get_no_update():
    torch.manual_seed(0)
    model = WorldMemTransformer(base_config=tiny_base(), latent_channels=C).eval()
    perturb_zero_layers(model)
    x = inputs()
    with torch.no_grad():
        out = model(**x).sample
        y = dict(x)
        y["keyframes"] = x["keyframes"].clone()
        y["keyframes"][1, 1] = 100.0  # padding slot of sample 1
        torch.testing.assert_close(model(**y).sample, out)
        none = dict(x, keyframe_mask=torch.zeros(2, 2, dtype=torch.bool))
        off = dict(x, keyframes=None, keyframe_mask=None, keyframe_plucker=None)
        torch.testing.assert_close(model(**none).sample, model(**off).sample)


def test_gradients_reach_every_zero_initialised_layer():
    torch.manual_seed(0)
    model = WorldMemTransformer(base_config=tiny_base(), latent_channels=C, spatial_mode="both")
    x = inputs()
    model(**x).sample.square().mean().backward()
    for name in ("control_out.0.weight", "spatial_concat.proj.weight", "camera_embed.proj.weight",
                 "working_mask_embed.proj.weight", "keyframe_attn.1.to_out.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = WorldMemTransformer(base_config=tiny_base(), latent_channels=C, spatial_mode="controlnet").eval()
    perturb_zero_layers(model)
    model.save_pretrained(tmp_path)
    loaded = WorldMemTransformer.from_pretrained(tmp_path).eval()
    x = inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**x).sample, model(**x).sample, rtol=0, atol=0)
    assert loaded.config.spatial_mode == "controlnet"


def test_bad_inputs_name_the_argument(base_dir):
    model = WorldMemTransformer.from_cogvideox(base_dir)
    x = inputs()
    with pytest.raises(ValueError, match="spatial: expected shape"):
        model(**dict(x, spatial=x["spatial"][:, :2]))
    with pytest.raises(ValueError, match="plucker: expected shape"):
        model(**dict(x, plucker=x["plucker"][:, 1:]))
    with pytest.raises(ValueError, match="keyframe_plucker"):
        model(**dict(x, keyframe_plucker=None))
    with pytest.raises(ValueError, match="spatial_mode"):
        WorldMemTransformer(base_config=tiny_base(), latent_channels=C, spatial_mode="sideways")
    with pytest.raises(ValueError, match="in_channels"):
        WorldMemTransformer(base_config=tiny_base(in_channels=5), latent_channels=C)
    with pytest.raises(FileNotFoundError, match="no transformer config.json"):
        WorldMemTransformer.from_cogvideox(base_dir.parent / "missing")


@pytest.mark.parametrize("mode", ["controlnet", "concat", "both", "none"])
def test_tiny_config_shapes_for_every_combination_of_paths(mode):
    import itertools

    torch.manual_seed(0)
    model = WorldMemTransformer(spatial_mode=mode).eval()  # the tiny config: 32x32 RGB-D, patch 4
    g = torch.Generator().manual_seed(0)
    b, f, fw, k, s = 2, 4, 2, 3, 32
    x = torch.randn(b, f, 4, s, s, generator=g)
    full = dict(working=torch.randn(b, fw, 4, s, s, generator=g), spatial=torch.randn(b, f, 5, s, s, generator=g),
                keyframes=torch.randn(b, k, 4, s, s, generator=g), keyframe_plucker=torch.randn(b, k, 6, s, s, generator=g),
                keyframe_mask=torch.ones(b, k, dtype=torch.bool))
    with torch.no_grad():
        for use_w, use_s, use_k, use_c in itertools.product([False, True], repeat=4):
            kw = {}
            if use_w:
                kw["working"] = full["working"]
            if use_s:
                kw["spatial"] = full["spatial"]
            if use_k:
                kw.update(keyframes=full["keyframes"], keyframe_plucker=full["keyframe_plucker"],
                          keyframe_mask=full["keyframe_mask"])
            if use_c:
                kw["plucker"] = torch.randn(b, f + (fw if use_w else 0), 6, s, s, generator=g)
            out = model(x, torch.tensor([3, 900]), **kw).sample
            assert out.shape == (b, f, 4, s, s) and torch.isfinite(out).all(), (use_w, use_s, use_k, use_c)


@pytest.mark.parametrize("backbone", ["cogvideox", "wan"])
def test_memory_encoded_once_gives_the_same_output_at_every_timestep(backbone):
    """A sampler encodes the memory once per chunk (encode_memory) and passes it to every step: bit-for-bit the
    output of the forward pass given the memory's inputs, whatever the noisy latents and the timestep."""
    torch.manual_seed(0)
    model = WorldMemTransformer(backbone=backbone, spatial_mode="both", num_control_layers=2, keyframe_every=2).eval()
    perturb_zero_layers(model)
    g = torch.Generator().manual_seed(3)
    b, f, fw, k, s = 2, 4, 2, 3, 32
    memory = dict(working=torch.randn(b, fw, 4, s, s, generator=g), spatial=torch.randn(b, f, 5, s, s, generator=g),
                  keyframes=torch.randn(b, k, 4, s, s, generator=g),
                  keyframe_plucker=torch.randn(b, k, 6, s, s, generator=g),
                  keyframe_mask=torch.tensor([[True, True, False], [False, False, False]]),
                  plucker=torch.randn(b, fw + f, 6, s, s, generator=g))
    with torch.no_grad():
        encoded = model.encode_memory((b, f, s, s), **memory)
        assert set(encoded.keyframes) == set(model.keyframe_attn) and encoded.control is not None
        assert len(encoded.added) == 3  # working mask, camera, spatial concat
        for t in (900, 20):
            x = torch.randn(b, f, 4, s, s, generator=g)
            given = model(x, torch.tensor([t, t]), **memory).sample
            assert torch.equal(model(x, torch.tensor([t, t]), memory=encoded).sample, given)
        with pytest.raises(ValueError, match="memory: expected either encoded memory or its inputs"):
            model(x, torch.tensor([1, 1]), memory=encoded, working=memory["working"])
        with pytest.raises(ValueError, match=r"memory: encoded for latents \(2, 4, 32, 32\)"):
            model(x[:, :3], torch.tensor([1, 1]), memory=encoded)
        with pytest.raises(ValueError, match="plucker: expected shape"):
            model.encode_memory((b, f, s, s), **dict(memory, plucker=memory["plucker"][:, 1:]))
