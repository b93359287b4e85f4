"""Export to NIR: a :class:`DiscreteNetwork` (float) or a compiled integer network.

The exported graph is plain NIR 1.0 that ``nir.read`` loads, in the canonical parameterization
of snn-deploy's contract (unit input gain, time constants in the contract's integrator): a
population becomes

- ``CubaLIF``/``CubaLI`` with ``tau_syn = dt/(1-alpha)``, ``w_in = tau_syn/dt``,
  ``tau_mem = dt/(1-beta)``, ``r = tau_mem/dt``, ``v_leak = bias/(1-beta)`` when alpha > 0
  (Euler; exact: ``tau = -dt/ln(decay)``, ``w_in = 1/(1-alpha)``, ``r = 1/(1-beta)``);
- ``LIF``/``LI`` (no synaptic current) when alpha = 0, or ``IF``/``I`` when also beta = 1; their
  voltage bias is carried by the incoming ``Affine`` (``I[t] = x[t] + b``);

a projection a ``Linear`` (``Affine`` when it also carries a bias), plus a ``Delay`` node for
delays other than a back edge's. The contract is in the graph metadata.

:func:`network_for` writes the same network for another framework's own importer
(:data:`FRAMEWORKS`: snnTorch 1.0.0, Norse 1.1.0, Sinabs 3.1.3): a :class:`Style` (its dt, how it
reads ``r``, ``v_leak``, which nodes it takes) and a check listing what it cannot express, which
refuses the export with every reason at once.

For a compiled network (:func:`quantized_to_nir`) the float values are the integer network's own,
dequantized with each population's scale (``W = m 2**(weight_exp + 6) / scale``,
``theta = vth 2**6 / scale``, ``alpha = 1 - (du + 1)/4096``, ...), and every node's metadata
holds the exact integers under ``snn_deploy_integer``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import nir
import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import UnsupportedError
from snn_deploy.ir.contract import METADATA_KEY
from snn_deploy.ir.network import DiscreteNetwork, Population

INTEGER_KEY = "snn_deploy_integer"
MAX_DENSE_ENTRIES = 20_000_000


@dataclass(frozen=True)
class Style:
    """How one importer reads neuron parameters (what :func:`network_to_nir` writes).

    - ``dt_seconds``/``integrator``: the time step and decay rule the importer applies to tau
      (``None``: the network's own).
    - ``lif_unit_r``: LIF written with ``r = 1`` and its input gain ``dt/tau`` (Euler) undone in
      the incoming weights (Norse's LIFBox ignores ``r``); otherwise ``r = tau/dt`` (gain 1).
    - ``bias_in_affine``: the voltage bias of neurons without a synaptic current goes into the
      incoming ``Affine`` (exact: ``I[t] = x[t] + b``), ``v_leak = 0`` (importers that refuse
      or mis-start on ``v_leak``).
    - ``always_affine``: projections are ``Affine`` (zero bias) even without a bias.
    - ``v_reset``: write the ``v_reset`` field (nir 1.0.4, Sinabs' pin, does not know it).
    """

    dt_seconds: float | None = None
    integrator: str | None = None
    lif_unit_r: bool = False
    bias_in_affine: bool = True
    always_affine: bool = False
    v_reset: bool = True


def _tau(decay: np.ndarray, dt: float, integrator: str, name: str) -> np.ndarray:
    """The time constant that gives ``decay`` per step under ``integrator``."""
    if integrator == "euler":
        return dt / (1 - decay)
    if np.any(decay <= 0):
        raise UnsupportedError(
            f"population '{name}': a decay of 0 has no time constant under the exact "
            "integrator (tau = -dt / ln(decay))"
        )
    return -dt / np.log(decay)


def _neuron_node(pop: Population, dt: float, integrator: str, style: Style, metadata: dict):
    """The node and the factor applied to its incoming weights (and Affine bias)."""
    a, b = np.asarray(pop.alpha), np.asarray(pop.beta)
    ones = np.ones(pop.size)
    if np.any(a >= 1):
        raise UnsupportedError(
            f"population '{pop.name}': a current that never decays (alpha = 1) has no NIR form"
        )
    thr = np.asarray(pop.threshold)
    reset = {"v_reset": np.asarray(pop.v_reset)} if style.v_reset else {}
    moved = style.bias_in_affine and np.all(a == 0)
    v_bias = np.zeros(pop.size) if moved else np.asarray(pop.bias)
    if np.all(a == 0) and np.all(b == 1):
        if np.any(v_bias != 0):
            raise UnsupportedError(f"population '{pop.name}': an IF neuron has no v_leak")
        if pop.spiking:
            return nir.IF(r=ones / dt, v_threshold=thr, metadata=metadata, **reset), ones
        return nir.I(r=ones / dt, metadata=metadata), ones
    if np.any(b >= 1):
        raise UnsupportedError(
            f"population '{pop.name}': a voltage that never decays together "
            "with a synaptic current has no NIR form"
        )
    tau_mem = _tau(b, dt, integrator, pop.name)
    gain = 1 - b if integrator == "exact" else dt / tau_mem
    r, factor = 1.0 / gain, ones
    if style.lif_unit_r and np.all(a == 0):
        r, factor = ones, 1.0 / gain
    common = dict(r=r * ones, v_leak=v_bias / (1 - b), metadata=metadata)
    if np.all(a == 0):
        if pop.spiking:
            return nir.LIF(tau=tau_mem, v_threshold=thr, **reset, **common), factor
        return nir.LI(tau=tau_mem, **common), factor
    tau_syn = _tau(a, dt, integrator, pop.name)
    w_in = 1.0 / (1 - a if integrator == "exact" else dt / tau_syn)
    if pop.spiking:
        node = nir.CubaLIF(
            tau_syn=tau_syn, tau_mem=tau_mem, v_threshold=thr, w_in=w_in, **reset, **common
        )
        return node, ones
    return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, w_in=w_in, **common), ones


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
    net: DiscreteNetwork,
    node_metadata: dict | None = None,
    graph_metadata: dict | None = None,
    style: Style | None = None,
) -> nir.NIRGraph:
    """The float network as a NIR graph (model time), with the contract in its metadata.

    ``style`` (default: NIR's own reading at the network's dt and integrator) rewrites the time
    step and parameterization for one framework's importer; the discrete-time network, and so
    the contract written into the metadata apart from dt and integrator, stay the same."""
    style = style or Style()
    node_metadata = node_metadata or {}
    dt = style.dt_seconds or net.contract.dt_seconds
    integrator = style.integrator or net.contract.integrator
    constant = {p.name for p in net.inputs if p.kind == "constant"}
    nodes = {
        p.name: nir.Input(input_type={"input": np.array([p.size])})
        for p in net.inputs
        if p.kind == "spikes"
    }
    edges = []
    factors = {}
    biases = {}
    for pop in net.populations:
        nodes[pop.name], factors[pop.name] = _neuron_node(
            pop, dt, integrator, style, node_metadata.get(pop.name, {})
        )
        if style.bias_in_affine and np.all(pop.alpha == 0) and np.any(pop.bias != 0):
            biases[pop.name] = np.asarray(pop.bias, dtype=np.float64)
    for proj in net.projections:
        if proj.source in constant:
            biases[proj.target] = biases.get(proj.target, 0) + _dense(proj.weight, proj.name)[:, 0]
    carried = set()
    for proj in net.projections:
        if proj.source in constant:
            continue
        name = proj.name.replace("/", "_")
        f = factors[proj.target]
        w = _dense(proj.weight, proj.name) * f[:, None]
        meta = node_metadata.get(proj.name, {})
        if proj.target in biases and proj.target not in carried:
            nodes[name] = nir.Affine(weight=w, bias=biases[proj.target] * f, metadata=meta)
            carried.add(proj.target)
        elif style.always_affine:
            nodes[name] = nir.Affine(weight=w, bias=np.zeros(w.shape[0]), metadata=meta)
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
    contract = dataclasses.replace(
        net.contract, convention="", dt_seconds=dt, integrator=integrator
    )
    meta = {METADATA_KEY: contract.to_metadata(), **(graph_metadata or {})}
    return nir.NIRGraph(nodes, edges, metadata=meta, type_check=False)


def _is_back(net: DiscreteNetwork, proj) -> bool:
    order = {p.name: i for i, p in enumerate(net.inputs)}
    order.update({p.name: len(order) + i for i, p in enumerate(net.populations)})
    return order[proj.source] >= order[proj.target]


def dequantized(net: DiscreteNetwork, qnet, numerics) -> tuple[DiscreteNetwork, dict]:
    """The compiled Loihi-family network's values as a float network, and the exact integers
    as node metadata (``{name: {INTEGER_KEY: ...}}``)."""
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
    return dataclasses.replace(net, populations=tuple(pops), projections=tuple(projs)), node_meta


def quantized_to_nir(net: DiscreteNetwork, qnet, numerics) -> nir.NIRGraph:
    """A compiled Loihi-family network as NIR: dequantized values, exact integers in metadata."""
    deq, node_meta = dequantized(net, qnet, numerics)
    graph_meta = {
        "snn_deploy_export": {
            "target": qnet.target,
            "arithmetic": qnet.arithmetic,
            "values": "dequantized integer network",
        }
    }
    return network_to_nir(deq, node_meta, graph_meta)


# ------------------------------------------------------------------ other frameworks' importers
@dataclass(frozen=True)
class Framework:
    """A framework whose NIR importer an export is written for (``export --for NAME``).

    ``style`` is how its importer reads the parameters; ``check`` lists what in a network that
    importer cannot express (each a phrase naming what would change); ``unavailable`` refuses
    the framework outright, with the reason."""

    name: str
    label: str
    style: Style | None = None
    load: str = ""
    check: object = None
    unavailable: str = ""
    caveats: object = None
    one_threshold_per_layer: bool = False


def _back_edges(net: DiscreteNetwork) -> list:
    return [p for p in net.projections if p.delay_steps > 0 and _is_back(net, p)]


def _common_limits(net: DiscreteNetwork, label: str) -> list[str]:
    """What no importer here expresses: late resets, I[t-1] drive, delays beyond a back edge's."""
    c, out = net.contract, []
    if c.reset_delay:
        out.append("the model resets one step after the spike; it resets in the spike's step")
    if c.current_drive != "same_step":
        out.append("the model drives V with I[t-1]; it drives V with I[t]")
    if c.recurrent_delay_steps != 1:
        out.append(f"back edges are delayed {c.recurrent_delay_steps} steps; it delays them 1")
    for p in net.projections:
        back = _is_back(net, p) and p.delay_steps == c.recurrent_delay_steps
        if p.delay_steps and not back:
            out.append(
                f"projection '{p.name}' is delayed {p.delay_steps} steps; {label} reads "
                "no Delay node"
            )
    return out


def _spiking_only(net, label: str) -> list[str]:
    return [
        f"population '{p.name}' is a non-spiking readout (LI/CubaLI); {label}'s importer has none"
        for p in net.populations
        if not p.spiking
    ]


def _reset_zero(net, label: str) -> list[str]:
    c, out = net.contract, []
    if c.reset != "zero":
        out.append(f"the model resets by subtraction; {label}'s importer resets to zero")
    if c.threshold != ">":
        out.append(f"the model spikes at V >= threshold; {label} spikes at V > threshold")
    if c.spikes != "single":
        out.append(f"the model sends several spikes per step; {label} sends one")
    for p in net.populations:
        if p.spiking and np.any(p.v_reset != 0):
            out.append(f"population '{p.name}' resets to v_reset != 0; {label} resets to 0")
        if np.any(p.alpha > 0) and np.any(p.bias != 0):
            out.append(
                f"population '{p.name}' has a voltage bias beside its synaptic current; "
                f"{label}'s CubaLIF takes no v_leak"
            )
    return out


def _snntorch_limits(net: DiscreteNetwork) -> list[str]:
    label = "snnTorch 1.0.0"
    out = _common_limits(net, label) + _spiking_only(net, label) + _reset_zero(net, label)
    for p in net.populations:
        if np.any((p.alpha == 0) & (p.beta == 1)):
            out.append(
                f"population '{p.name}' is an IF neuron; {label} imports IF as Leaky(beta=0.9)"
            )
    for p in net.populations:
        if p.spiking and np.unique(p.threshold).size > 1 and np.any(p.threshold <= 0):
            out.append(
                f"population '{p.name}' has per-neuron thresholds, some <= 0; {label} takes "
                "one threshold per layer (positive ones are rescaled to 1)"
            )
    if _back_edges(net):
        out.append(
            f"the network is recurrent; {label}'s importer fails on recurrent graphs "
            "with nirtorch 2.6 ('GraphModule' object has no attribute 'items')"
        )
    return out


def _norse_limits(net: DiscreteNetwork) -> list[str]:
    label = "Norse 1.1.0"
    return _common_limits(net, label) + _spiking_only(net, label) + _reset_zero(net, label)


def _sinabs_limits(net: DiscreteNetwork) -> list[str]:
    label = "Sinabs 3.1.3"
    c = net.contract
    out = _common_limits(net, label) + _spiking_only(net, label)
    if c.reset != "subtract":
        out.append(f"the model resets to v_reset; {label}'s IAF/LIF reset by subtraction")
    if c.threshold != ">=":
        out.append(f"the model spikes at V > threshold; {label} spikes at V >= threshold")
    if c.spikes != "multi":
        out.append(
            f"the model sends one spike per step; {label}'s importer makes MultiSpike "
            "neurons (floor(V/threshold) spikes)"
        )
    for p in net.populations:
        if np.any(p.alpha > 0):
            out.append(f"population '{p.name}' has a synaptic current; {label} imports no CubaLIF")
        elif np.any(p.beta == 0) or (np.any(p.beta == 1) and not np.all(p.beta == 1)):
            out.append(
                f"population '{p.name}' mixes IF and LIF neurons or has a decay of 0; "
                f"{label} needs one tau > 0 per LIF neuron"
            )
    if _back_edges(net):
        out.append(f"the network is recurrent; {label}'s importer runs layers on whole sequences")
    return out


def _sinabs_caveats(net: DiscreteNetwork) -> list[str]:
    return [
        f"Sinabs' importer bounds the voltage of IF population '{p.name}' below at -threshold "
        "(IAFSqueeze(min_v_mem=-v_threshold)), which the model does not: spikes differ after "
        "V would have gone lower"
        for p in net.populations
        if np.all(p.beta == 1)
    ]


def unit_thresholds(net: DiscreteNetwork) -> tuple[DiscreteNetwork, list[str]]:
    """Populations with per-neuron thresholds rescaled to threshold 1: each neuron's incoming
    weights, bias and v_reset divided by its threshold. Its spikes are the same (for thresholds
    > 0, with ``V`` linear in its inputs), its voltage is in units of its threshold. For
    importers that take one threshold per layer (snnTorch 1.0.0)."""
    scale, notes = {}, []
    for p in net.populations:
        if p.spiking and np.unique(p.threshold).size > 1 and np.all(p.threshold > 0):
            scale[p.name] = 1.0 / np.asarray(p.threshold)
            notes.append(
                f"population '{p.name}' has per-neuron thresholds: written with threshold 1 and "
                "each neuron's input divided by its threshold (same spikes, V in units of the "
                "threshold)"
            )
    if not scale:
        return net, notes
    pops = tuple(
        dataclasses.replace(
            p,
            threshold=np.ones(p.size),
            bias=p.bias * scale[p.name],
            v_reset=p.v_reset * scale[p.name],
        )
        if p.name in scale
        else p
        for p in net.populations
    )
    projs = []
    for p in net.projections:
        if p.target in scale:
            k = scale[p.target]
            w = sp.diags(k) @ p.weight if sp.issparse(p.weight) else p.weight * k[:, None]
            p = dataclasses.replace(p, weight=w)
        projs.append(p)
    return dataclasses.replace(net, populations=pops, projections=tuple(projs)), notes


FRAMEWORKS = {
    "nir": Framework("nir", "NIR (snn-deploy's contract in the metadata)", Style()),
    "snntorch": Framework(
        "snntorch",
        "snnTorch 1.0.0",
        Style(dt_seconds=1e-4, integrator="euler"),
        "snntorch.import_nir.import_from_nir(nir.read(path))",
        _snntorch_limits,
        one_threshold_per_layer=True,
    ),
    "norse": Framework(
        "norse",
        "Norse 1.1.0",
        Style(dt_seconds=1e-3, integrator="euler", lif_unit_r=True, always_affine=True),
        "norse.torch.from_nir(nir.read(path)) at its default dt = 0.001",
        _norse_limits,
    ),
    "sinabs": Framework(
        "sinabs",
        "Sinabs 3.1.3",
        Style(dt_seconds=1.0, integrator="exact", always_affine=True, v_reset=False),
        "sinabs.from_nir(nir.read(path), batch_size=B)",
        _sinabs_limits,
        caveats=_sinabs_caveats,
    ),
    "rockpool": Framework(
        "rockpool",
        "Rockpool 3.1.0",
        unavailable="Rockpool's importer cannot be run here to prove an export: Rockpool is "
        "AGPL-licensed and imports samna, whose PyPI release is a stub that fetches the "
        "real package from another index, so snn-deploy does not write for it",
    ),
    "spikingjelly": Framework(
        "spikingjelly",
        "SpikingJelly 2.0.0",
        unavailable="SpikingJelly 2.0.0's importer has not been run against snn-deploy's "
        "exports yet (it is not installed in any of the project's environments), so "
        "snn-deploy does not write for it",
    ),
}


def network_for(net: DiscreteNetwork, framework: str, notes: tuple[str, ...] = ()) -> nir.NIRGraph:
    """``net`` as the NIR graph ``framework``'s importer reads as the same discrete-time
    network, or :class:`UnsupportedError` naming everything that importer would change.
    ``notes`` are added to the export's notes (metadata ``snn_deploy_export``)."""
    if framework not in FRAMEWORKS:
        raise UnsupportedError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")
    fw = FRAMEWORKS[framework]
    if fw.unavailable:
        raise UnsupportedError(
            f"--for {framework}: {fw.unavailable}", hint="export with --for nir (the default)"
        )
    problems = fw.check(net) if fw.check else []
    if problems:
        raise UnsupportedError(
            f"{fw.label} cannot express this model: " + "; ".join(dict.fromkeys(problems)),
            hint="export with --for nir, or change the model",
        )
    meta = {}
    if framework != "nir":
        notes = [*notes, *(fw.caveats(net) if fw.caveats else [])]
        if fw.one_threshold_per_layer:
            net, rescaled = unit_thresholds(net)
            notes += rescaled
        dt = fw.style.dt_seconds
        if dt != net.contract.dt_seconds:
            notes.insert(
                0,
                f"time constants written for {fw.label}'s dt = {dt:g} s; the model's own dt is "
                f"{net.contract.dt_seconds:g} s: the same network step for step, its time "
                "relabelled",
            )
        meta["snn_deploy_export"] = {"for": fw.label, "load_with": fw.load}
        if notes:
            meta["snn_deploy_export"]["notes"] = notes
    return network_to_nir(net, graph_metadata=meta, style=fw.style)


def write_nir(path, graph: nir.NIRGraph, framework: str = "nir") -> None:
    """``nir.write`` the graph; for an importer pinned to an older nir (Sinabs 3.1.3: nir 1.0.4,
    whose IF and LIF have no ``v_reset``), drop the fields it does not know."""
    nir.write(path, graph)
    style = FRAMEWORKS[framework].style
    if style is not None and not style.v_reset:
        import h5py

        with h5py.File(path, "r+") as f:
            for node in f["node/nodes"].values():
                if "v_reset" in node:
                    del node["v_reset"]
