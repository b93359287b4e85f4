"""Load a NIR file with one framework's own importer and run it on inputs (round-trip tests).

``python run_imported.py FRAMEWORK GRAPH.nir INPUT.npz OUTPUT.npz [GRAPH INPUT OUTPUT ...]``
(several triples share one interpreter start): reads ``x`` (batch, steps, inputs) from each
INPUT.npz, imports GRAPH.nir with the framework's documented entry point, runs it step by step
(Sinabs: its Squeeze layers on the flattened batch and time), and writes the output spikes as
``out`` (batch, steps, outputs) to OUTPUT.npz. Norse and Sinabs run it in their side
environments (.venv-interop-norse, .venv-interop-sinabs); snnTorch in .venv (also importable).
Only numpy, torch, nir and the framework are imported here: no snn-deploy.
"""

from __future__ import annotations

import logging
import sys
import warnings

import nir
import numpy as np
import torch


def run_snntorch(path: str, x: np.ndarray) -> np.ndarray:
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    net = import_from_nir(nir.read(path))
    utils.reset(net)
    out = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            z, _ = net(torch.from_numpy(x[:, t]).float())
            out.append(z.numpy())
    return np.stack(out, 1)


def run_norse(path: str, x: np.ndarray) -> np.ndarray:
    import norse.torch as norse

    net = norse.from_nir(nir.read(path))
    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            z, state = net(torch.from_numpy(x[:, t]).float(), state)
            out.append(z.numpy())
    return np.stack(out, 1)


def run_sinabs(path: str, x: np.ndarray) -> np.ndarray:
    import sinabs

    batch, steps, _ = x.shape
    net = sinabs.from_nir(nir.read(path), batch_size=batch)
    for m in net.modules():
        if hasattr(m, "reset_states"):
            m.reset_states()
    with torch.no_grad():
        z = net(torch.from_numpy(x).float().reshape(batch * steps, -1))
    z = z[0] if isinstance(z, tuple) else z
    return z.reshape(batch, steps, -1).numpy()


RUNNERS = {"snntorch": run_snntorch, "norse": run_norse, "sinabs": run_sinabs}


def main(argv: list[str]) -> int:
    framework, rest = argv[0], argv[1:]
    for i in range(0, len(rest), 3):
        graph, inputs, output = rest[i : i + 3]
        x = np.load(inputs)["x"]
        np.savez(output, out=RUNNERS[framework](graph, x))
    return 0


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    sys.exit(main(sys.argv[1:]))
