"""Broken data files on the data path: shards (``ShardDataset``, ``python -m train``), a curated folder's
manifest, summary and failure rows (``python -m data_curation preview|stats``), loops over data that could spin
(a pass that yields no sample), and paths inside a dataset that point out of it (a manifest's ``shard``, a
sample key used as an output file name).

Every case copies one valid curated dataset (:func:`curated`, built once per sweep: ``synthetic:1`` with
configs/curation/tiny.yaml, one shard of four samples) into its own folder and breaks the copy.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import tarfile
from pathlib import Path

from tests.robustness import fixtures as fx
from tests.robustness.runner import Case

TRAIN = "python -m train"
CUR = "python -m data_curation"
SHARD = "shard-000000.tar"
KEY = "synthetic-scene-0000000-000008"
"""The first sample of :func:`curated` (its build is deterministic)."""
AT_KEY = f"{SHARD}: sample {KEY}"
"""How an error about that sample starts: the shard file, then the sample key."""
NAN, INF = float("nan"), float("inf")
HANG_S = 30.0  # a loop that spins is reported as a hang after this long


def curated(base: Path) -> Path:
    """A valid curated dataset folder under ``base`` (made on first use): one shard of four samples."""
    folder = base / "curated"
    if not folder.is_dir():
        from data_curation.build import run_build
        from worldmem.data.config import load_curation_config

        tmp = base / ".curated.building"
        shutil.rmtree(tmp, ignore_errors=True)
        run_build(["synthetic:1"], tmp, load_curation_config(fx.ROOT / "configs" / "curation" / "tiny.yaml"),
                  progress=False)
        first = json.loads((tmp / "manifest.jsonl").read_text().splitlines()[0])
        assert first["key"] == KEY and first["shard"] == f"shards/{SHARD}", first
        tmp.rename(folder)
    return folder


def dataset(tmp: Path, base: Path) -> Path:
    """A copy of :func:`curated` in ``tmp``."""
    return fx.copy_of(curated(base), tmp, "ds")


# ----------------------------------------------------------------------------------------------- tar editing


def _members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]


def _write_tar(path: Path, members) -> Path:
    """A tar of ``members``: (name, bytes) files, or TarInfo objects (links, folders) as they are."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return path


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _folder(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def _shard(tmp: Path, base: Path) -> Path:
    return dataset(tmp, base) / "shards" / SHARD


def _edit_members(edit):
    """Rewrites the dataset copy's shard with ``edit(members) -> members``; returns the dataset folder."""
    def make(tmp: Path, base: Path) -> Path:
        path = _shard(tmp, base)
        _write_tar(path, edit(_members(path)))
        return path.parents[1]
    return make


def _edit_file(edit):
    """Replaces the shard's bytes with ``edit(bytes) -> bytes``."""
    def make(tmp: Path, base: Path) -> Path:
        path = _shard(tmp, base)
        path.write_bytes(edit(path.read_bytes()))
        return path.parents[1]
    return make


def _cut_at_member(index: int, extra: int = 0):
    """The shard cut ``extra`` bytes after the start of member ``index``'s header."""
    def cut(data: bytes) -> bytes:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return data[:tar.getmembers()[index].offset + extra]
    return _edit_file(cut)


def _edit_member(suffix: str, edit):
    """``edit(bytes) -> bytes`` applied to member ``KEY.<suffix>`` of the first sample."""
    return _edit_members(lambda ms: [(n, edit(b) if n == f"{KEY}.{suffix}" else b) for n, b in ms])


def _edit_tensors(edit):
    """``edit(tensors)`` (a dict, in place) applied to the first sample's safetensors (saved validly again)."""
    def change(data: bytes) -> bytes:
        from safetensors.torch import load, save

        t = load(data)
        edit(t)
        return save({k: v.contiguous() for k, v in t.items()})
    return _edit_member("sample.safetensors", change)


def _set_values(name: str, value: float, index=0):
    def edit(t):
        flat = t[name].view(-1)
        flat[index] = value
    return _edit_tensors(edit)


def _edit_header(edit):
    """``edit(header)`` (the parsed JSON header, in place) applied to the first sample's safetensors; the tensor
    bytes are kept, so the header now lies about them."""
    def change(data: bytes) -> bytes:
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        edit(header)
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + data[8 + n:]
    return _edit_member("sample.safetensors", change)


def _edit_meta(edit):
    def change(data: bytes) -> bytes:
        meta = json.loads(data)
        edit(meta)
        return json.dumps(meta).encode()
    return _edit_member("meta.json", change)


# ---------------------------------------------------------------------------------------------- entry points


def _shard_dataset(make, **kw):
    """``list(ShardDataset(<the broken copy>, **kw))``."""
    def build(tmp: Path, base: Path):
        from worldmem.data import ShardDataset

        root = make(tmp, base)
        it = iter(ShardDataset(root, **kw))
        for _ in range(16):  # a repeating stream: two passes' worth
            if next(it, None) is None:
                break
    return build


def _train(make, *overrides):
    """``python -m train`` on the broken copy (one step of the tiny model, one batch of all four samples)."""
    def build(tmp: Path, base: Path) -> list[str]:
        root = make(tmp, base)
        return ["--config", str(fx.train_config(base)), f"output_dir={tmp / 'out'}", "data.source=shards",
                f"data.shards={root}", "optim.steps=1", "optim.batch_size=4", "optim.warmup_steps=0", *overrides]
    return build


def _preview(make, sample: str = "0", *args):
    def build(tmp: Path, base: Path) -> list[str]:
        return ["preview", str(make(tmp, base)), "--sample", sample, *args]
    return build


def _stats(make):
    return lambda tmp, base: ["stats", str(make(tmp, base))]


def _edit_rows(name: str, edit):
    """``edit(rows)`` (a list, in place; rows as parsed, or replaced by raw text lines) on ``name`` (.jsonl)."""
    def make(tmp: Path, base: Path) -> Path:
        root = dataset(tmp, base)
        path = root / name
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        edit(rows)
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
        return root
    return make


def _set_row(name: str, index: int, **values):
    return _edit_rows(name, lambda rows: rows[index].update(values))


def _replace_row(name: str, index: int, value):
    def edit(rows):
        rows[index] = value
    return _edit_rows(name, edit)


def _drop_field(name: str, index: int, field: str):
    return _edit_rows(name, lambda rows: rows[index].pop(field))


def _failure_row(row):
    return _edit_rows("failures.jsonl", lambda rows: rows.append(row))


def _summary(edit):
    def make(tmp: Path, base: Path) -> Path:
        root = dataset(tmp, base)
        path = root / "summary.json"
        data = json.loads(path.read_text())
        data = edit(data)
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return root
    return make


def _pop(*keys):
    def edit(d):
        inner = d
        for k in keys[:-1]:
            inner = inner[k]
        inner.pop(keys[-1])
        return d
    return edit


def _a_folder_of(members):
    """A plain folder holding one shard made of ``members`` (no curated layout)."""
    def make(tmp: Path, base: Path) -> Path:
        folder = tmp / "tars"
        folder.mkdir()
        _write_tar(folder / SHARD, members)
        return folder
    return make


def _only_links(tmp: Path, base: Path) -> Path:
    return _a_folder_of([_link(f"{KEY}.sample.safetensors", "/etc/hostname"),
                         _link(f"{KEY}.meta.json", f"{KEY}.sample.safetensors", tarfile.LNKTYPE)])(tmp, base)


def _huge_member(tmp: Path, base: Path) -> Path:
    """A shard whose first member's header claims 10 GB (the file holds 16 bytes of it)."""
    path = _shard(tmp, base)
    info = tarfile.TarInfo(f"{KEY}.meta.json")
    info.size = 10**10
    path.write_bytes(info.tobuf(tarfile.PAX_FORMAT) + b"{}" * 8 + b"\0" * (512 - 16 + 1024))
    return path.parents[1]


def _one_sample_of_four(tmp: Path, base: Path) -> Path:
    """The dataset cut to its first sample (valid)."""
    return _edit_members(lambda ms: ms[:2])(tmp, base)


# --------------------------------------------------------------------------------------------------- paths


def _manifest_shard(value):
    """The first manifest row's ``shard`` set to ``value(tmp, base)``."""
    def make(tmp: Path, base: Path) -> Path:
        root = dataset(tmp, base)
        path = root / "manifest.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        rows[0]["shard"] = value(tmp, base)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return root
    return make


def _shard_links_out(tmp: Path, base: Path) -> None:
    """(A ``setup``: the link is made before the honeypot is watched.) The dataset's shard replaced by a link to
    the honeypot."""
    root = dataset(tmp, base)
    shard = root / "shards" / SHARD
    shard.unlink()
    shard.symlink_to(fx.outside(base) / "secret.txt")


def _meta_key(value):
    """The first sample's meta.json ``key`` set to ``value(tmp, base)`` (the tar and manifest keep theirs)."""
    def make(tmp: Path, base: Path) -> Path:
        key = value(tmp, base)
        return _edit_meta(lambda m: m.update(key=key))(tmp, base)
    return make


def _outside_rel(tmp: Path, base: Path) -> str:
    """``fx.outside(base)`` relative to ``tmp/ds/previews`` (where preview writes by default)."""
    import os

    return os.path.relpath(fx.outside(base) / "evil", tmp / "ds" / "previews")


SAMPLE_API = "ShardDataset"
STRUCTURE = [
    # The shard file itself.
    Case(SAMPLE_API, "truncated shard (cut inside a member)", _shard_dataset(_edit_file(lambda b: b[:len(b) // 2 + 7])),
         SHARD, group="structure"),
    Case(SAMPLE_API, "truncated shard (cut inside a header)", _shard_dataset(_cut_at_member(3, 100)), SHARD,
         group="structure"),
    Case(SAMPLE_API, "truncated shard (cut between two samples)", _shard_dataset(_cut_at_member(4)), SHARD,
         group="structure"),
    Case(SAMPLE_API, "a text file named shard-*.tar", _shard_dataset(_edit_file(lambda b: b"not a tar\n" * 100)), SHARD,
         group="structure"),
    Case(SAMPLE_API, "a zero-byte shard", _shard_dataset(_edit_file(lambda b: b"")), SHARD, group="structure"),
    Case(SAMPLE_API, "a folder named shard-*.tar in a plain folder",
         _shard_dataset(lambda t, b: (t / "tars" / SHARD).mkdir(parents=True) or t / "tars"), SHARD, group="structure"),
    Case(SAMPLE_API, "a symbolic link member beside the samples",
         _shard_dataset(_edit_members(lambda ms: [*ms, _link("extra.txt", "/etc/hostname")])), "extra.txt",
         group="structure"),
    Case(SAMPLE_API, "a member name without a key", _shard_dataset(_edit_members(lambda ms: [*ms, ("README", b"hi")])),
         "README", group="structure"),
    Case(SAMPLE_API, "a sample split in two (its key twice)",
         _shard_dataset(_edit_members(lambda ms: [ms[0], *ms[2:], ms[1]])), AT_KEY, group="structure"),
    Case(SAMPLE_API, "a member claiming more bytes than the file", _shard_dataset(_huge_member), SHARD,
         group="structure"),
    # A sample's members.
    Case(SAMPLE_API, "a sample without its safetensors",
         _shard_dataset(_edit_members(lambda ms: [m for m in ms if m[0] != f"{KEY}.sample.safetensors"])), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "a sample without its meta.json",
         _shard_dataset(_edit_members(lambda ms: [m for m in ms if m[0] != f"{KEY}.meta.json"])), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "a sample missing target.depth", _shard_dataset(_edit_tensors(lambda t: t.pop("target.depth"))),
         AT_KEY, group="structure"),
    Case(SAMPLE_API, "a sample missing spatial.mask", _shard_dataset(_edit_tensors(lambda t: t.pop("spatial.mask"))),
         AT_KEY, group="structure"),
    Case(SAMPLE_API, "a sample missing working.K", _shard_dataset(_edit_tensors(lambda t: t.pop("working.K"))),
         AT_KEY, group="structure"),
    Case(SAMPLE_API, "an unknown tensor", _shard_dataset(_edit_tensors(lambda t: t.update(extra=t["target.K"].clone()))),
         AT_KEY, group="structure"),
    Case(SAMPLE_API, "target.depth of the wrong shape",
         _shard_dataset(_edit_tensors(lambda t: t.update({"target.depth": t["target.depth"][..., :-1]}))), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "target.frames stored as float32",
         _shard_dataset(_edit_tensors(lambda t: t.update({"target.frames": t["target.frames"].float()}))), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "spatial render of fewer frames than the target",
         _shard_dataset(_edit_tensors(lambda t: t.update({k: t[k][:2] for k in list(t) if k.startswith("spatial.")}))),
         AT_KEY, group="structure"),
    Case(SAMPLE_API, "a 3-D text embedding",
         _shard_dataset(_edit_tensors(lambda t: t.update({"text.embedding": t["target.K"].clone()}))), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "safetensors header: a shape larger than the data",
         _shard_dataset(_edit_header(lambda h: h["target.depth"].update(shape=[400, 1, 32, 32]))), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "safetensors header: a dtype wider than the data",
         _shard_dataset(_edit_header(lambda h: h["target.depth"].update(dtype="F64"))), AT_KEY, group="structure"),
    Case(SAMPLE_API, "safetensors header: offsets past the end",
         _shard_dataset(_edit_header(lambda h: h["target.depth"].update(data_offsets=[0, 10**9]))), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "safetensors header length past the end",
         _shard_dataset(_edit_member("sample.safetensors", lambda b: struct.pack("<Q", 10**12) + b[8:])), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "safetensors header not JSON",
         _shard_dataset(_edit_member("sample.safetensors", lambda b: b[:8] + b"\xff" * 16 + b[24:])), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "meta.json not JSON", _shard_dataset(_edit_member("meta.json", lambda b: b"{not json")), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "meta.json a list", _shard_dataset(_edit_member("meta.json", lambda b: b"[1, 2]")), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "meta.json height a string", _shard_dataset(_edit_meta(lambda m: m.update(height="32"))), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "meta.json width of another size", _shard_dataset(_edit_meta(lambda m: m.update(width=33))),
         AT_KEY, group="structure"),
    Case(SAMPLE_API, "meta.json key other than the sample's", _shard_dataset(_edit_meta(lambda m: m.update(key="other"))),
         AT_KEY, group="structure"),
    # Values inside a sample: refused, never trained on ("unknown" depth is 0, never NaN).
    Case(SAMPLE_API, "NaN in target.depth", _shard_dataset(_set_values("target.depth", NAN, 100)), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "inf in working.depth", _shard_dataset(_set_values("working.depth", INF, 7)), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "NaN in spatial.depth", _shard_dataset(_set_values("spatial.depth", NAN, 3)), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "negative target.depth", _shard_dataset(_set_values("target.depth", -1.0, 5)), AT_KEY,
         group="structure"),
    Case(SAMPLE_API, "NaN in target.cam_from_world", _shard_dataset(_set_values("target.cam_from_world", NAN, 3)),
         AT_KEY, group="structure"),
    Case(SAMPLE_API, "NaN in keyframes.scores", _shard_dataset(_set_values("keyframes.scores", NAN)), AT_KEY,
         group="structure"),
    # The training command on broken shards: one line, at the first step.
    Case(TRAIN, "train on a truncated shard", _train(_edit_file(lambda b: b[:len(b) // 2 + 7])), SHARD,
         outputs=("out",), group="structure"),
    Case(TRAIN, "train on a shard cut between two samples", _train(_cut_at_member(2)), SHARD,
         outputs=("out",), group="structure"),
    Case(TRAIN, "train on a sample missing a tensor", _train(_edit_tensors(lambda t: t.pop("target.depth"))), AT_KEY,
         outputs=("out",), group="structure"),
    Case(TRAIN, "train on NaN depth", _train(_set_values("target.depth", NAN, 100)), AT_KEY,
         outputs=("out",), group="structure"),
    Case(TRAIN, "train on a lying safetensors header",
         _train(_edit_header(lambda h: h["target.depth"].update(shape=[400, 1, 32, 32]))), AT_KEY,
         outputs=("out",), group="structure"),
    Case(TRAIN, "train with a loader worker on a truncated shard",
         _train(_edit_file(lambda b: b[:len(b) // 2 + 7]), "data.num_workers=1"), SHARD,
         outputs=("out",), group="structure"),
    # preview and stats on broken rows and samples.
    Case(CUR, "preview: a manifest line that is not JSON", _preview(_edit_rows("manifest.jsonl",
         lambda rows: rows.insert(1, "{oops"))), "manifest.jsonl", group="structure"),
    Case(CUR, "preview: a manifest row that is a list", _preview(_replace_row("manifest.jsonl", 0, [1, 2])),
         "manifest.jsonl", group="structure"),
    Case(CUR, "preview: a manifest row without key", _preview(_drop_field("manifest.jsonl", 0, "key")),
         "manifest.jsonl", group="structure"),
    Case(CUR, "preview: a manifest row without shard", _preview(_drop_field("manifest.jsonl", 0, "shard")),
         "manifest.jsonl", group="structure"),
    Case(CUR, "preview: a manifest shard that is a number", _preview(_set_row("manifest.jsonl", 0, shard=3)),
         "manifest.jsonl", group="structure"),
    Case(CUR, "preview: a manifest key that is a number", _preview(_set_row("manifest.jsonl", 1, key=3), KEY),
         "manifest.jsonl", group="structure"),
    Case(CUR, "preview: a truncated shard", _preview(_edit_file(lambda b: b[:1024 + 200])), SHARD,
         group="structure"),
    Case(CUR, "preview: a lying safetensors header",
         _preview(_edit_header(lambda h: h["target.depth"].update(shape=[400, 1, 32, 32]))), AT_KEY,
         group="structure"),
    Case(CUR, "preview: a sample missing a tensor", _preview(_edit_tensors(lambda t: t.pop("spatial.rgb"))), AT_KEY,
         group="structure"),
    Case(CUR, "stats: summary.json not JSON", _stats(_summary(lambda d: "{oops")), "summary.json", group="structure"),
    Case(CUR, "stats: summary.json a list", _stats(_summary(lambda d: [d])), "summary.json", group="structure"),
    Case(CUR, "stats: summary.json without shards", _stats(_summary(_pop("shards"))), "summary.json",
         group="structure"),
    Case(CUR, "stats: summary.json clips.ok a string",
         _stats(_summary(lambda d: d["clips"].update(ok="1") or d)), "summary.json", group="structure"),
    Case(CUR, "stats: a manifest line that is not JSON",
         _stats(_edit_rows("manifest.jsonl", lambda rows: rows.insert(2, "[1,"))), "manifest.jsonl",
         group="structure"),
    Case(CUR, "stats: a manifest row that is a number", _stats(_replace_row("manifest.jsonl", 1, 7)),
         "manifest.jsonl", group="structure"),
    Case(CUR, "stats: a manifest row without revisit", _stats(_drop_field("manifest.jsonl", 2, "revisit")),
         "manifest.jsonl", group="structure"),
    Case(CUR, "stats: a manifest coverage that is a string", _stats(_set_row("manifest.jsonl", 0, coverage="high")),
         "manifest.jsonl", group="structure"),
    Case(CUR, "stats: a manifest num_keyframes that is a list",
         _stats(_set_row("manifest.jsonl", 0, num_keyframes=[1])), "manifest.jsonl", group="structure"),
    Case(CUR, "stats: a failures row without reason", _stats(_failure_row({"source": "synthetic"})),
         "failures.jsonl", group="structure"),
    Case(CUR, "stats: a failures row that is a string", _stats(_failure_row("boom")), "failures.jsonl",
         group="structure"),
]

HANGS = [
    Case(SAMPLE_API, "repeat over an empty tar", _shard_dataset(_a_folder_of([]), repeat=True), "no sample",
         group="hangs", timeout=HANG_S),
    Case(SAMPLE_API, "repeat over a tar of folders only",
         _shard_dataset(_a_folder_of([_folder("a"), _folder("a/b")]), repeat=True), "no sample", group="hangs",
         timeout=HANG_S),
    Case(SAMPLE_API, "repeat over a tar of links only", _shard_dataset(_only_links, repeat=True), SHARD,
         group="hangs", timeout=HANG_S),
    Case(SAMPLE_API, "one pass over an empty dataset", _shard_dataset(_edit_members(lambda ms: [])), "no sample",
         group="hangs", timeout=HANG_S),
    Case(SAMPLE_API, "repeat on a rank whose share is empty",
         _shard_dataset(_one_sample_of_four, repeat=True, rank=1, world_size=2), "rank 1", group="hangs",
         timeout=HANG_S),
    Case(TRAIN, "train on an empty tar", _train(_edit_members(lambda ms: [])), "no sample",
         outputs=("out",), group="hangs",
         timeout=HANG_S),
    Case(TRAIN, "train on a tar of folders only", _train(_a_folder_of([_folder("x")])), "no sample",
         outputs=("out",), group="hangs",
         timeout=HANG_S),
    Case(TRAIN, "train on a tar of links only", _train(_only_links), SHARD,
         outputs=("out",), group="hangs", timeout=HANG_S),
]

PATHS = [
    Case(CUR, "preview: a manifest shard that is absolute",
         _preview(_manifest_shard(lambda t, b: str(fx.outside(b) / "secret.txt"))), "manifest.jsonl: row 0: shard",
         group="paths"),
    Case(CUR, "preview: a manifest shard that climbs out",
         _preview(_manifest_shard(lambda t, b: "../../" + b.name + "/outside/secret.txt")),
         "manifest.jsonl: row 0: shard", group="paths"),
    Case(CUR, "preview: a manifest shard that is a link out", _preview(lambda t, b: t / "ds"),
         "manifest.jsonl: row 0: shard", group="paths", setup=_shard_links_out),
    Case(CUR, "preview: a sample key that is an absolute path",
         _preview(_meta_key(lambda t, b: str(fx.outside(b) / "evil"))), AT_KEY, ("ds/previews",), group="paths"),
    Case(CUR, "preview: a sample key that climbs out", _preview(_meta_key(_outside_rel)), AT_KEY, ("ds/previews",),
         group="paths"),
]

CASES: list[Case] = STRUCTURE + HANGS + PATHS
