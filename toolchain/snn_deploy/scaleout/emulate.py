"""Emulation sharded over the samples: shard bounds, the per-shard task, and the join.

A shard is a range ``[start, stop)`` of sample indices. The task a worker runs gets the artifact
folder, the data's name or path and the bounds (never arrays), loads both itself (cached per
worker process) and returns :func:`snn_deploy.emulation.run_pair` of its samples and, for
``--backend lava``, what its own Lava subprocess computed on them
(:func:`snn_deploy.emulation.run_lava_samples`). The client joins the shards in order: spikes,
voltages and final states are concatenated along the sample axis, event counts (integers)
summed. The result is what one process computes on all samples.

What travels back is kept small and is fetched as each shard finishes, while the others still
run: boolean spikes are packed 8 to a byte (:class:`PackedBools`; a shard's spikes were 28 of
its 33 MB on the digits model), integer states narrowed to the smallest integer type that holds
them, and every array gets its dtype back in the client. Before the timed run, each worker is
warmed up once (:func:`warm_up`): imports, the artifact and the data loaded, the compiled
kernels loaded from numba's cache (or compiled), which cost a fresh worker 1-2 s.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path

import numpy as np

from snn_deploy.emulation import FLOAT_BLOCK, concat_results, run_lava_samples, run_pair


def shard_bounds(samples: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous ranges covering ``range(samples)``, each starting at a multiple of
    :data:`FLOAT_BLOCK` (the float reference's blocks: see ``run_pair``), their sizes in blocks
    differing by at most one; fewer shards when there are fewer blocks."""
    blocks = -(-samples // FLOAT_BLOCK)
    shards = max(1, min(shards, blocks))
    size, extra = divmod(blocks, shards)
    bounds, start = [], 0
    for i in range(shards):
        stop = start + size + (i < extra)
        bounds.append((start * FLOAT_BLOCK, min(stop * FLOAT_BLOCK, samples)))
        start = stop
    return bounds


def _stamp(folder: str, data: str) -> tuple:
    """What invalidates a worker's cached load: the manifest's and the data file's mtimes."""
    paths = [Path(folder) / "manifest.json"] + ([Path(data)] if data != "digits" else [])
    return tuple(p.stat().st_mtime_ns for p in paths)


@functools.lru_cache(maxsize=4)
def _load(folder: str, data: str, samples: int | None, stamp: tuple):
    from snn_deploy.api import load_artifacts
    from snn_deploy.data.loader import load_inputs

    manifest, profile, net, qnet = load_artifacts(folder)
    inputs, _, _ = load_inputs(data, net, manifest.get("data"), "test", samples)
    return profile, net, qnet, inputs


def _one_thread() -> None:
    """One BLAS and one torch thread in this worker process (workers share the cores)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


@dataclass(frozen=True)
class PackedBools:
    """A boolean array packed 8 values to a byte in C order (``np.packbits`` of its ravel)."""

    bits: np.ndarray
    shape: tuple

    def unpack(self) -> np.ndarray:
        size = int(np.prod(self.shape))
        return np.unpackbits(self.bits, count=size).view(bool).reshape(self.shape)


@dataclass(frozen=True)
class NarrowInts:
    """An integer array sent in a smaller integer type that holds all its values."""

    values: np.ndarray
    dtype: str

    def unpack(self) -> np.ndarray:
        return self.values.astype(self.dtype)


def pack(value):
    """``value`` (results, dicts, tuples of arrays) with its bool arrays packed and its integer
    arrays narrowed; :func:`unpack` gives back equal arrays of the same dtypes."""
    if isinstance(value, np.ndarray):
        if value.dtype == bool and value.ndim:
            return PackedBools(np.packbits(value.ravel()), value.shape)
        if value.dtype.kind in "iu" and value.size and value.dtype.itemsize > 1:
            lo, hi = int(value.min()), int(value.max())
            for small in (np.int8, np.int16, np.int32):
                info = np.iinfo(small)
                if info.bits < 8 * value.dtype.itemsize and info.min <= lo and hi <= info.max:
                    return NarrowInts(value.astype(small), value.dtype.str)
        return value
    if isinstance(value, dict):
        return {k: pack(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(pack(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: pack(getattr(value, f.name)) for f in fields(value)})
    return value


def unpack(value):
    """The inverse of :func:`pack`."""
    if isinstance(value, (PackedBools, NarrowInts)):
        return value.unpack()
    if isinstance(value, dict):
        return {k: unpack(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(unpack(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: unpack(getattr(value, f.name)) for f in fields(value)})
    return value


def warm_up(folder: str, data: str, samples: int | None, chip_steps: int, stamp: tuple,
            emulator_options: dict) -> float:  # fmt: skip
    """Load what :func:`emulate_shard` needs in this worker and run its first sample once (the
    kernels load from numba's cache, or compile); returns the seconds it took."""
    t0 = time.perf_counter()
    emulate_shard(folder, data, samples, 0, 1, chip_steps, stamp, emulator_options)
    return time.perf_counter() - t0


def emulate_shard(
    folder: str,
    data: str,
    samples: int | None,
    start: int,
    stop: int,
    chip_steps: int,
    stamp: tuple,
    emulator_options: dict,
    lava: bool = False,
    packed: bool = False,
):
    """The task a worker runs: ``run_pair`` on samples ``[start, stop)`` of ``data`` and, with
    ``lava``, the same samples in a Lava subprocess of this worker:
    ``(SimResult, EmulationResult, seconds, Lava's EmulationResult or None)``, :func:`pack`-ed
    when ``packed``."""
    _one_thread()
    profile, net, qnet, inputs = _load(folder, data, samples, stamp)
    shard = {k: v[start:stop] for k, v in inputs.items()}
    ref, emu, seconds = run_pair(net, qnet, profile, shard, chip_steps, **emulator_options)
    result = None
    if lava:
        result, seconds["lava"] = run_lava_samples(qnet, shard, chip_steps)
    out = (ref, emu, seconds, result)
    return pack(out) if packed else out


def join(parts: list) -> tuple:
    """``(SimResult, EmulationResult, seconds, Lava's EmulationResult or None)`` of all shards
    from theirs, in shard order."""
    from snn_deploy.backends.emulator.result import EmulationResult
    from snn_deploy.ir.simulate import SimResult

    refs, emus, secs, lavas = zip(*parts, strict=True)

    def cat(dicts):
        return {k: np.concatenate([d[k] for d in dicts]) for k in dicts[0]}

    ref = SimResult(
        spikes=cat([r.spikes for r in refs]),
        voltage=cat([r.voltage for r in refs]),
        num_steps=refs[0].num_steps,
    )
    events = {}
    for pop, counts in emus[0].events.items():
        events[pop] = {}
        for key, value in counts.items():
            for e in emus[1:]:
                value = value + e.events[pop][key]
            events[pop][key] = value
    emu = EmulationResult(
        spikes=cat([e.spikes for e in emus]),
        final_state={k: cat([e.final_state[k] for e in emus]) for k in emus[0].final_state},
        num_steps=emus[0].num_steps,
        voltage=cat([e.voltage for e in emus]),
        events=events,
    )
    seconds = {k: sum(s[k] for s in secs) for k in secs[0]}
    lava = concat_results(lavas) if lavas[0] is not None else None
    return ref, emu, seconds, lava


class ShardedRunner:
    """The ``runner`` of :func:`snn_deploy.emulation.compare` that runs the shards on a Dask
    ``client`` (or, with ``client=None``, one after another in this process).

    ``on_shard(start, stop)`` is called as each shard's result arrives (progress bars; the tests
    use it to kill a worker mid-run)."""

    def __init__(
        self,
        client,
        folder,
        data: str,
        samples: int | None,
        shards: int,
        emulator_options: dict | None = None,
        on_shard=None,
    ):
        self.client = client
        self.folder = str(Path(folder).resolve())
        self.data = data if data == "digits" else str(Path(data).resolve())
        self.samples = samples
        self.shards = shards
        self.emulator_options = dict(emulator_options or {})
        self.on_shard = on_shard or (lambda start, stop: None)

    def __call__(self, samples: int, chip_steps: int, lava: bool = False):
        """``(SimResult, EmulationResult, seconds, Lava's result or None)`` of ``samples``;
        with ``lava``, every shard also runs in a Lava subprocess of the worker running it."""
        bounds = shard_bounds(samples, self.shards)
        stamp = _stamp(self.folder, self.data)
        args = (self.folder, self.data, self.samples)
        opts = self.emulator_options
        seconds = {}
        if self.client is None:
            t0 = time.perf_counter()
            parts = []
            for start, stop in bounds:
                parts.append(emulate_shard(*args, start, stop, chip_steps, stamp, opts, lava))
                self.on_shard(start, stop)
        else:
            from distributed import as_completed, wait

            t0 = time.perf_counter()
            warm = [
                self.client.submit(
                    warm_up, *args, chip_steps, stamp, opts, workers=[w], pure=False
                )  # fmt: skip
                for w in self.client.scheduler_info()["workers"]
            ]
            wait(warm)
            seconds["worker warm-up (wall)"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            futures = {
                self.client.submit(
                    emulate_shard, *args, start, stop, chip_steps, stamp, opts, lava, True,
                    pure=False,
                ): i
                for i, (start, stop) in enumerate(bounds)
            }  # fmt: skip
            parts = [None] * len(bounds)
            for future, part in as_completed(futures, with_results=True):
                i = futures[future]
                parts[i] = unpack(part)
                self.on_shard(*bounds[i])
        ref, emu, shard_seconds, lava_result = join(parts)
        seconds.update({f"{k} (sum over shards)": v for k, v in shard_seconds.items()})
        seconds["sharded run (wall)"] = time.perf_counter() - t0
        return ref, emu, seconds, lava_result
