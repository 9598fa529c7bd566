"""Prompt embeddings (worldmem.models.text) and the zero-initialisation property with a prompt."""

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel

from tests.models.tiny_text import D_MODEL, save_tiny_text_encoder
from worldmem.models import WorldMemTransformer
from worldmem.models.text import PromptCache, encode_prompts, load_text_encoder

C, H, W, L = 4, 16, 16, 6


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return save_tiny_text_encoder(tmp_path_factory.mktemp("t5"))


@pytest.fixture(scope="module")
def text(text_dir):
    return load_text_encoder(text_dir)


def test_prompts_are_padded_t5_embeddings_as_diffusers_cogvideox_makes_them(text):
    encoder, tokenizer = text
    emb = encode_prompts(encoder, tokenizer, ["a red room", "", "a red room with a blue chair and a lamp"], L)
    assert emb.shape == (3, L, D_MODEL) and emb.dtype == torch.float32
    # Special tokens, padding to exactly L and truncation; the encoder sees the ids alone (no attention mask).
    ids = tokenizer(["a red room"], padding="max_length", max_length=L, truncation=True, return_tensors="pt").input_ids
    assert ids.tolist() == [[3, 4, 7, 1, 0, 0]]
    # The same ids through the encoder alone; a batch of one and of three sum in different blocks, so the two agree
    # to float32 rounding, not bit for bit.
    torch.testing.assert_close(emb[:1], encoder(ids)[0], rtol=1e-5, atol=1e-6)
    assert (emb[0] - emb[1]).abs().max() > 1e-3  # the empty prompt is </s> + padding, not the same text
    long = tokenizer(["a red room with a blue chair and a lamp"], padding="max_length", max_length=L,
                     truncation=True, return_tensors="pt").input_ids
    assert long.shape == (1, L) and long[0, -1] == 1  # truncated, still ends with </s>


def test_the_cache_encodes_each_prompt_once(text):
    encoder, tokenizer = text
    calls = []
    handle = encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    try:
        cache = PromptCache(encoder, tokenizer, L)
        a = cache("a red room")
        assert torch.equal(cache("a red room"), a) and len(calls) == 1
        both = cache.batch(["a red room", "a dark hall"])
        assert both.shape == (2, L, D_MODEL) and len(calls) == 2 and len(cache) == 2
    finally:
        handle.remove()
    with pytest.raises(ValueError, match="^prompt: expected a string, got int$"):
        cache(3)


def test_a_missing_text_encoder_is_a_one_line_error(tmp_path, text_dir):
    with pytest.raises(ValueError, match=f"^text encoder {tmp_path / 'nowhere'}: no such folder") as info:
        load_text_encoder(tmp_path / "nowhere")
    assert "\n" not in str(info.value)
    (tmp_path / "half" / "text_encoder").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"half: missing text_encoder/config.json"):
        load_text_encoder(tmp_path / "half")
    encoder, _ = load_text_encoder(text_dir / "text_encoder")  # the text_encoder folder itself works too
    assert encoder.config.d_model == D_MODEL


def tiny_text_base(rotary: bool) -> dict:
    return dict(num_attention_heads=2, attention_head_dim=16, in_channels=2 * C, out_channels=C, time_embed_dim=32,
                text_embed_dim=D_MODEL, num_layers=2, sample_width=W, sample_height=H, sample_frames=3, patch_size=4,
                temporal_compression_ratio=1, max_text_seq_length=L, use_rotary_positional_embeddings=rotary)


@pytest.mark.parametrize("rotary", [True, False])
def test_with_a_prompt_and_memory_off_the_model_equals_the_base_model(tmp_path, text, rotary):
    encoder, tokenizer = text
    torch.manual_seed(0)
    base = CogVideoXTransformer3DModel(**tiny_text_base(rotary)).eval()
    base.save_pretrained(tmp_path / "transformer")
    model = WorldMemTransformer.from_cogvideox(tmp_path, spatial_mode="both", num_control_layers=1,
                                               keyframe_every=1).eval()
    prompts = encode_prompts(encoder, tokenizer, ["a red room with a chair", "a dark stone hall"], L)
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 3, C, H, W, generator=g), torch.tensor([20, 800])
    with torch.no_grad():
        ours = model(x, t, encoder_hidden_states=prompts).sample
        rope = model._rotary(3, H, W, "cpu")
        ref = base(torch.cat([x, torch.zeros_like(x)], dim=2), prompts, t, image_rotary_emb=rope).sample
        other = model(x, t, encoder_hidden_states=prompts.flip(0)).sample
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert (ours - other).abs().max() > 1e-4  # the prompt reaches the output


def test_text_of_the_wrong_shape_is_a_one_line_error():
    torch.manual_seed(0)
    model = WorldMemTransformer(base_config=tiny_text_base(rotary=False), latent_channels=C, keyframe_every=0).eval()
    x, t = torch.zeros(1, 3, C, H, W), torch.tensor([5])
    with pytest.raises(ValueError, match=r"^encoder_hidden_states: expected shape \(1, \?, 8\), got \(1, 6, 4\)$"):
        model(x, t, encoder_hidden_states=torch.zeros(1, L, 4))
    with pytest.raises(ValueError, match="^encoder_hidden_states: expected 6 text tokens"):
        model(x, t, encoder_hidden_states=torch.zeros(1, 3, D_MODEL))
