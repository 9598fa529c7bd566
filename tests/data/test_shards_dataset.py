"""Shard files and ShardDataset: streaming, determinism, atomicity, splitting across ranks and workers."""

import pytest
import torch
from torch.utils.data import DataLoader

from worldmem.data import ShardDataset, TrainingSample, collate_samples, iter_shard, write_shard
from worldmem.data.shards import complete_shards, shard_index_name, shard_name
from worldmem.geometry import trajectories as tr
from worldmem.memory import FrameSet, MemoryReadout, SpatialRender


def fake_sample(i: int, size: int = 8) -> TrainingSample:
    g = torch.Generator().manual_seed(i)
    cams = tr.loop(5, height=size, width=size)

    def fs(sl, scores=None):
        n = len(range(*sl.indices(5)))
        return FrameSet(frames=torch.randint(0, 256, (n, 3, size, size), generator=g).float() / 255,
                        depth=torch.rand(n, 1, size, size, generator=g), cameras=cams[sl],
                        indices=torch.arange(n, dtype=torch.int64), scores=scores)

    target = fs(slice(3, 5))
    spatial = SpatialRender(rgb=torch.zeros(2, 3, size, size), depth=torch.zeros(2, 1, size, size),
                            mask=torch.rand(2, 1, size, size, generator=g) > 0.5)
    readout = MemoryReadout(target.cameras, spatial, fs(slice(1, 3)), fs(slice(0, 1), torch.tensor([0.5])))
    return TrainingSample(target, readout, {"key": f"s{i:04d}", "i": i})


def make_shards(folder, counts):
    (folder / "shards").mkdir(parents=True)
    i = 0
    for s, n in enumerate(counts):
        samples = [fake_sample(i + j) for j in range(n)]
        i += n
        write_shard(folder / "shards" / shard_name(s), [(x.key, x.to_bytes()) for x in samples])
        (folder / "shards" / shard_index_name(s)).write_text("{}")
    return i


def keys(ds):
    return [s.meta["i"] for s in ds]


def test_shard_round_trip_is_deterministic_and_streams(tmp_path):
    samples = [fake_sample(i) for i in range(3)]
    items = [(s.key, s.to_bytes()) for s in samples]
    info = write_shard(tmp_path / "a.tar", items)
    write_shard(tmp_path / "b.tar", items)
    assert info["samples"] == 3 and (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    back = list(iter_shard(tmp_path / "a.tar"))
    assert [k for k, _ in back] == ["s0000", "s0001", "s0002"]
    assert all(TrainingSample.from_bytes(f).equals(s) for (_, f), s in zip(back, samples, strict=True))
    import tarfile

    names = tarfile.open(tmp_path / "a.tar").getnames()
    assert names[:2] == ["s0000.meta.json", "s0000.sample.safetensors"]  # WebDataset: key.ext, grouped


def test_failed_shard_write_leaves_nothing(tmp_path):
    class Boom(bytes):
        def __len__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_shard(tmp_path / "x.tar", [("a", {"f.bin": b"1"}), ("b", {"f.bin": Boom(b"2")})])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="without '.'"):
        write_shard(tmp_path / "y.tar", [("a.b", {"f": b""})])


def test_only_complete_shards_are_read(tmp_path):
    make_shards(tmp_path, [2, 2])
    (tmp_path / "shards" / shard_index_name(1)).unlink()  # shard 1 not marked complete
    assert [p.name for p in complete_shards(tmp_path)] == [shard_name(0)]
    assert sorted(keys(ShardDataset(tmp_path, shuffle=False))) == [0, 1]


def test_shuffle_depends_on_seed_and_epoch(tmp_path):
    total = make_shards(tmp_path, [5, 5, 5, 5])
    plain = keys(ShardDataset(tmp_path, shuffle=False))
    assert plain == list(range(total))
    ds = ShardDataset(tmp_path, seed=1, buffer_size=4)
    e0 = keys(ds)
    assert sorted(e0) == plain and e0 != plain and keys(ds) == e0
    ds.set_epoch(1)
    assert sorted(keys(ds)) == plain and keys(ds) != e0
    assert keys(ShardDataset(tmp_path, seed=2, buffer_size=4)) != e0


@pytest.mark.parametrize("counts, world", [([3, 3, 3, 3], 2), ([4, 4, 4], 2), ([5], 3)])
def test_ranks_partition_every_epoch(tmp_path, counts, world):
    total = make_shards(tmp_path, counts)
    for epoch in (0, 1):
        got = []
        for rank in range(world):
            ds = ShardDataset(tmp_path, seed=3, rank=rank, world_size=world)
            ds.set_epoch(epoch)
            got += keys(ds)
        assert sorted(got) == list(range(total))


