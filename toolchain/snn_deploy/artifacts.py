"""The artifact folder of a compiled model, written atomically.

Layout (docs/artifacts.md): ``graph.nir`` (the float graph, contract in its metadata),
``network.npz`` (the integer network), ``mapping.json``, ``report.json``, ``report.md`` and
``manifest.json`` (versions, hashes, data encoding, stage times). Everything is first written
into a hidden staging folder beside the target; ``commit()`` then swaps it into place with
renames, so a reader never sees a half-written folder and a failed compile leaves none. Readers
check the files they read against the manifest's sha256 (``verify_files``) and refuse a folder
whose files changed since.
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
ARTIFACT_FORMAT = "snn-deploy/artifact"
# What emulate, report and export read and never rewrite: checked against the manifest's sha256
# (report.md, report.html and emulation.json are re-rendered by emulate and are not).
VERIFIED = ("graph.nir", "network.npz", "mapping.json", "report.json")
# contract fields that compile's options state (manifest "contract_overrides")
OVERRIDE_KEYS = {
    "dt_seconds": (int, float),
    "reset": str,
    "reset_delay": bool,
    "convention": str,
    "integrator": str,
    "spikes": str,
}


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


def check_output_path(path: Path, folder: bool) -> None:
    """Refuse an output path that cannot be written as asked: a file where a folder is wanted
    (or the reverse), or a path that goes through a file."""
    if path.exists() and path.is_dir() != folder:
        what = "is a folder; give the file to write" if path.is_dir() else "is a file"
        raise InputFileError(f"output path {path} {what}", hint="choose another -o path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputFileError(
                    f"output path {path} goes through {parent}, which is a file",
                    hint="choose another -o path",
                )
            break


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
        check_output_path(self.target, folder=True)
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
    """The manifest of a compiled model's folder, checked for the keys readers rely on."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputFileError(
            f"{folder} is not an snn-deploy artifact folder (it is a file)",
            hint="give the folder written by `snn-deploy compile -o`",
        )
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
        manifest = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise InputFileError(
            f"{path}: damaged manifest ({reason})", hint="compile the model again"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARTIFACT_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InputFileError(
            f"{path}: not the manifest of a compiled model (format {found!r}, expected "
            f"{ARTIFACT_FORMAT!r})",
            hint="give the folder written by `snn-deploy compile -o`",
        )
    profile, files = manifest.get("profile"), manifest.get("files")
    if (
        not isinstance(profile, dict)
        or not isinstance(profile.get("path"), str)
        or not isinstance(profile.get("chips"), int)
        or not isinstance(files, dict)
        or not _overrides_ok(manifest.get("contract_overrides", {}))
        or not isinstance(manifest.get("data") or {}, dict)
    ):
        raise InputFileError(
            f"{path}: damaged manifest (its 'profile' path and chips, 'files' hashes, "
            "'contract_overrides' or 'data' are missing or of the wrong type)",
            hint="compile the model again",
        )
    return manifest


def _overrides_ok(overrides) -> bool:
    """The contract fields a user may state at compile time, each of its type."""
    return isinstance(overrides, dict) and all(
        k in OVERRIDE_KEYS
        and isinstance(v, OVERRIDE_KEYS[k])
        and not (k == "dt_seconds" and isinstance(v, bool))
        for k, v in overrides.items()
    )


def verify_files(folder: str | Path, manifest: dict, names: tuple[str, ...] = VERIFIED) -> None:
    """Refuse a folder whose files ``names`` are missing or differ from the sha256 that
    ``manifest.json`` recorded when the model was compiled."""
    folder = Path(folder)
    for name in names:
        path = folder / name
        if not path.is_file():
            raise InputFileError(f"{folder}: {name} is missing", hint="compile the model again")
        recorded = manifest["files"].get(name)
        if not isinstance(recorded, str):
            raise InputFileError(
                f"{folder}: {MANIFEST} records no sha256 of {name}, so the file cannot be "
                "checked (a manifest from an older or another tool)",
                hint="compile the model again",
            )
        actual = sha256(path)
        if actual != recorded:
            again = (
                "run `snn-deploy emulate` again (it records the file), or compile the model again"
                if name == "emulation.json"
                else "compile the model again"
            )
            raise InputFileError(
                f"{folder}: {name} does not match {MANIFEST} (sha256 {actual[:12]}..., recorded "
                f"{recorded[:12]}...): the file was changed after the model was compiled",
                hint=f"{again}; snn-deploy does not use a folder whose files were changed",
            )


def record_files(folder: str | Path, manifest: dict, names: tuple[str, ...]) -> None:
    """Record the sha256 of ``names`` (files rewritten after compile, by emulate) in the
    manifest, rewritten atomically, so that it keeps describing the folder."""
    folder = Path(folder)
    files = dict(manifest["files"])
    files.update({name: sha256(folder / name) for name in names if (folder / name).is_file()})
    write_json_atomic(folder / MANIFEST, {**manifest, "files": files})
