"""Prompt embeddings of training batches (``model.text_encoder``; docs/prompts.md).

Each sample is conditioned on its caption: the embedding curation stored with it (``text.embedding``) when there
is one, else its caption (``meta["caption"]``) encoded here, once per caption; a sample without a caption gets
the empty prompt. Text dropout (``dropout.text``, drawn once per step like the memory paths) replaces the whole
batch's text with the empty prompt's embedding, the unconditional branch of text guidance at sampling time.

The text encoder is loaded on first use and kept (the empty prompt needs it even when every sample stores its
embedding); without ``model.text_encoder`` the model gets no text tokens, as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from worldmem.models.text import EMPTY_PROMPT, PromptCache, check_text_encoder, load_text_encoder

__all__ = ["TrainText"]


class TrainText:
    """The text of training batches for ``model`` (a :class:`~worldmem.models.WorldMemTransformer`).

    Args:
        path: ``model.text_encoder``, a local folder with ``text_encoder/`` and ``tokenizer/``.
        model: the transformer; its base config fixes the text length and width.
    """

    def __init__(self, path: str, model):
        adapter = model.adapter
        self.path, self.length, self.width = Path(path), int(adapter.text_length), int(adapter.text_dim)
        try:  # the widths agree before any step (the config alone; the weights load on first use)
            d_model = json.loads((self.path / "text_encoder" / "config.json").read_text()).get("d_model")
        except (OSError, ValueError):
            d_model = None
        if self.length < 1 or d_model != self.width:
            raise ValueError(f"model.text_encoder: {path}: expected a T5 encoder of width {self.width} for a model that "
                             f"takes text (max_text_seq_length {self.length}, text_embed_dim {self.width}), got "
                             f"d_model {d_model}")
        self._prompts: PromptCache | None = None

    def components(self) -> tuple:
        """``(text_encoder, tokenizer)``, loaded the first time."""
        if self._prompts is None:
            try:
                encoder, tokenizer = load_text_encoder(self.path)
                check_text_encoder(encoder, tokenizer, self.length, self.width)
            except ValueError as err:
                raise ValueError(f"model.text_encoder: {err}") from None
            self._prompts = PromptCache(encoder, tokenizer, self.length)
        return self._prompts.text_encoder, self._prompts.tokenizer

    def _embed(self, prompt: str) -> torch.Tensor:
        self.components()
        return self._prompts(prompt)

    def batch(self, samples: list, drop: bool, device, dtype) -> torch.Tensor:
        """(B, L, D) text of ``samples`` (all the empty prompt when ``drop``)."""
        rows = []
        for s in samples:
            if drop:
                rows.append(self._embed(EMPTY_PROMPT))
            elif s.text_embedding is not None:
                if tuple(s.text_embedding.shape) != (self.length, self.width):
                    raise ValueError(f"sample {s.meta.get('key')}: text.embedding: expected shape "
                                     f"{(self.length, self.width)} (the model's max_text_seq_length, text_embed_dim), "
                                     f"got {tuple(s.text_embedding.shape)}; curate with --text-max-length {self.length}")
                rows.append(s.text_embedding)
            else:
                rows.append(self._embed(s.caption if s.caption is not None else EMPTY_PROMPT))
        return torch.stack([r.to(device, dtype) for r in rows])
