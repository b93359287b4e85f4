"""Reference kernel of Xylo Audio 2: the step of :mod:`snn_deploy.numerics.xylo`, batched over
samples in numpy. The compiled twin (``compiled/xylo.py``) is tested against it integer for
integer; both are tested against the vendor's simulator (xylosim 0.1.3) in ``.venv-xylo``.

Per step k: input counts ``min(x[:, k], 15)`` add ``n * (w_in << shift_in)`` to the hidden
currents, saturating, channel after channel; the hidden spike counts of step k-1 add
``n * (w_rec << shift_rec)`` to the hidden currents and ``n * (w_out << shift_out)`` to the output
currents, neuron after neuron; then the hidden neurons update (up to 31 spikes each), then the
output neurons (up to 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_deploy.backends.xylo.config import XyloConfig
from snn_deploy.errors import InputFileError
from snn_deploy.numerics.xylo import XyloNumerics, neuron_step, sat16


@dataclass(frozen=True)
class XyloRun:
    """Spike counts and, where recorded, states after every step (int16 values in int64 arrays
    here; spike counts uint8): ``spikes`` (batch, steps, hidden), ``out_spikes`` (batch, steps,
    outputs), ``i_syn`` (batch, steps, hidden, synapses), ``v`` (batch, steps, hidden), ``i_out``,
    ``v_out`` (batch, steps, outputs). ``events``: counts of the arithmetic's corners hit."""

    spikes: np.ndarray
    out_spikes: np.ndarray
    i_syn: np.ndarray | None = None
    v: np.ndarray | None = None
    i_out: np.ndarray | None = None
    v_out: np.ndarray | None = None
    events: dict | None = None


def check_counts(cfg: XyloConfig, x) -> np.ndarray:
    """Input spike counts (batch, steps, channels) as uint8; refuses what is not."""
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != cfg.n_in:
        raise InputFileError(
            f"Xylo input must have shape (samples, steps, {cfg.n_in}), got {x.shape}",
            hint="give one spike count per input channel and step",
        )
    if x.dtype.kind not in "iub" or (x.size and (x.min() < 0 or x.max() > 255)):
        raise InputFileError(
            "Xylo input spike counts must be integers in 0..255 (the chip takes up to 15)",
            hint="encode analog data as spike counts first",
        )
    return x.astype(np.uint8)


def run_xylo_reference(cfg: XyloConfig, num: XyloNumerics, x, record: bool = True) -> XyloRun:
    x = check_counts(cfg, x)
    batch, steps, _ = x.shape
    h, o, c = cfg.n_hidden, cfg.n_out, cfg.n_syn
    w_in = cfg.w_in << cfg.shift_in  # (in, hidden, syn)
    w_rec = cfg.w_rec << cfg.shift_rec
    w_out = (cfg.w_out << cfg.shift_out)[:, :, None]  # (hidden, out, 1)
    i_syn = np.zeros((batch, h, c), np.int64)
    v = np.zeros((batch, h), np.int64)
    i_out = np.zeros((batch, o, 1), np.int64)
    v_out = np.zeros((batch, o), np.int64)
    prev = np.zeros((batch, h), np.int64)
    spikes = np.zeros((batch, steps, h), np.uint8)
    out_spikes = np.zeros((batch, steps, o), np.uint8)
    rec = {}
    if record:
        rec = {
            "i_syn": np.zeros((batch, steps, h, c), np.int64),
            "v": np.zeros((batch, steps, h), np.int64),
            "i_out": np.zeros((batch, steps, o), np.int64),
            "v_out": np.zeros((batch, steps, o), np.int64),
        }
    events = {"saturated_additions": 0, "multi_spikes": 0, "capped_inputs": 0, "mem_wraps": 0}
    for k in range(steps):
        n_in = np.minimum(x[:, k].astype(np.int64), num.max_input_spikes)
        events["capped_inputs"] += int(np.count_nonzero(x[:, k] > num.max_input_spikes))
        i_syn = _deliver(i_syn, n_in, w_in, events)
        i_syn = _deliver(i_syn, prev, w_rec, events)
        i_out = _deliver(i_out, prev, w_out, events)
        events["mem_wraps"] += int(np.count_nonzero((v == -(1 << 15)) & (cfg.dash_mem == 0)))
        events["mem_wraps"] += int(
            np.count_nonzero((v_out == -(1 << 15)) & (cfg.dash_mem_out == 0))
        )
        i_syn, v, n = neuron_step(
            i_syn, v, cfg.dash_syn, cfg.dash_mem, cfg.bias, cfg.threshold, num.max_hidden_spikes
        )
        i_out, v_out, n_out = neuron_step(
            i_out,
            v_out,
            cfg.dash_syn_out[:, None],
            cfg.dash_mem_out,
            cfg.bias_out,
            cfg.threshold_out,
            num.max_output_spikes,
        )
        events["multi_spikes"] += int(np.count_nonzero(n > 1))
        prev = n
        spikes[:, k] = n
        out_spikes[:, k] = n_out
        if record:
            rec["i_syn"][:, k] = i_syn
            rec["v"][:, k] = v
            rec["i_out"][:, k] = i_out[:, :, 0]
            rec["v_out"][:, k] = v_out
    return XyloRun(spikes=spikes, out_spikes=out_spikes, events=events, **rec)


