"""Shards: uncompressed tar files of per-sample files, WebDataset-style.

A sample with key ``K`` is the consecutive members ``K.sample.safetensors`` and ``K.meta.json`` (a key has no
dots; the part after the first dot is the file's name within the sample). Tars stream (a reader needs one
pass and no index), every tool can list them, and WebDataset reads them as they are.

Writes are deterministic (members in sample order, zeroed owner and times), so the same samples give the same
bytes, and atomic (written to a temporary name in the same folder and renamed): a shard exists completely or
not at all.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from worldmem.utils.io import atomic_write

__all__ = ["shard_name", "shard_index_name", "write_shard", "iter_shard", "complete_shards", "SHARD_SUFFIX",
           "SHARD_DIR"]

SHARD_SUFFIX = ".tar"
SHARD_DIR = "shards"
"""Sub-folder of a curated dataset holding ``shard-NNNNNN.tar`` and their ``shard-NNNNNN.json`` indexes."""


def shard_name(index: int) -> str:
    return f"shard-{index:06d}{SHARD_SUFFIX}"


def shard_index_name(index: int) -> str:
    """The shard's index file; it is written after the tar, so its presence marks a complete shard."""
    return f"shard-{index:06d}.json"


def complete_shards(root: str | os.PathLike) -> list[Path]:
    """Tars of a curated dataset folder whose index file exists, in shard order (or ``*.tar`` of a plain folder)."""
    root = Path(root)
    folder = root / SHARD_DIR
    if folder.is_dir():
        return [folder / (idx.stem + SHARD_SUFFIX) for idx in sorted(folder.glob("shard-*.json"))
                if (folder / (idx.stem + SHARD_SUFFIX)).is_file()]
    return sorted(root.glob("*" + SHARD_SUFFIX))


def write_shard(path: str | os.PathLike, samples: Sequence[tuple[str, dict[str, bytes]]]) -> dict:
    """Writes ``samples`` = [(key, {file name: bytes})] as one tar, atomically.

    Returns ``{"samples": n, "bytes": size, "sha256": hex}`` of the written file.
    """
    seen = set()
    for key, _ in samples:
        if not key or "." in key or "/" in key:
            raise ValueError(f"key {key!r}: expected a non-empty name without '.' or '/'")
        if key in seen:
            raise ValueError(f"key {key!r}: duplicate key in one shard")
        seen.add(key)

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for key, files in samples:
                for name in sorted(files):
                    data = files[name]
                    info = tarfile.TarInfo(f"{key}.{name}")
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())

    atomic_write(path, _write, suffix=SHARD_SUFFIX)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"samples": len(samples), "bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}


def iter_shard(path: str | os.PathLike) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yields (key, {file name: bytes}) in shard order, streaming (one pass over the file).

    Raises ``ValueError`` naming the shard (and the member or sample key) when the file is not a complete tar
    (truncated, not a tar, empty), a member is a link or device, claims more bytes than the file holds, has no
    ``KEY.NAME`` name, appears twice in a sample, or a sample's members are not consecutive. Folder members are
    skipped. A shard with no member yields nothing (curation writes such a shard when all its clips failed).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: not a file; expected a .tar shard")
    file_size = path.stat().st_size
    key, files, done = None, {}, set()
    end, last = 0, "the start"
    try:
        with tarfile.open(path, mode="r|") as tar:
            for member in tar:
                end, last = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE, member.name
                if member.isdir():
                    continue
                if not member.isfile():
                    raise ValueError(f"{path}: member {member.name!r} is a {_KINDS.get(member.type, 'special file')}; "
                                     "expected regular files only")
                if member.size > file_size:
                    raise ValueError(f"{path}: member {member.name!r} claims {member.size} bytes, more than the whole "
                                     f"file ({file_size} bytes): the shard is corrupt")
                base = member.name.rsplit("/", 1)[-1]
                k, dot, name = base.partition(".")
                if not (k and dot and name):
                    raise ValueError(f"{path}: member {member.name!r}: expected a name KEY.NAME (the sample key, a "
                                     "dot, the file's name within the sample)")
                if k != key:
                    if key is not None:
                        yield key, files
                        done.add(key)
                        files = {}
                    if k in done:
                        raise ValueError(f"{path}: sample {k}: its members are not consecutive (the key appears "
                                         "again after other samples)")
                    key = k
                if name in files:
                    raise ValueError(f"{path}: sample {k}: member {name!r} appears twice")
                handle = tar.extractfile(member)
                files[name] = handle.read() if handle is not None else b""
        _check_end(path, end, last)
    except tarfile.TarError as err:
        raise ValueError(f"{path}: not a complete tar file ({err}); expected an uncompressed tar of samples "
                         "(truncated or corrupt?)") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot read the shard ({err.strerror or err})") from None
    if key is not None:
        yield key, files


def _check_end(path: Path, end: int, last: str) -> None:
    """A complete tar ends with a zero block after its last member; a file cut between two members has none
    (``tarfile`` stops there without an error)."""
    with open(path, "rb") as f:
        f.seek(end)
        block = f.read(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE or any(block):
        where = "the start" if last == "the start" else f"member {last!r}"
        raise ValueError(f"{path}: the tar does not end after {where} (no end-of-archive block): the shard is "
                         "truncated or corrupt")


_KINDS = {tarfile.SYMTYPE: "symbolic link", tarfile.LNKTYPE: "hard link", tarfile.CHRTYPE: "character device",
          tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "named pipe"}