def test_dataloader_workers_split_the_shards(tmp_path):
    total = make_shards(tmp_path, [3, 3, 3, 3])
    ds = ShardDataset(tmp_path, seed=0, rank=1, world_size=2)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_samples)
    got = [s.meta["i"] for batch in loader for s in batch]
    assert len(got) == 6 and len(set(got)) == 6
    # With 2 workers on each of 2 ranks there are 4 readers for 4 shards: each reads exactly one shard.
    loader0 = DataLoader(ShardDataset(tmp_path, seed=0, rank=0, world_size=2), batch_size=2, num_workers=2,
                         collate_fn=collate_samples)
    got0 = [s.meta["i"] for batch in loader0 for s in batch]
    assert sorted(got + got0) == list(range(total))


def test_repeat_streams_forever_with_new_epochs(tmp_path):
    make_shards(tmp_path, [3])
    it = iter(ShardDataset(tmp_path, seed=0, repeat=True, buffer_size=2))
    first, second = [next(it).meta["i"] for _ in range(3)], [next(it).meta["i"] for _ in range(3)]
    assert sorted(first) == sorted(second) == [0, 1, 2]


def test_bad_roots(tmp_path):
    with pytest.raises(ValueError, match="no shards"):
        ShardDataset(tmp_path)
    with pytest.raises(ValueError, match="expected a dataset folder"):
        ShardDataset(tmp_path / "missing")
    make_shards(tmp_path, [1])
    with pytest.raises(ValueError, match="rank"):
        ShardDataset(tmp_path, rank=2, world_size=2)
    assert keys(ShardDataset(tmp_path / "shards" / shard_name(0))) == [0]
    assert keys(ShardDataset([tmp_path / "shards" / shard_name(0)])) == [0]


def test_an_empty_shard_beside_others_is_read_as_no_samples(tmp_path):
    # Curation writes an empty shard when every clip of it failed: that is valid data, not an error.
    make_shards(tmp_path, [0, 2])
    assert sorted(keys(ShardDataset(tmp_path, seed=0))) == [0, 1]
    it = iter(ShardDataset(tmp_path, seed=0, repeat=True))
    assert sorted(next(it).meta["i"] for _ in range(4)) == [0, 0, 1, 1]


def test_a_pass_that_yields_nothing(tmp_path):
    # A whole dataset without samples is an error, in one pass or repeating (which would spin forever).
    make_shards(tmp_path / "empty", [0, 0])
    for repeat in (False, True):
        with pytest.raises(ValueError, match="no sample in a full pass over 2 shards"):
            next(iter(ShardDataset(tmp_path / "empty", repeat=repeat)))
    # A rank whose share is empty: one pass is simply empty (other ranks hold the samples), repeating is an error.
    make_shards(tmp_path / "one", [1])
    assert keys(ShardDataset(tmp_path / "one", rank=1, world_size=2)) == []
    with pytest.raises(ValueError, match="no sample for rank 1 of 2 in a full pass"):
        next(iter(ShardDataset(tmp_path / "one", rank=1, world_size=2, repeat=True)))


def test_folder_members_are_skipped_and_a_cut_shard_is_refused(tmp_path):
    import io
    import tarfile

    s = fake_sample(0)
    with tarfile.open(tmp_path / "a.tar", "w") as tar:
        folder = tarfile.TarInfo("sub")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in sorted(s.to_bytes().items()):
            info = tarfile.TarInfo(f"sub/{s.key}.{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert [k for k, _ in iter_shard(tmp_path / "a.tar")] == [s.key]
    write_shard(tmp_path / "b.tar", [(x.key, x.to_bytes()) for x in (fake_sample(1), fake_sample(2))])
    data = (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "b.tar") as tar:
        second = tar.getmembers()[2].offset
    (tmp_path / "b.tar").write_bytes(data[:second])  # cut exactly between the two samples
    with pytest.raises(ValueError, match=r"b\.tar: the tar does not end after member 's0001.sample.safetensors'"):
        list(iter_shard(tmp_path / "b.tar"))


def test_from_bytes_names_the_sample_and_checks_its_key():
    s = fake_sample(3)
    assert TrainingSample.from_bytes(s.to_bytes(), name="x.tar: sample s0003", key="s0003").equals(s)
    with pytest.raises(ValueError, match="^x.tar: sample s0004: meta.json: key 's0003' is not the key"):
        TrainingSample.from_bytes(s.to_bytes(), name="x.tar: sample s0004", key="s0004")
