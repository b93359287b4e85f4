"""Random Sinabs 3.1.3 networks exported with ``sinabs.to_nir``, run by Sinabs itself.

Run in ``.venv-interop-sinabs`` (``scripts/make-interop-fixtures``): writes ``sinabs_*.nir`` and
``sinabs_*.npz`` into the folder given as the first argument. The networks are the
``Sequential(Linear, LIFSqueeze, Linear, IAFSqueeze)`` kind Sinabs users build, with Sinabs'
default ``MultiSpike`` or with ``SingleSpike``, reset by subtraction (Sinabs' default) or to zero
(``MembraneReset``). ``to_nir`` writes a ``LIF`` with 0-d parameters when ``tau_mem`` is a
number (NIR's type check then refuses the file); with per-neuron ``tau_mem`` the threshold must
be per neuron too. Sinabs' recurrent layers (``LIFRecurrent``) are not exported
(``NotImplementedError: Module ... not supported``), so the networks are feed-forward.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sinabs  # noqa: E402
import sinabs.layers as sl  # noqa: E402
from common import run_until_it_spikes, save  # noqa: E402
from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike, SingleSpike  # noqa: E402

PACKAGES = ["sinabs", "nir", "nirtorch", "torch", "numpy"]
SAMPLES, STEPS = 4, 60


def _lin(rng, n_in, n_out, gain):
    lin = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(rng.normal(0.3, 1.0, (n_out, n_in)) * gain).float())
        lin.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.1, n_out) * gain).float())
    return lin


def _net(rng, sizes, gains, tau, spike_fn, reset_fn, per_neuron):
    n_in, n_hid, n_out = sizes
    if per_neuron:
        tau_mem = torch.from_numpy(rng.uniform(tau * 0.5, tau * 1.5, n_hid)).float()
        thr = torch.from_numpy(rng.uniform(0.6, 1.4, n_hid)).float()
    else:
        tau_mem, thr = torch.tensor(float(tau)), torch.tensor(1.0)
    return torch.nn.Sequential(
        _lin(rng, n_in, n_hid, gains[0]),
        sl.LIFSqueeze(
            tau_mem=tau_mem,
            spike_threshold=thr,
            spike_fn=spike_fn,
            reset_fn=reset_fn,
            batch_size=SAMPLES,
        ),
        _lin(rng, n_hid, n_out, gains[1]),
        sl.IAFSqueeze(spike_fn=spike_fn, reset_fn=reset_fn, batch_size=SAMPLES),
    )


def _run(net, x):
    for layer in net:
        if isinstance(layer, sl.StatefulLayer):
            layer.reset_states()
    with torch.no_grad():
        out = net(torch.from_numpy(x).reshape(SAMPLES * STEPS, -1))
    for layer in net:
        if isinstance(layer, sl.StatefulLayer):
            layer.reset_states()
    return out.reshape(SAMPLES, STEPS, -1).numpy()


def main(folder: Path) -> None:
    rng = np.random.default_rng(30)
    torch.manual_seed(30)
    subtract, zero = MembraneSubtract(), MembraneReset()
    cases = [
        # name, sizes, gains, tau (steps), spike_fn, reset_fn, per-neuron tau and threshold
        ("sinabs_multi_8_16_4", (8, 16, 4), (4.0, 1.5), 10.0, MultiSpike, subtract, False),
        ("sinabs_multi_pern_12_24_6", (12, 24, 6), (3.0, 1.2), 25.0, MultiSpike, subtract, True),
        ("sinabs_single_8_16_4", (8, 16, 4), (4.0, 1.5), 10.0, SingleSpike, subtract, False),
        ("sinabs_single_10_20_5", (10, 20, 5), (3.0, 1.0), 20.0, SingleSpike, subtract, False),
        ("sinabs_single_pern_10_20_5", (10, 20, 5), (3.0, 1.0), 20.0, SingleSpike, subtract, True),
        ("sinabs_single_zero_6_12_3", (6, 12, 3), (4.0, 1.5), 5.0, SingleSpike, zero, False),
    ]
    for name, sizes, gains, tau, spike_fn, reset_fn, per_neuron in cases:
        net = _net(rng, sizes, gains, tau, spike_fn, reset_fn, per_neuron)
        x = (rng.random((SAMPLES, STEPS, sizes[0])) < rng.uniform(0.2, 0.4)).astype(np.float32)
        out, scale = run_until_it_spikes(net, _run, x)
        graph = sinabs.to_nir(net, torch.zeros(SAMPLES, sizes[0]))
        single = spike_fn is SingleSpike
        options = {"spikes": "single"} if single else {}
        if reset_fn is zero:
            options["reset"] = "zero"
        meta = {
            "framework": "sinabs",
            "network": f"Linear-LIFSqueeze-Linear-IAFSqueeze {sizes}, tau_mem {tau:g} steps"
            + (" per neuron (x0.5-1.5), thresholds 0.6-1.4" if per_neuron else ""),
            "weight_scale": scale,
            "spike_fn": spike_fn.__name__,
            "reset_fn": type(reset_fn).__name__,
            "compile_options": options,
            "single_spike": single,
            "per_neuron_parameters": per_neuron,
            "packages": PACKAGES,
        }
        save(folder, name, graph, x, out, meta)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
