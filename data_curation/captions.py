"""Captions for curation: a captions file read into ``{clip_id: caption}``, and caption embeddings for samples.

``--captions FILE`` is either a ``.json`` object ``{"<clip_id>": "<caption>", ...}`` or a ``.jsonl`` file of rows
``{"clip_id": ..., "caption": ...}``. A clip id is the one its reader gives (``manifest.jsonl``'s ``clip_id``; for
synthetic scenes ``clip_id_of(seed)``); a caption from the file replaces one from the source's own metadata
(e.g. nerfstudio's ``transforms.json`` ``caption``). Clips without a caption have none: training gives them the
empty prompt.

``--text-encoder DIR`` also stores each captioned sample's prompt embedding (``text.embedding`` (L, D), L =
``--text-max-length``, the transformer's ``max_text_seq_length``: 226 for CogVideoX), computed once per caption in
the main process, so that training does not run the text encoder per step (docs/prompts.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from worldmem.data.sample import TrainingSample

__all__ = ["read_captions", "CaptionEmbedder"]


def read_captions(path: str | Path) -> dict[str, str]:
    """``{clip_id: caption}`` from a ``.json`` object or ``.jsonl`` rows; one-line ``ValueError`` naming the file."""
    path = Path(path)
    where = f"--captions {path}"
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{where}: not readable ({' '.join(str(err).split())[:120]})") from None
    try:
        if path.suffix == ".jsonl":
            rows = [(i + 1, json.loads(line)) for i, line in enumerate(text.splitlines()) if line.strip()]
        else:
            rows = [(None, json.loads(text))]
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err})") from None
    captions: dict[str, str] = {}
    if path.suffix != ".jsonl":
        value = rows[0][1]
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a JSON object {{clip_id: caption}}, got {type(value).__name__}")
        rows = [(None, {"clip_id": k, "caption": v}) for k, v in value.items()]
    for line, row in rows:
        at = f"{where}" + (f": line {line}" if line else "")
        if not isinstance(row, dict) or not isinstance(row.get("clip_id"), str) or not isinstance(row.get("caption"), str):
            raise ValueError(f"{at}: expected a string clip_id and a string caption, got {row!r}"[:300])
        if row["clip_id"] in captions:
            raise ValueError(f"{at}: clip_id {row['clip_id']!r} appears twice")
        captions[row["clip_id"]] = row["caption"]
    return captions


class CaptionEmbedder:
    """Adds ``text.embedding`` to the curated samples that have a caption (the text encoder loads on first use).

    Args:
        path: a local folder with ``text_encoder/`` and ``tokenizer/``.
        max_length: tokens per caption (the transformer's ``max_text_seq_length``).
    """

    def __init__(self, path: str | Path, max_length: int):
        if max_length < 1:
            raise ValueError(f"--text-max-length: expected an int >= 1, got {max_length}")
        if not Path(path).is_dir():
            raise ValueError(f"--text-encoder: no such folder {path} (expected text_encoder/ and tokenizer/)")
        self.path, self.max_length, self._cache = Path(path), int(max_length), None

    def load(self):
        """The prompt cache (loads the text encoder the first time; one-line errors name --text-encoder)."""
        if self._cache is None:
            from worldmem.models.text import PromptCache, load_text_encoder

            try:
                self._cache = PromptCache(*load_text_encoder(self.path), self.max_length)
            except ValueError as err:
                raise ValueError(f"--text-encoder: {err}") from None
        return self._cache

    def __call__(self, result: dict) -> dict:
        """A :func:`~data_curation.build.curate_clip` result with its captioned samples' bytes re-made."""
        samples = []
        for key, files, row in result["samples"]:
            if "caption" in row:
                sample = TrainingSample.from_bytes(files)
                sample.text_embedding = self.load()(sample.caption).detach().cpu().contiguous()
                files = sample.to_bytes()
            samples.append((key, files, row))
        return {**result, "samples": samples}
