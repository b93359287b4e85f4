"""Scale-out on Dask distributed: emulation sharded over the samples (and sweeps over variants).

A run without ``workers`` or ``cluster`` stays in one process and imports nothing from here.
With them, :func:`cluster.connect` starts an embedded ``LocalCluster`` on 127.0.0.1 (or joins a
scheduler at ``tcp://HOST:PORT``), and the work is sent as shard bounds and file paths: each
worker loads the artifact folder and the data itself and returns its samples' results, which
the client joins in shard order. Every per-sample result depends on that sample only, so the
joined results equal the one-process run bit for bit, whatever the number of workers and shards.
``distributed`` is imported here lazily, never by the CLI's import.
"""
