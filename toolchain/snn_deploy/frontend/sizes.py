"""Declared array sizes, checked against this machine's memory before a file is read.

HDF5 (``.nir``) and ``.npy``/``.npz`` files state each array's shape and type in a header, and a
chunked or compressed HDF5 dataset may declare far more data than the file holds: a 35 kB NIR
file can declare a 200,000 x 50,000 weight matrix. Readers allocate what the header says, so the
headers are read first and a file whose arrays alone would not fit in the memory available is
refused with the figures, before anything is allocated.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn_deploy.errors import InputFileError

GIB = 1 << 30
# What reading a damaged .npz raises: a bad zip header or CRC, an unknown zip version or
# compression, an encrypted member, a corrupt deflate stream, an .npy header that does not parse.
ZIP_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    zipfile.BadZipFile,
    NotImplementedError,
    zlib.error,
    SyntaxError,
    tokenize.TokenError,
)


@dataclass(frozen=True)
class DeclaredArray:
    name: str
    shape: tuple[int, ...]
    itemsize: int
    dtype: str

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.itemsize


def available_memory_bytes() -> int | None:
    """Memory this process can still allocate: ``MemAvailable`` of ``/proc/meminfo``, lowered
    to the cgroup's ``memory.max`` headroom where a container sets one; ``None`` if unknown."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            found.append(max(int(limit) - int(used), 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _gib(n: int) -> str:
    return f"{n / GIB:,.1f} GiB"


def require_memory(path: Path, arrays: list[DeclaredArray]) -> None:
    """Refuse ``path`` if the arrays it declares need more memory than is available."""
    if not arrays:
        return
    total = sum(a.nbytes for a in arrays)
    available = available_memory_bytes()
    if available is None or total <= available:
        return
    big = max(arrays, key=lambda a: a.nbytes)
    shape = " x ".join(f"{d:,}" for d in big.shape) or "scalar"
    raise InputFileError(
        f"{path.name}: declares arrays of {_gib(total)} (largest: '{big.name}', {shape} "
        f"{big.dtype}, {_gib(big.nbytes)}), more than the {_gib(available)} of memory "
        "available; not read",
        hint="check that this is the file you meant; a model or data set this large needs a "
        "machine with more memory",
    )


def hdf5_arrays(path: Path) -> list[DeclaredArray]:
    """Every dataset of an HDF5 file with its declared shape and item size (nothing is read)."""
    import h5py

    arrays = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.shape is not None:
            arrays.append(
                DeclaredArray(
                    name, tuple(int(d) for d in obj.shape), obj.dtype.itemsize, str(obj.dtype)
                )
            )

    with h5py.File(path, "r") as fh:
        fh.visititems(visit)
    return arrays


# What h5py raises for a damaged file: OSError or KeyError (cannot open an object), RuntimeError
# (a B-tree or heap that cannot be walked), ValueError (an impossible dataspace).
HDF5_ERRORS = (OSError, KeyError, RuntimeError, ValueError)


def npz_arrays(path: Path, names: tuple[str, ...] | None = None) -> list[DeclaredArray]:
    """The declared shape and item size of the arrays ``names`` (default: all) of an ``.npz``
    file, read from their ``.npy`` headers; members that are absent or whose header is not
    readable are left out (``np.load`` then reports them)."""
    arrays = []
    try:
        with zipfile.ZipFile(path) as z:
            members = set(z.namelist())
            if names is None:
                names = tuple(m[:-4] for m in sorted(members) if m.endswith(".npy"))
            for name in names:
                if f"{name}.npy" not in members:
                    continue
                with z.open(f"{name}.npy") as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                arrays.append(DeclaredArray(name, tuple(shape), dtype.itemsize, str(dtype)))
    except (*ZIP_ERRORS, TypeError):
        return arrays
    return arrays
