"""Export to NIR: a :class:`DiscreteNetwork` (float) or a compiled integer network.

The exported graph is plain NIR 1.0 that ``nir.read`` loads, in the canonical parameterization
of snn-deploy's contract (Euler, unit input gain): a population becomes

- ``CubaLIF``/``CubaLI`` with ``tau_syn = dt/(1-alpha)``, ``w_in = tau_syn/dt``,
  ``tau_mem = dt/(1-beta)``, ``r = tau_mem/dt``, ``v_leak = bias/(1-beta)`` when alpha > 0;
- ``LIF``/``LI`` (no synaptic current) when alpha = 0, or ``IF``/``I`` when also beta = 1;

a projection a ``Linear`` (``Affine`` when it also carries the bias of a constant input), plus a
``Delay`` node for delays other than a back edge's. The contract is in the graph metadata.

For a compiled network (:func:`quantized_to_nir`) the float values are the integer network's own,
dequantized with each population's scale (``W = m 2**(weight_exp + 6) / scale``,
``theta = vth 2**6 / scale``, ``alpha = 1 - (du + 1)/4096``, ...), and every node's metadata
holds the exact integers under ``snn_deploy_integer``.
"""

from __future__ import annotations

import dataclasses

import nir
import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import UnsupportedError
from snn_deploy.ir.contract import METADATA_KEY
from snn_deploy.ir.network import DiscreteNetwork, Population

INTEGER_KEY = "snn_deploy_integer"
MAX_DENSE_ENTRIES = 20_000_000


def _neuron_node(pop: Population, dt: float, metadata: dict):
    a, b = np.asarray(pop.alpha), np.asarray(pop.beta)
    if np.any(a >= 1):
        raise UnsupportedError(
            f"population '{pop.name}': a current that never decays (alpha = 1) has no NIR form"
        )
    thr = np.asarray(pop.threshold)
    if np.all(a == 0) and np.all(b == 1):
        if pop.spiking:
            return nir.IF(
                r=np.full(pop.size, 1.0 / dt),
                v_threshold=thr,
                v_reset=np.asarray(pop.v_reset),
                metadata=metadata,
            )
        return nir.I(r=np.full(pop.size, 1.0 / dt), metadata=metadata)
    if np.any(b >= 1):
        raise UnsupportedError(
            f"population '{pop.name}': a voltage that never decays together "
            "with a synaptic current has no NIR form"
        )
    tau_mem = dt / (1 - b)
    common = dict(r=tau_mem / dt, v_leak=np.asarray(pop.bias) / (1 - b), metadata=metadata)
    if np.all(a == 0):
        if pop.spiking:
            return nir.LIF(tau=tau_mem, v_threshold=thr, v_reset=np.asarray(pop.v_reset), **common)
        return nir.LI(tau=tau_mem, **common)
    tau_syn = dt / (1 - a)
    if pop.spiking:
        return nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            v_threshold=thr,
            v_reset=np.asarray(pop.v_reset),
            w_in=tau_syn / dt,
            **common,
        )
    return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, w_in=tau_syn / dt, **common)


def _dense(w, name: str) -> np.ndarray:
    if sp.issparse(w):
        if w.shape[0] * w.shape[1] > MAX_DENSE_ENTRIES:
            raise UnsupportedError(
                f"projection '{name}': {w.shape[0]:,} x {w.shape[1]:,} weights are too many to "
                "write as a dense NIR Linear",
                hint="export the float model's own NIR graph",
            )
        return w.toarray()
    return np.asarray(w, dtype=np.float64)


