"""Training on captions (model.text_encoder, dropout.text): stored or encoded embeddings, dropout, the saved
pipeline's text encoder, one-line errors."""

import json
from pathlib import Path

import pytest
import torch

from data_curation.build import run_build
from tests.models.tiny_text import save_tiny_text_encoder
from train.config import ConfigError, load_config
from train.loop import build_model, train, training_loss
from train.text import TrainText
from worldmem.data import ShardDataset, load_curation_config
from worldmem.data.readers.synthetic import clip_id_of
from worldmem.models.text import encode_prompts, load_text_encoder
from worldmem.pipelines import default_scheduler, load_pipeline
from worldmem.utils.seeding import torch_generator

ROOT = Path(__file__).resolve().parents[2]
L, D = 4, 16
CURATION = ("image_size: [16, 16]\ntarget_frames: 2\nworking_frames: 2\nmax_keyframes: 2\nvoxel_size: 0.08\n"
            "synthetic_frames: 12\nsource_frames: 8\nmin_source_frames: 4\nsamples_per_clip: 1\n"
            "synthetic_supersample: 1\nclips_per_shard: 2\n")
TEXT = ["model.base_config.num_layers=1", "model.base_config.num_attention_heads=1",
        "model.base_config.attention_head_dim=16", "model.base_config.time_embed_dim=16",
        "model.base_config.sample_height=16", "model.base_config.sample_width=16", "model.num_control_layers=1",
        "model.keyframe_every=1", f"model.base_config.max_text_seq_length={L}", f"model.base_config.text_embed_dim={D}",
        "generation.chunk_size=2", "optim.batch_size=2", "optim.warmup_steps=1", "validate_every=1000", "log_every=1",
        "generation.num_inference_steps=1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny T5 of width 16; shards of two clips, the first captioned (and embedded), the second not."""
    root = tmp_path_factory.mktemp("train_text")
    text_dir = save_tiny_text_encoder(root / "t5", d_model=D)
    (root / "curation.yaml").write_text(CURATION)
    (root / "captions.json").write_text(json.dumps({clip_id_of(0): "a red room with a chair"}))
    run_build(["synthetic:2"], root / "shards", load_curation_config(root / "curation.yaml"), progress=False,
              captions=root / "captions.json", text_encoder=text_dir, text_max_length=L)
    return root


def configure(setup, *extra):
    return load_config(ROOT / "configs" / "tiny.yaml", TEXT + [
        f"output_dir={setup}/run", f"data.curation={setup}/curation.yaml", "data.source=shards",
        f"data.shards={setup}/shards", f"model.text_encoder={setup}/t5", *extra])


def test_captions_condition_the_loss_and_dropout_gives_the_empty_prompt(setup):
    cfg = configure(setup)
    torch.manual_seed(0)
    model, codec = build_model(cfg)
    samples = sorted(ShardDataset(setup / "shards", shuffle=False), key=lambda s: s.key)
    assert samples[0].text_embedding is not None and samples[1].caption is None
    text = TrainText(cfg.model.text_encoder, model)
    encoder, tokenizer = load_text_encoder(setup / "t5")
    caption, empty = encode_prompts(encoder, tokenizer, ["a red room with a chair", ""], L)
    batch = text.batch(samples, False, "cpu", torch.float32)
    assert torch.equal(batch[0], samples[0].text_embedding) and torch.equal(batch[0], caption)
    assert torch.equal(batch[1], empty)  # no caption: the empty prompt
    dropped = text.batch(samples, True, "cpu", torch.float32)
    assert torch.equal(dropped, empty.expand(2, L, D))

    def loss(p_text, with_text=True):
        d = configure(setup, f"dropout.text={p_text}", "dropout.spatial=0", "dropout.episodic=0", "dropout.working=0")
        return training_loss(model, codec, default_scheduler(), samples, d, torch_generator("train_noise", 0, 0, 0),
                             torch_generator("train_paths", 0, 0), text if with_text else None)

    assert loss(0) != loss(1) and loss(0) != loss(0, with_text=False)
    assert loss(1) == loss(1)
    samples[0].text_embedding = samples[0].text_embedding[:2]
    with pytest.raises(ValueError, match=r"text.embedding: expected shape \(4, 16\) .* got \(2, 16\); curate with "
                                         r"--text-max-length 4$"):
        text.batch(samples, False, "cpu", torch.float32)


def test_training_saves_a_pipeline_that_takes_prompts(setup, tmp_path):
    cfg = configure(setup, f"output_dir={tmp_path}", "optim.steps=1", "checkpoint_every=1")
    pipe = load_pipeline(train(cfg, quiet=True))
    assert pipe.text_encoder is not None and pipe.tokenizer is not None
    expected = encode_prompts(*load_text_encoder(setup / "t5"), ["a red room"], L)
    assert torch.equal(pipe.encode_prompt("a red room"), expected)  # the configured encoder, saved with the model


def test_a_text_encoder_that_does_not_fit_is_a_one_line_error(setup, tmp_path):
    with pytest.raises(ConfigError, match="model.text_encoder: expected a local folder with text_encoder/"):
        configure(setup, f"model.text_encoder={tmp_path}")
    save_tiny_text_encoder(tmp_path / "narrow", d_model=8)
    cfg = configure(setup, f"model.text_encoder={tmp_path / 'narrow'}")
    model, _ = build_model(cfg)
    with pytest.raises(ValueError, match=r"^model.text_encoder: .*narrow: expected a T5 encoder of width 16 .* got "
                                         r"d_model 8$"):
        TrainText(cfg.model.text_encoder, model)
