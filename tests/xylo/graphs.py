"""A small NIR graph of Xylo's layout: 16 inputs -> 40 recurrent CubaLIF -> 8 CubaLIF, reset by
subtraction, ``>=`` threshold, several spikes per step (the contract stated in its metadata)."""

from __future__ import annotations

import nir
import numpy as np

from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract

DT = 1e-3


def cuba(n, rng, tau_syn=5e-3, tau_mem=2e-2):
    return nir.CubaLIF(
        tau_syn=np.full(n, tau_syn),
        tau_mem=rng.uniform(0.5, 2.0, n) * tau_mem,
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=rng.uniform(0.8, 1.2, n),
        v_reset=np.zeros(n),
        w_in=np.ones(n),
    )


def xylo_graph(seed=0, n_in=16, n_hidden=40, n_out=8, spikes="multi") -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc_in": nir.Linear(weight=rng.normal(0, 5, (n_hidden, n_in))),
        "hidden": cuba(n_hidden, rng),
        "fc_rec": nir.Linear(weight=rng.normal(0, 0.1, (n_hidden, n_hidden))),
        "fc_out": nir.Linear(weight=rng.normal(0, 5, (n_out, n_hidden))),
        "readout": cuba(n_out, rng),
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    edges = [
        ("input", "fc_in"),
        ("fc_in", "hidden"),
        ("hidden", "fc_rec"),
        ("fc_rec", "hidden"),
        ("hidden", "fc_out"),
        ("fc_out", "readout"),
        ("readout", "output"),
    ]
    c = DiscretizationContract(dt_seconds=DT, reset="subtract", threshold=">=", spikes=spikes)
    return nir.NIRGraph(nodes, edges, metadata={METADATA_KEY: c.to_metadata()}, type_check=False)
