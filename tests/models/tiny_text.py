"""A tiny random T5 encoder and a word-level tokenizer, built and saved by the test (nothing is downloaded).

``save_tiny_text_encoder(folder)`` writes ``folder/text_encoder`` (transformers ``T5EncoderModel``) and
``folder/tokenizer`` (a ``PreTrainedTokenizerFast`` over a ``tokenizers`` WordLevel model that, like T5's,
appends ``</s>`` and pads with ``<pad>`` = id 0), the layout a CogVideoX pipeline folder has.
"""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("a red blue green room hall with chair table lamp walk through the slowly around of and bright dark "
         "wooden stone garden").split()
D_MODEL = 8


def save_tiny_text_encoder(folder: Path, d_model: int = D_MODEL, seed: int = 0, umt5: bool = False) -> Path:
    """``umt5``: a ``UMT5EncoderModel`` (Wan's text encoder) instead of a ``T5EncoderModel`` (CogVideoX's)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(str(folder / "tokenizer"))
    torch.manual_seed(seed)
    config_class, model_class = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    config = config_class(vocab_size=len(vocab), d_model=d_model, d_kv=4, d_ff=16, num_layers=1, num_heads=2,
                          pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    model_class(config).save_pretrained(str(folder / "text_encoder"))
    return folder
