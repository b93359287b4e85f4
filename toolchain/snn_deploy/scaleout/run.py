"""``emulate`` on shards: in this process (for a progress bar), or on a Dask cluster."""

from __future__ import annotations

from contextlib import nullcontext

from snn_deploy.emulation import compare
from snn_deploy.errors import BackendError, UsageError
from snn_deploy.progress import bar
from snn_deploy.scaleout.cluster import check_options, connect
from snn_deploy.scaleout.emulate import ShardedRunner

SHARDS_PER_WORKER = 4
LAVA_SHARDS_PER_WORKER = 1  # a Lava process costs ~1 s to start: one per worker
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
    as each shard arrives. With ``backend="lava"`` each shard also runs in a Lava subprocess
    of the worker that runs it (default: one shard per worker)."""
    check_options(workers, cluster)
    if shards is not None and shards < 1:
        raise UsageError(f"--shards must be at least 1, got {shards}")
    net, qnet, profile, inputs, labels, desc = loaded
    if backend == "lava":  # before a cluster starts; on --cluster, each worker checks its own
        from snn_deploy.backends.lava.bridge import check_arithmetic, lava_unavailable_reason

        check_arithmetic(qnet)
        reason = lava_unavailable_reason()
        if reason:
            raise BackendError("cannot run the Lava backend: " + reason)
    n = next(iter(inputs.values())).shape[0]
    distributed = workers is not None or cluster is not None
    per_worker = LAVA_SHARDS_PER_WORKER if backend == "lava" else SHARDS_PER_WORKER
    where = f"{workers} worker(s)" if workers else (cluster or "this process")
    with (
        bar(n, f"emulating on {where}", "sample", enabled=progress) as meter,
        connect(workers, cluster) if distributed else nullcontext() as client,
    ):

        def arrived(start: int, stop: int) -> None:
            meter.update(stop - start)
            if on_shard is not None:
                on_shard(start, stop)

        count = shards
        if count is None and client is None:
            count = -(-n // LOCAL_SHARD_SAMPLES)
        elif count is None:
            count = per_worker * (workers or max(1, len(client.scheduler_info()["workers"])))
        runner = ShardedRunner(
            client, folder, data, samples, count, emulator_options, on_shard=arrived
        )
        return compare(
            net, qnet, profile, inputs, labels, desc, backend, mapping, readout, runner=runner
        )