def _deliver(cur, counts, w, events) -> np.ndarray:
    """Sources in index order: ``cur = sat16(cur + n_s * w[s])`` for each source ``s`` with
    ``n_s > 0`` (per sample)."""
    for s in np.flatnonzero(counts.any(axis=0)):
        n = counts[:, s][:, None, None]
        raw = cur + n * w[s][None]
        cur = sat16(raw)
        events["saturated_additions"] += int(np.count_nonzero(cur != raw))
    return cur


def run_network(qnet, num: XyloNumerics, inputs: dict, num_steps=None, record_voltage=(),
                engine: str = "reference", parallel=None):  # fmt: skip
    """An integer network of the Xylo layout on ``inputs`` (name -> (batch, steps, size) spike
    counts) as an ``EmulationResult``: spike counts per population (uint8), final ``i``, ``v``,
    voltage traces of ``record_voltage`` and the arithmetic's events (under the hidden layer)."""
    from snn_deploy.backends.emulator.result import EmulationResult
    from snn_deploy.backends.xylo.config import config_from_network
    from snn_deploy.checks.xylo import roles

    cfg = config_from_network(qnet)
    hidden, output = roles(qnet)
    port = qnet.inputs[0]
    x = np.asarray(inputs[port.name])
    steps = x.shape[1] if num_steps is None else int(num_steps)
    counts = np.zeros((x.shape[0], steps, cfg.n_in), np.uint8)
    n = min(steps, x.shape[1])
    counts[:, :n] = np.clip(x[:, :n], 0, 255).astype(np.uint8)
    if engine == "compiled":
        from snn_deploy.backends.emulator.compiled.xylo import run_xylo_compiled

        r = run_xylo_compiled(cfg, num, counts, record=True, parallel=parallel)
    else:
        r = run_xylo_reference(cfg, num, counts, record=True)
    traces = {hidden: r.v, output: r.v_out}
    empty = np.zeros((counts.shape[0], cfg.n_hidden), np.int64)
    last_i = r.i_syn[:, -1, :, 0] if steps else empty
    final = {
        hidden: {"i": last_i, "v": r.v[:, -1] if steps else empty},
        output: {"i": r.i_out[:, -1] if steps else empty[:, : cfg.n_out],
                 "v": r.v_out[:, -1] if steps else empty[:, : cfg.n_out]},
    }  # fmt: skip
    return EmulationResult(
        spikes={hidden: r.spikes, output: r.out_spikes},
        final_state=final,
        num_steps=steps,
        voltage={name: traces[name] for name in record_voltage},
        events={hidden: dict(r.events), output: {}},
    )
