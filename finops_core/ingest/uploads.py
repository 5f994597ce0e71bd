"""Files uploaded through the browser, written to a scratch folder under names that are safe.

A browser sends whatever file name it likes: ``../../etc/cron.d/x``, ``..``, a name with a NUL or
a backslash path from Windows. Only the last part of the name is kept, and a name that is empty or
``.``/``..`` is refused; the name is kept otherwise (part numbers and export names are how
deliveries are recognised). Two uploads with the same name (two parts of one export downloaded
from different folders) each get their own subfolder instead of the second overwriting the first.
"""

from __future__ import annotations

import re
from pathlib import Path

from finops_core.ingest.core import IngestError


def safe_name(name: str) -> str:
    """The file part of an uploaded name, or IngestError when nothing usable is left."""
    base = re.split(r"[\\/]", name.replace("\x00", ""))[-1].strip()
    if base in ("", ".", ".."):
        raise IngestError(f"uploaded file {name!r}: not a usable file name")
    return base


def write_uploads(folder: Path, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write each (name, content) inside ``folder``; the paths, in the given order."""
    paths: list[Path] = []
    seen: dict[str, int] = {}
    for name, content in files:
        base = safe_name(name)
        n = seen.get(base, 0)
        seen[base] = n + 1
        target = (folder / f"upload-{n}" / base) if n else folder / base
        target.parent.mkdir(parents=True, exist_ok=True)
        if folder.resolve() not in target.resolve().parents:
            raise IngestError(f"uploaded file {name!r}: not a usable file name")
        target.write_bytes(content)
        paths.append(target)
    return paths
