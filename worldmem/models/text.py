"""Prompts: a T5 or umT5 text encoder and its tokenizer from a local folder, and prompt embeddings cached per prompt.

The conventions are those of diffusers' pipelines (``_get_t5_prompt_embeds``), so that a model built
``from_cogvideox`` or ``from_wan`` sees text as its base model was trained with it. For a T5 encoder
(CogVideoX's):

- a prompt is tokenised with the tokenizer's special tokens (T5 appends ``</s>``), padded with ``<pad>`` to
  exactly ``max_length`` tokens and truncated there (``max_length`` is the transformer's
  ``max_text_seq_length``: 226 for CogVideoX);
- the encoder runs on the token ids alone (no attention mask: the padding is encoded too) and its last hidden
  state is the embedding, (``max_length``, ``d_model``) per prompt, ``d_model`` being the transformer's
  ``text_embed_dim``;
- "no prompt" is the empty prompt ``""`` (only ``</s>`` and padding), never zero tokens: the unconditional
  branch of text guidance and text dropout in training both use it.

For a umT5 encoder (Wan's, ``model_type`` "umt5"; 512 tokens), as diffusers' Wan pipelines do: the encoder runs
with the attention mask, and the embeddings of the padding are set to zero (the prompt's own tokens, ``</s>``
included, keep theirs).

On disk a text encoder is a folder with ``text_encoder/`` (a transformers ``T5EncoderModel`` or
``UMT5EncoderModel``) and ``tokenizer/`` (any transformers tokenizer), as a CogVideoX or Wan pipeline folder or
a saved WorldMemPipeline has them. Nothing is downloaded: paths are local, loaded with ``local_files_only``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["load_text_encoder", "encode_prompts", "PromptCache", "check_text_encoder", "EMPTY_PROMPT"]

EMPTY_PROMPT = ""
"""The prompt that stands for "no prompt" (diffusers' default negative prompt)."""


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ValueError("text_encoder: needs the transformers package (pip install -e '.[text]')") from None
    return transformers


def load_text_encoder(path: str | os.PathLike, dtype: torch.dtype | None = None):
    """``(text_encoder, tokenizer)`` from ``path/text_encoder`` and ``path/tokenizer``.

    ``path`` may also be the ``text_encoder`` folder itself when ``tokenizer/`` is its sibling. Raises a one-line
    ``ValueError`` naming the path when either is missing or unreadable.
    """
    path = Path(path)
    if path.name == "text_encoder" and (path.parent / "tokenizer").is_dir():
        path = path.parent
    if not path.is_dir():
        raise ValueError(f"text encoder {path}: no such folder (expected a folder with text_encoder/ and tokenizer/)")
    for sub, marker in (("text_encoder", "config.json"), ("tokenizer", None)):
        if not (path / sub).is_dir() or (marker and not (path / sub / marker).is_file()):
            raise ValueError(f"text encoder {path}: missing {sub}/{marker or ''} (expected a folder with "
                             "text_encoder/ and tokenizer/, e.g. a CogVideoX pipeline folder)")
    tf = _transformers()
    verbosity = tf.logging.get_verbosity()
    tf.logging.set_verbosity_error()
    tf.logging.disable_progress_bar()
    try:
        umt5 = '"umt5"' in (path / "text_encoder" / "config.json").read_text(encoding="utf-8", errors="replace")
        encoder_class = tf.UMT5EncoderModel if umt5 else tf.T5EncoderModel
        encoder = encoder_class.from_pretrained(str(path / "text_encoder"), local_files_only=True)
        tokenizer = tf.AutoTokenizer.from_pretrained(str(path / "tokenizer"), local_files_only=True)
    except Exception as err:  # noqa: BLE001 - transformers raises many types for a broken folder: one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(f"text encoder {path}: could not load it ({first[:200]})") from None
    finally:
        tf.logging.set_verbosity(verbosity)
        tf.logging.enable_progress_bar()
    if dtype is not None:
        encoder = encoder.to(dtype)
    return encoder.eval().requires_grad_(False), tokenizer


def check_text_encoder(text_encoder, tokenizer, max_length: int, embed_dim: int) -> None:
    """Raises a one-line ``ValueError`` unless the encoder fits a transformer that takes ``max_length`` text
    tokens of width ``embed_dim`` (``max_text_seq_length`` and ``text_embed_dim`` of its base config)."""
    if tokenizer is None or text_encoder is None:
        raise ValueError("text_encoder, tokenizer: expected both or neither")
    if max_length < 1:
        raise ValueError("text_encoder: the transformer takes no text tokens (max_text_seq_length 0); use a model "
                         "built with text (e.g. from_cogvideox) or no text encoder")
    width = getattr(text_encoder.config, "d_model", None)
    if width != embed_dim:
        raise ValueError(f"text_encoder: its width d_model {width} is not the transformer's text_embed_dim {embed_dim}")


@torch.no_grad()
def encode_prompts(text_encoder, tokenizer, prompts: list[str], max_length: int) -> torch.Tensor:
    """(N, max_length, d_model) embeddings of ``prompts`` (on the encoder's device, in its dtype)."""
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompts: expected a list of strings, got {prompts!r}"[:200])
    tokens = tokenizer(list(prompts), padding="max_length", max_length=max_length, truncation=True,
                       add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids = tokens.input_ids.to(text_encoder.device)
    if getattr(text_encoder.config, "model_type", "") != "umt5":
        return text_encoder(ids)[0]
    mask = tokens.attention_mask.to(text_encoder.device)
    embeddings = text_encoder(ids, attention_mask=mask)[0]
    return embeddings * mask[..., None].to(embeddings.dtype)


class PromptCache:
    """Embeddings computed once per prompt: ``cache(prompt)`` -> (max_length, d_model).

    Args:
        text_encoder, tokenizer: as :func:`load_text_encoder` returns them.
        max_length: tokens per prompt (the transformer's ``max_text_seq_length``).
    """

    def __init__(self, text_encoder, tokenizer, max_length: int):
        self.text_encoder, self.tokenizer, self.max_length = text_encoder, tokenizer, int(max_length)
        self._cache: dict[str, torch.Tensor] = {}

    def __call__(self, prompt: str) -> torch.Tensor:
        if not isinstance(prompt, str):
            raise ValueError(f"prompt: expected a string, got {type(prompt).__name__}")
        if prompt not in self._cache:
            self._cache[prompt] = encode_prompts(self.text_encoder, self.tokenizer, [prompt], self.max_length)[0]
        return self._cache[prompt]

    def batch(self, prompts: list[str]) -> torch.Tensor:
        """(N, max_length, d_model) for a list of prompts (each encoded once)."""
        return torch.stack([self(p) for p in prompts])

    def __len__(self) -> int:
        return len(self._cache)
