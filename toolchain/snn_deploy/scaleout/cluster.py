"""A Dask client on an embedded ``LocalCluster`` or on an existing scheduler.

The embedded cluster binds 127.0.0.1, has no dashboard, runs one single-threaded worker process
per requested worker (each with one BLAS, OpenMP, numba and torch thread: two BLAS threads per
process on a shared core made a loop 6x slower), and keeps Dask's scratch files in a temporary
folder that is removed when the client closes.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from contextlib import contextmanager

from snn_deploy.errors import BackendError, UsageError

CONNECT_TIMEOUT_S = 10
START_TIMEOUT_S = 60
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}
ADDRESS = re.compile(r"^(tcp|tls)://[^\s:/]+:\d{1,5}$")


def check_options(workers: int | None, cluster: str | None) -> None:
    """``--workers`` is a positive count; ``--cluster`` a ``tcp://HOST:PORT`` address."""
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    if workers is not None and cluster is not None:
        raise UsageError(
            "--workers and --cluster exclude each other",
            hint="--workers N starts a local cluster; --cluster joins a running scheduler",
        )
    if cluster is not None and not ADDRESS.match(cluster):
        raise UsageError(
            f"--cluster {cluster!r} is not a scheduler address",
            hint="give it as tcp://HOST:PORT (what `dask scheduler` prints)",
        )


@contextmanager
def connect(workers: int | None = None, cluster: str | None = None):
    """A ``distributed.Client``: on ``cluster`` (``tcp://HOST:PORT``), or on a new local cluster
    of ``workers`` processes that is shut down, with its scratch folder, on exit. An
    unreachable scheduler is a :class:`BackendError`."""
    check_options(workers, cluster)
    import dask
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if cluster is not None:
        try:
            client = Client(cluster, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise BackendError(
                f"cannot reach the Dask scheduler at {cluster} ({reason})",
                hint="start one (dask scheduler; dask worker ADDRESS) or use --workers N for "
                "a local cluster",
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    scratch = tempfile.mkdtemp(prefix="snn-deploy-dask-")
    environ = {**ONE_THREAD, "DASK_TEMPORARY_DIRECTORY": scratch}
    settings = {
        "temporary-directory": scratch,
        "distributed.nanny.pre-spawn-environ": environ,
        "distributed.logging.distributed": "error",
    }
    try:
        with dask.config.set(settings):
            with LocalCluster(
                n_workers=workers or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                local_directory=scratch,
                timeout=START_TIMEOUT_S,
            ) as local:
                with Client(local) as client:
                    yield client
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