def network_to_nir(
    net: DiscreteNetwork, node_metadata: dict | None = None, graph_metadata: dict | None = None
) -> nir.NIRGraph:
    """The float network as a NIR graph (model time), with the contract in its metadata."""
    node_metadata = node_metadata or {}
    dt = net.contract.dt_seconds
    constant = {p.name for p in net.inputs if p.kind == "constant"}
    nodes = {
        p.name: nir.Input(input_type={"input": np.array([p.size])})
        for p in net.inputs
        if p.kind == "spikes"
    }
    edges = []
    for pop in net.populations:
        nodes[pop.name] = _neuron_node(pop, dt, node_metadata.get(pop.name, {}))
    biases = {}
    for proj in net.projections:
        if proj.source in constant:
            biases[proj.target] = biases.get(proj.target, 0) + _dense(proj.weight, proj.name)[:, 0]
    carried = set()
    for proj in net.projections:
        if proj.source in constant:
            continue
        name = proj.name.replace("/", "_")
        w = _dense(proj.weight, proj.name)
        meta = node_metadata.get(proj.name, {})
        if proj.target in biases and proj.target not in carried:
            nodes[name] = nir.Affine(weight=w, bias=biases[proj.target], metadata=meta)
            carried.add(proj.target)
        else:
            nodes[name] = nir.Linear(weight=w, metadata=meta)
        back = proj.delay_steps == net.contract.recurrent_delay_steps and _is_back(net, proj)
        extra = 0 if back else proj.delay_steps
        edges.append((proj.source, name))
        if extra:
            delay = f"{name}.delay"
            nodes[delay] = nir.Delay(delay=np.full(proj.weight.shape[0], extra * dt))
            edges += [(name, delay), (delay, proj.target)]
        else:
            edges.append((name, proj.target))
    missing = set(biases) - carried
    if missing:
        raise UnsupportedError(f"population(s) {sorted(missing)} get a bias but no other input")
    for out in net.outputs:
        oname = "output" if "output" not in nodes else f"output_{out}"
        nodes[oname] = nir.Output(output_type={"output": np.array([net.size_of(out)])})
        edges.append((out, oname))
    # The nodes carry canonical parameters: no exporter convention applies to them any more.
    contract = dataclasses.replace(net.contract, convention="")
    meta = {METADATA_KEY: contract.to_metadata(), **(graph_metadata or {})}
    return nir.NIRGraph(nodes, edges, metadata=meta, type_check=False)


def _is_back(net: DiscreteNetwork, proj) -> bool:
    order = {p.name: i for i, p in enumerate(net.inputs)}
    order.update({p.name: len(order) + i for i, p in enumerate(net.populations)})
    return order[proj.source] >= order[proj.target]


def quantized_to_nir(net: DiscreteNetwork, qnet, numerics) -> nir.NIRGraph:
    """A compiled Loihi-family network as NIR: dequantized values, exact integers in metadata."""
    unity, shift = numerics.decay_unity, numerics.input_shift
    pops, node_meta = [], {}
    for fp, qp in zip(net.populations, qnet.populations, strict=True):
        q, s = qp.params, qp.scale
        alpha = 1.0 - (q.du + numerics.current_decay_offset) / unity
        beta = 1.0 - (q.dv + numerics.voltage_decay_offset) / unity
        bias = (q.bias_mant.astype(np.float64) * 2.0**q.bias_exp) / s
        thr = (q.vth * float(1 << numerics.threshold_shift)) / s if qp.spiking else fp.threshold
        pops.append(dataclasses.replace(fp, alpha=alpha, beta=beta, bias=bias, threshold=thr))
        node_meta[fp.name] = {
            INTEGER_KEY: {
                "du": q.du,
                "dv": q.dv,
                "vth": q.vth,
                "bias_mant": q.bias_mant,
                "bias_exp": q.bias_exp,
                "scale": np.float64(s),
                "model": qp.model,
            }
        }
    projs = []
    for fp, qp in zip(net.projections, qnet.projections, strict=True):
        scale = qnet.population(qp.target).scale
        unit = 2.0 ** (qp.params.weight_exp + shift) / scale
        w = qp.weight.astype(np.float64) * unit
        projs.append(dataclasses.replace(fp, weight=w))
        mant = qp.weight.toarray() if sp.issparse(qp.weight) else qp.weight
        node_meta[fp.name] = {
            INTEGER_KEY: {
                "weight_mantissa": np.asarray(mant),
                "weight_exp": np.int64(qp.params.weight_exp),
                "num_weight_bits": np.int64(qp.params.num_weight_bits),
                "sign_mode": qp.params.sign_mode,
                "chip_delay_steps": np.int64(qp.delay_steps),
            }
        }
    deq = dataclasses.replace(net, populations=tuple(pops), projections=tuple(projs))
    graph_meta = {
        "snn_deploy_export": {
            "target": qnet.target,
            "arithmetic": qnet.arithmetic,
            "values": "dequantized integer network",
        }
    }
    return network_to_nir(deq, node_meta, graph_meta)
