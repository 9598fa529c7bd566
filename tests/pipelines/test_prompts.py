"""Prompts in the pipeline: text encoder components, cached embeddings, text guidance, save/load, errors."""

import pytest
import torch

from tests.models.tiny_text import D_MODEL, save_tiny_text_encoder
from tests.pipelines.conftest import room_world
from tests.pipelines.test_pipeline import MEMORY, make_pipe, run
from worldmem.models import PixelCodec, WorldMemTransformer
from worldmem.models.text import load_text_encoder
from worldmem.models.tiny import wake_zero_initialised
from worldmem.pipelines import WorldMemPipeline, default_scheduler, load_pipeline

S, L = 16, 5
TEXT_BASE = dict(num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=32,
                 text_embed_dim=D_MODEL, num_layers=2, sample_width=S, sample_height=S, sample_frames=4, patch_size=4,
                 temporal_compression_ratio=1, max_text_seq_length=L, use_rotary_positional_embeddings=True)


@pytest.fixture(scope="module")
def world():
    return room_world(6, S)  # the shared room, a shorter path


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return save_tiny_text_encoder(tmp_path_factory.mktemp("t5"))


def text_pipe(text_dir, seed=0) -> WorldMemPipeline:
    torch.manual_seed(seed)
    model = WorldMemTransformer(base_config=TEXT_BASE, latent_channels=4, spatial_mode="both", num_control_layers=1,
                                keyframe_every=1).eval()
    wake_zero_initialised(model, torch.Generator().manual_seed(seed + 1), 0.05)
    encoder, tokenizer = load_text_encoder(text_dir)
    return WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=MEMORY, chunk_size=2,
                            working_window=2, text_encoder=encoder, tokenizer=tokenizer)


def test_the_prompt_conditions_every_chunk_and_is_encoded_once(world, text_dir):
    pipe = text_pipe(text_dir)
    seen = []
    handle = pipe.text_encoder.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    try:
        a = run(pipe, world, n=6, prompt="a red room with a chair")
        b = run(pipe, world, n=4, prompt="a red room with a chair")
        assert len(seen) == 1  # two calls, three chunks: one encoding
        other = run(pipe, world, n=4, prompt="a dark stone hall")
        empty = run(pipe, world, n=4, prompt="")
        none = run(pipe, world, n=4)
    finally:
        handle.remove()
    assert torch.equal(a.frames[:4], b.frames)
    assert (b.frames[2:] - other.frames[2:]).abs().max() > 1e-3
    assert torch.equal(none.frames, empty.frames)  # no prompt is the empty prompt, not zero text tokens
    assert len(seen) == 3


def test_text_guidance_is_separate_from_memory_guidance(world, text_dir):
    pipe = text_pipe(text_dir)
    calls = []
    forward = pipe.transformer.forward

    def spy(*args, **kwargs):
        # (the memory comes encoded once per chunk; the render is read when its control tokens are there)
        calls.append((kwargs["encoder_hidden_states"].clone(), kwargs["memory"].control is not None))
        return forward(*args, **kwargs)

    pipe.transformer.forward = spy
    prompt, negative = pipe.encode_prompt("a red room"), pipe.encode_prompt("a dark hall")
    plain = run(pipe, world, n=4, prompt="a red room")
    assert len(calls) == 2  # one chunk after the two given frames, two steps, one pass each
    calls.clear()
    both = run(pipe, world, n=4, prompt="a red room", negative_prompt="a dark hall", guidance_scale=2.0,
               text_guidance_scale=3.0)
    # Per step: the conditional pass, memory dropped with the prompt kept, the negative prompt with memory kept.
    assert [(torch.equal(t, prompt), torch.equal(t, negative), sp) for t, sp in calls[:3]] == [
        (True, False, True), (True, False, False), (False, True, True)]
    assert len(calls) == 2 * 3
    text_only = run(pipe, world, n=4, prompt="a red room", text_guidance_scale=3.0)
    assert not torch.equal(plain.frames, text_only.frames) and not torch.equal(both.frames, text_only.frames)


def test_save_and_load_keep_the_text_encoder(world, text_dir, tmp_path):
    pipe = text_pipe(text_dir)
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = load_pipeline(tmp_path / "pipe")
    assert loaded.text_encoder is not None and loaded.tokenizer is not None
    a = run(pipe, world, n=4, prompt="a green garden", text_guidance_scale=2.0)
    b = run(loaded, world, n=4, prompt="a green garden", text_guidance_scale=2.0)
    torch.testing.assert_close(a.frames, b.frames, rtol=0, atol=0)
    import shutil

    shutil.rmtree(tmp_path / "pipe" / "tokenizer")
    with pytest.raises(ValueError, match=r"pipe: tokenizer/: missing \(model_index.json lists it\)$"):
        load_pipeline(tmp_path / "pipe")


def test_without_a_text_encoder_prompts_are_one_line_errors(world):
    pipe = make_pipe()
    assert pipe.text_encoder is None and pipe.tokenizer is None
    for kwargs, name in ((dict(prompt="a room"), "prompt"), (dict(negative_prompt="dark"), "negative_prompt"),
                         (dict(text_guidance_scale=2.0), "text_guidance_scale")):
        with pytest.raises(ValueError, match=f"^{name}: this pipeline has no text encoder") as info:
            run(pipe, world, n=4, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="^prompt: this pipeline has no text encoder"):
        pipe.encode_prompt("a room")


def test_a_text_encoder_must_fit_the_transformer(text_dir, world):
    encoder, tokenizer = load_text_encoder(text_dir)
    with pytest.raises(ValueError, match="takes no text tokens"):  # the tiny test model: max_text_seq_length 0
        make_pipe().set_text_encoder(encoder, tokenizer)
    pipe = text_pipe(text_dir)
    with pytest.raises(ValueError, match="^text_encoder, tokenizer: expected both or neither$"):
        pipe.set_text_encoder(encoder, None)
    wide = dict(TEXT_BASE, text_embed_dim=12)
    model = WorldMemTransformer(base_config=wide, latent_channels=4, keyframe_every=0)
    with pytest.raises(ValueError, match="^text_encoder: its width d_model 8 is not the transformer's text_embed_dim 12$"):
        WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=MEMORY, text_encoder=encoder,
                         tokenizer=tokenizer)
    for kwargs, name in ((dict(prompt=3), "prompt: expected a string"),
                         (dict(prompt="a", negative_prompt="b"), "negative_prompt: only read by text guidance"),
                         (dict(prompt="a", text_guidance_scale=0.5), "text_guidance_scale: expected")):
        with pytest.raises(ValueError, match=f"^{name}"):
            run(pipe, world, n=4, **kwargs)
