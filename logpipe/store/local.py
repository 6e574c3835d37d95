"""A local folder as the object store: the embedded default, laid out exactly like the bucket."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from logpipe.errors import StoreError
from logpipe.store.base import Progress


class LocalObjectStore:
    """Objects as files under ``root``; writes go through a temporary file and a rename."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def url(self, key: str = "") -> str:
        return str(self.root / key)

    def iter_objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        folder = self.root / prefix
        if not folder.is_dir():
            return
        try:
            for path in folder.rglob("*"):
                if path.is_file():
                    yield path.relative_to(self.root).as_posix(), path.stat().st_size
        except OSError as exc:
            raise StoreError(f"cannot list {folder}: {exc}") from exc

    def folders(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def read(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read {self.url(key)}: {exc}") from exc

    def write(self, key: str, data: bytes) -> None:
        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers never see half an object
        except OSError as exc:
            raise StoreError(f"cannot write {self.url(key)}: {exc}") from exc

    def local_path(self, key: str) -> Path:
        return self.root / key

    def local_paths(self, objects: Sequence[tuple[str, int]], progress: Progress | None = None) -> list[Path]:
        return [self.root / key for key, _size in objects]


__all__ = ["LocalObjectStore"]
