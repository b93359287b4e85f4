"""``emulate`` on shards: in this process (for a progress bar), or on a Dask cluster."""

from __future__ import annotations

from contextlib import nullcontext

from snn_deploy.emulation import compare
from snn_deploy.errors import UsageError
from snn_deploy.progress import bar
from snn_deploy.scaleout.cluster import check_options, connect
from snn_deploy.scaleout.emulate import ShardedRunner

SHARDS_PER_WORKER = 4
LOCAL_SHARD_SAMPLES = 500  # in-process shards, for the progress bar only


def emulate_sharded(
    folder,
    data: str,
    samples: int | None,
    loaded: tuple,
    *,
    backend: str,
    mapping: dict,
    readout: str,
    workers: int | None,
    cluster: str | None,
    shards: int | None,
    progress: bool,
    emulator_options: dict | None = None,
    on_shard=None,
):
    """:func:`snn_deploy.emulation.compare` with its runs sharded over the samples.

    ``loaded`` is ``(net, qnet, profile, inputs, labels, desc)`` as :func:`api.emulate` read
    them; the workers read the folder and data themselves. ``on_shard(start, stop)`` is called
    as each shard arrives."""
    check_options(workers, cluster)
    if shards is not None and shards < 1:
        raise UsageError(f"--shards must be at least 1, got {shards}")
    net, qnet, profile, inputs, labels, desc = loaded
    n = next(iter(inputs.values())).shape[0]
    distributed = workers is not None or cluster is not None
    if shards is None:
        shards = SHARDS_PER_WORKER * (workers or 2) if distributed else -(-n // LOCAL_SHARD_SAMPLES)
    where = f"{workers} worker(s)" if workers else (cluster or "this process")
    with (
        bar(n, f"emulating on {where}", "sample", enabled=progress) as meter,
        connect(workers, cluster) if distributed else nullcontext() as client,
    ):

        def arrived(start: int, stop: int) -> None:
            meter.update(stop - start)
            if on_shard is not None:
                on_shard(start, stop)

        runner = ShardedRunner(
            client, folder, data, samples, shards, emulator_options, on_shard=arrived
        )
        return compare(
            net, qnet, profile, inputs, labels, desc, backend, mapping, readout, runner=runner
        )
