"""Random Norse 1.1.0 networks exported with ``norse.torch.to_nir``, run by Norse itself.

Run in ``.venv-interop-norse`` (``scripts/make-interop-fixtures``): writes ``norse_*.nir`` and
``norse_*.npz`` into the folder given as the first argument. Norse's recurrent cells
(``LIFRecurrentCell``) are not exported by ``to_nir`` 1.1.0 (it writes ``None`` for them), so the
networks are feed-forward. Parameters are per-neuron tensors: with Norse's default 0-d
parameters ``nir.write`` (nir 1.0.8) fails ("Scalar datasets don't support chunk/filter
options"), so that is how Norse users write files today. The sample given to ``to_nir`` has a
batch dimension (1, inputs), as in Norse's own examples: the file's ``Input`` keeps it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import norse.torch as norse  # noqa: E402
from common import run_until_it_spikes, save  # noqa: E402
from norse.torch import IAFParameters, LIFBoxParameters, LIFParameters  # noqa: E402

PACKAGES = ["norse", "nir", "nirtorch", "torch", "numpy"]
SAMPLES, STEPS = 4, 60


def _lin(rng, n_in, n_out, gain):
    lin = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(rng.normal(0.4, 1.0, (n_out, n_in)) * gain).float())
        lin.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.1, n_out) * gain).float())
    return lin


PER_NEURON = False  # set per fixture: one random value per neuron, else one per layer


def _full(rng, n, lo, hi):
    """n values drawn in [lo, hi): per neuron, or one per layer (Loihi 2 has one decay and one
    threshold per population); always an (n,) tensor (see the module docstring)."""
    v = rng.uniform(lo, hi, n if PER_NEURON else 1)
    return torch.from_numpy(np.broadcast_to(v, (n,)).copy()).float()


def _lifbox(rng, n, dt, tau_ms=(5, 50)):
    p = LIFBoxParameters(
        tau_mem_inv=1.0 / (_full(rng, n, *tau_ms) * 1e-3),
        v_leak=torch.zeros(n),
        v_th=_full(rng, n, 0.5, 1.5),
        v_reset=torch.zeros(n),
    )
    return norse.LIFBoxCell(p, dt=dt)


def _lif(rng, n, dt):
    p = LIFParameters(
        tau_syn_inv=1.0 / (_full(rng, n, 2, 10) * 1e-3),
        tau_mem_inv=1.0 / (_full(rng, n, 5, 40) * 1e-3),
        v_leak=torch.zeros(n),
        v_th=_full(rng, n, 0.3, 1.0),
        v_reset=torch.zeros(n),
    )
    return norse.LIFCell(p, dt=dt)


def _iaf(rng, n):
    return norse.IAFCell(IAFParameters(v_th=_full(rng, n, 0.8, 2.0), v_reset=torch.zeros(n)))


def _run(net, x):
    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            z, state = net(torch.from_numpy(x[:, t]).float(), state)
            out.append(z.numpy())
    return np.stack(out, 1)


def main(folder: Path) -> None:
    rng = np.random.default_rng(20)
    torch.manual_seed(20)
    cases = [
        # name, dt, builder(rng, dt) -> (n_in, layers), description
        (
            "norse_lifbox_6_12_3",
            1e-3,
            lambda r, dt: (
                6,
                [_lin(r, 6, 12, 5.0), _lifbox(r, 12, dt), _lin(r, 12, 3, 4.0), _lifbox(r, 3, dt)],
            ),
            "Linear-LIFBoxCell-Linear-LIFBoxCell, tau_mem 5-50 ms, dt 1 ms",
        ),
        (
            "norse_lifbox_10_24_5_dt05ms",
            5e-4,
            lambda r, dt: (
                10,
                [
                    _lin(r, 10, 24, 2.0),
                    _lifbox(r, 24, dt, (2, 20)),
                    _lin(r, 24, 5, 1.5),
                    _lifbox(r, 5, dt, (2, 20)),
                ],
            ),
            "Linear-LIFBoxCell-Linear-LIFBoxCell, tau_mem 2-20 ms, dt 0.5 ms (stated with --dt)",
        ),
        (
            "norse_lif_cuba_8_16_4",
            1e-3,
            lambda r, dt: (
                8,
                [_lin(r, 8, 16, 1.5), _lif(r, 16, dt), _lin(r, 16, 4, 2.0), _lifbox(r, 4, dt)],
            ),
            "Linear-LIFCell (current-based: CubaLIF)-Linear-LIFBoxCell, tau_syn 2-10 ms",
        ),
        (
            "norse_lifbox_iaf_12_20_6",
            1e-3,
            lambda r, dt: (
                12,
                [_lin(r, 12, 20, 2.0), _lifbox(r, 20, dt), _lin(r, 20, 6, 0.8), _iaf(r, 6)],
            ),
            "Linear-LIFBoxCell-Linear-IAFCell",
        ),
        (
            "norse_pern_lifbox_8_16_4",
            1e-3,
            lambda r, dt: (
                8,
                [_lin(r, 8, 16, 3.0), _lifbox(r, 16, dt), _lin(r, 16, 4, 2.5), _lifbox(r, 4, dt)],
            ),
            "Linear-LIFBoxCell-Linear-LIFBoxCell, tau_mem 5-50 ms and v_th 0.5-1.5 per neuron",
        ),
    ]
    global PER_NEURON
    for name, dt, build, desc in cases:
        PER_NEURON = "_pern_" in name
        n_in, layers = build(rng, dt)
        net = norse.SequentialState(*layers)
        x = (rng.random((SAMPLES, STEPS, n_in)) < rng.uniform(0.2, 0.4)).astype(np.float32)
        out, scale = run_until_it_spikes(net, _run, x)
        graph = norse.to_nir(net, torch.zeros(1, n_in), dt=dt)
        compile_options = {} if dt == 1e-3 else {"dt": dt}
        meta = {
            "framework": "norse",
            "network": desc,
            "weight_scale": scale,
            "dt_seconds": dt,
            "spike_fn": "binary (Heaviside, V > v_th)",
            "compile_options": compile_options,
            "single_spike": True,
            "per_neuron_parameters": PER_NEURON,
            "packages": PACKAGES,
        }
        save(folder, name, graph, x, out, meta)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
