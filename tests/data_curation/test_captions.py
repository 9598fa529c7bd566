"""Captions in curation: a captions file, the source's own caption, stored embeddings, one-line errors."""

import json

import pytest
import torch

from data_curation.build import run_build
from data_curation.captions import read_captions
from tests.data_curation.test_build import TINY
from tests.models.tiny_text import save_tiny_text_encoder
from worldmem.data import ShardDataset, load_curation_config
from worldmem.data.readers.synthetic import clip_id_of
from worldmem.models.text import encode_prompts, load_text_encoder

L = 5


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    p.write_text(TINY)
    return load_curation_config(p)


def samples_of(out):
    return {s.key: s for s in ShardDataset(out, shuffle=False)}


def test_captions_and_their_embeddings_are_stored_per_clip(config, tmp_path):
    text_dir = save_tiny_text_encoder(tmp_path / "t5")
    captions = tmp_path / "captions.jsonl"
    captions.write_text(json.dumps({"clip_id": clip_id_of(0), "caption": "a red room with a chair"}) + "\n"
                        + json.dumps({"clip_id": "not-in-this-build", "caption": "a hall"}) + "\n")
    plain = run_build(["synthetic:2"], tmp_path / "plain", config, progress=False)
    res = run_build(["synthetic:2"], tmp_path / "text", config, progress=False, captions=captions,
                    text_encoder=text_dir, text_max_length=L)
    assert res.samples == plain.samples == 2
    before, after = samples_of(tmp_path / "plain"), samples_of(tmp_path / "text")
    first, second = sorted(after)
    assert after[first].caption == "a red room with a chair" and after[second].caption is None
    encoder, tokenizer = load_text_encoder(text_dir)
    expected = encode_prompts(encoder, tokenizer, ["a red room with a chair"], L)[0]
    assert torch.equal(after[first].text_embedding, expected) and after[second].text_embedding is None
    assert after[second].equals(before[second])  # a clip without a caption: the same bytes as before
    rows = [json.loads(r) for r in (tmp_path / "text" / "manifest.jsonl").read_text().splitlines()]
    assert [r.get("caption") for r in rows] == ["a red room with a chair", None]
    plan = json.loads((tmp_path / "text" / "plan.json").read_text())
    assert plan["captions"] == {clip_id_of(0): "a red room with a chair"} and plan["text"]["max_length"] == L
    # The same folder with other captions is another plan: refused, not mixed.
    captions.write_text(json.dumps({"clip_id": clip_id_of(0), "caption": "a dark hall"}) + "\n")
    with pytest.raises(ValueError, match="holds a build with different sources"):
        run_build(["synthetic:2"], tmp_path / "text", config, progress=False, captions=captions,
                  text_encoder=text_dir, text_max_length=L)


def test_a_nerfstudio_caption_is_the_clips_caption(tmp_path):
    from tests.data import fixtures
    from worldmem.data import READERS
    from worldmem.data.clip import ClipError

    cfg = load_curation_config(None)
    frames, depth, cams = fixtures.rendered(10, 16, 16)
    scene = tmp_path / "scene"
    fixtures.write_nerfstudio(scene, frames, depth, cams)
    data = json.loads((scene / "transforms.json").read_text())
    (scene / "transforms.json").write_text(json.dumps({**data, "caption": "a wooden table"}))
    ref = READERS["nerfstudio"].list_clips(str(scene))[0]
    clip = READERS["nerfstudio"].load_clip(ref, cfg)
    assert clip.meta["caption"] == "a wooden table"
    (scene / "transforms.json").write_text(json.dumps({**data, "caption": 3}))
    with pytest.raises(ClipError, match="^transforms.json: caption: expected a string, got int$"):
        READERS["nerfstudio"].load_clip(ref, cfg)


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "expected a JSON object {clip_id: caption}, got list"),
    ('{"a": 3}', "expected a string clip_id and a string caption"),
    ("{", "not valid JSON"),
])
def test_bad_captions_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "captions.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^--captions {path}: ") as info:
        read_captions(path)
    assert message in str(info.value) and "\n" not in str(info.value)
    rows = tmp_path / "c.jsonl"
    rows.write_text('{"clip_id": "a", "caption": "x"}\n{"clip_id": "a", "caption": "y"}\n')
    with pytest.raises(ValueError, match="line 2: clip_id 'a' appears twice"):
        read_captions(rows)
    (tmp_path / "ok.json").write_text('{"a": "x", "b": ""}')
    assert read_captions(tmp_path / "ok.json") == {"a": "x", "b": ""}
