"""Object stores and folders through fsspec: list an export prefix, download a file.

``s3://`` needs s3fs, ``az://``/``abfs://`` adlfs, ``gs://``/``gcs://`` gcsfs; a missing one is named
with the package to install. Credentials are the filesystems' own: the environment
(``AWS_ACCESS_KEY_ID``/``AWS_PROFILE``, ``AZURE_STORAGE_*``/``AZURE_CLIENT_*``,
``GOOGLE_APPLICATION_CREDENTIALS``) or the provider's config files (``~/.aws``, ``az login``,
gcloud's application default credentials); nothing is stored here. ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL`` point s3:// at an S3-compatible server (MinIO, Ceph, a test server).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

PACKAGES = {"s3": "s3fs", "az": "adlfs", "abfs": "adlfs", "gs": "gcsfs", "gcs": "gcsfs"}
PROTOCOL = {"s3": "s3", "az": "abfs", "abfs": "abfs", "gs": "gcs", "gcs": "gcs"}


class RemoteError(Exception):
    """A source cannot be listed or read; the message names its URL."""


@dataclass(frozen=True)
class Entry:
    """One listed file: its path in the filesystem, size, modification time (epoch s) and ETag."""

    path: str
    size: int
    mtime: float
    etag: str = ""

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.etag or self.mtime}"


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path to list in it."""
    import fsspec

    kind = scheme(url)
    if kind == "file":
        path = url.split("://", 1)[1] if "://" in url else url
        return fsspec.filesystem("file"), str(Path(path).expanduser().resolve())
    options: dict[str, Any] = {}
    if kind == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["endpoint_url"] = endpoint
    try:
        fs = fsspec.filesystem(PROTOCOL[kind], **options)
    except ImportError as exc:
        pkg = PACKAGES[kind]
        raise RemoteError(f"{url}: {kind}:// needs the Python package {pkg} (pip install {pkg})") from exc
    except ValueError as exc:  # e.g. adlfs without an account name in the environment
        raise RemoteError(f"{url}: cannot open {kind}://: {exc}") from exc
    return fs, url.split("://", 1)[1].rstrip("/")


def _mtime(info: dict[str, Any]) -> float:
    for key in ("mtime", "LastModified", "last_modified", "updated", "timeCreated"):
        v = info.get(key)
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, datetime):
            return v.timestamp()
        if isinstance(v, str):
            try:
                return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def listing(fs: Any, root: str, url: str) -> list[Entry]:
    """Every file under ``root`` (recursively), sorted by path."""
    try:
        fs.invalidate_cache()  # fsspec keeps listings per filesystem instance; a sync needs today's
        if not fs.exists(root):
            raise FileNotFoundError(root)
        found = fs.find(root, detail=True)
    except FileNotFoundError as exc:
        raise RemoteError(f"{url}: no such folder, bucket or prefix") from exc
    except Exception as exc:  # the filesystems raise their own kinds (auth, network)
        raise RemoteError(f"{url}: cannot list: {type(exc).__name__}: {exc}") from exc
    out = [
        Entry(p, int(i.get("size") or 0), _mtime(i), str(i.get("ETag") or i.get("etag") or "").strip('"'))
        for p, i in found.items()
        if i.get("type", "file") == "file"
    ]
    return sorted(out, key=lambda e: e.path)


def download(fs: Any, entry: Entry, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fs.get_file(entry.path, str(dest))


def read_text(fs: Any, entry: Entry, limit: int = 1 << 24) -> str:
    if entry.size > limit:
        raise RemoteError(f"{entry.path}: larger than {limit} bytes")
    with fs.open(entry.path, "rb") as fh:
        data: bytes = fh.read()
    return data.decode("utf-8", errors="replace")
