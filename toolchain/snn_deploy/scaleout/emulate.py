"""Emulation sharded over the samples: shard bounds, the per-shard task, and the join.

A shard is a range ``[start, stop)`` of sample indices. The task a worker runs gets the artifact
folder, the data's name or path and the bounds (never arrays), loads both itself (cached per
worker process) and returns :func:`snn_deploy.emulation.run_pair` of its samples and, for
``--backend lava``, what its own Lava subprocess computed on them
(:func:`snn_deploy.emulation.run_lava_samples`). The client joins the shards in order: spikes,
voltages and final states are concatenated along the sample axis, event counts (integers)
summed. The result is what one process computes on all samples.
"""

from __future__ import annotations

import functools
import time
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
):
    """The task a worker runs: ``run_pair`` on samples ``[start, stop)`` of ``data`` and, with
    ``lava``, the same samples in a Lava subprocess of this worker:
    ``(SimResult, EmulationResult, seconds, Lava's EmulationResult or None)``."""
    _one_thread()
    profile, net, qnet, inputs = _load(folder, data, samples, stamp)
    shard = {k: v[start:stop] for k, v in inputs.items()}
    ref, emu, seconds = run_pair(net, qnet, profile, shard, chip_steps, **emulator_options)
    result = None
    if lava:
        result, seconds["lava"] = run_lava_samples(qnet, shard, chip_steps)
    return ref, emu, seconds, result


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
        t0 = time.perf_counter()
        if self.client is None:
            parts = []
            for start, stop in bounds:
                parts.append(emulate_shard(*args, start, stop, chip_steps, stamp, opts, lava))
                self.on_shard(start, stop)
        else:
            from distributed import as_completed

            futures = {
                self.client.submit(
                    emulate_shard, *args, start, stop, chip_steps, stamp, opts, lava, pure=False
                ): (start, stop)
                for start, stop in bounds
            }
            for future in as_completed(futures):
                self.on_shard(*futures[future])
            parts = self.client.gather(list(futures))
        ref, emu, seconds, lava_result = join(parts)
        seconds = {f"{k} (sum over shards)": v for k, v in seconds.items()}
        seconds["sharded run (wall)"] = time.perf_counter() - t0
        return ref, emu, seconds, lava_result
