"""The artifact folder of a compiled model, written atomically.

Layout (docs/artifacts.md): ``graph.nir`` (the float graph, contract in its metadata),
``network.npz`` (the integer network), ``mapping.json``, ``report.json``, ``report.md`` and
``manifest.json`` (versions, hashes, data encoding, stage times). Everything is first written
into a hidden staging folder beside the target; ``commit()`` then swaps it into place with
renames, so a reader never sees a half-written folder and a failed compile leaves none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from snn_deploy.errors import InputFileError

MANIFEST = "manifest.json"
FILES = ("graph.nir", "network.npz", "mapping.json", "report.json", "report.md", MANIFEST)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_json_atomic(path: Path, obj) -> None:
    """``write_json`` to a temporary name, then rename: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    write_json(tmp, obj)
    tmp.replace(path)


def _jsonable(o):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


class StagingDir:
    """A hidden folder next to ``target``; ``commit()`` makes it ``target``, atomically."""

    def __init__(self, target: str | Path):
        self.target = Path(target).resolve()
        parent = self.target.parent
        if self.target.exists() and not self.target.is_dir():
            raise InputFileError(
                f"output path {self.target} exists and is not a folder",
                hint="choose another -o path",
            )
        if (
            self.target.is_dir()
            and any(self.target.iterdir())
            and not (self.target / MANIFEST).is_file()
        ):
            raise InputFileError(
                f"output folder {self.target} exists and is not an snn-deploy artifact folder",
                hint="choose an empty or new folder with -o; snn-deploy only replaces its own",
            )
        parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.staging-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.path, 0o777 & ~umask)  # mkdtemp makes it private; artifacts are not

    def commit(self) -> Path:
        old = None
        if self.target.exists():
            old = self.target.with_name(f".{self.target.name}.old-{os.getpid()}")
            os.replace(self.target, old)
        os.replace(self.path, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def read_manifest(folder: str | Path) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(
            f"artifact folder {folder} does not exist",
            hint="compile a model first: snn-deploy compile MODEL -o FOLDER",
        )
    path = folder / MANIFEST
    if not path.is_file():
        raise InputFileError(
            f"{folder} is not an snn-deploy artifact folder (no {MANIFEST})",
            hint="give the folder written by `snn-deploy compile -o`",
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{path}: damaged manifest ({exc.msg})", hint="compile the model again"
        ) from None
