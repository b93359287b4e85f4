"""Integer network -> lava-dl netx HDF5 (``network.net``), written only where netx loads it exactly.

netx (lava-dl 0.6.0, ``lava/lib/dl/netx/hdf5.py``) builds a sequential chain of Lava processes:
``layer/0`` (``input``: a shape only) feeds ``layer/1`` (a ``dense`` block: ``Dense`` or
``DelayDense`` then ``LIF``), which feeds ``layer/2``, ... A ``dense_rec`` block adds a ``Dense``
from the layer's own spikes. Per block it reads:

- ``neuron/iDecay``, ``vDecay``, ``vThMant`` -> ``LIF(du=iDecay - 1, dv=vDecay, vth=vThMant,
  bias_exp=6)`` (``get_neuron_params``); ``bias`` (optional) -> ``bias_mant``;
- ``weight`` (and ``weight_rec``) -> ``optimize_weight_bits``, which picks a left shift ``s``, gives
  Lava ``weights << s`` with ``weight_exp = -s`` and lets Lava's ``Dense`` pick the sign mode from
  the shifted weights. When Lava's clip and truncation keep ``weights << s`` unchanged, the
  synaptic input is exactly the sum of the file's integers: netx has no weight exponent of its
  own. :func:`netx_shift` and :func:`netx_loaded` reproduce that reading (tests compare them
  with lava-dl's own code) and every export is checked with them;
- ``delay`` -> ``DelayDense(delays=delay)`` (a delay ``d`` arrives ``d`` steps after ``Dense``).

So a population is expressible when its effective input weights (``mantissa << weight_exp``) are
integers that netx reproduces, and its bias is a multiple of ``2**6``. ``compile --netx`` makes the
quantizer choose such integers (``weight_exp = 0``, ``bias_exp = 6``). Anything else is refused
with one line saying why (:class:`NetxRefused`); the other artifacts are written regardless.

Never written: ``neuron/messageBits`` (a run with it hangs in lava-dl 0.6.0's blocks), ``refDelay``
is written as slayer does (1) and ignored by netx for CUBA neurons.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import UnsupportedError, VerificationError
from snn_deploy.numerics.loihi import LoihiNumerics, determine_sign_mode, prepare_weights

NET_FILE = "network.net"
SCRIPT = "run_loihi2.py"
# lava-dl 0.6.0 netx/hdf5.py get_neuron_params: 'bias_exp': 6 for CUBA/LOIHI neurons.
NETX_BIAS_EXP = 6
# lava-dl 0.6.0 netx/blocks/process.py: DelayDense(..., max_delay=62); hdf5.py clamps > 62.
NETX_MAX_DELAY = 62
# lava-dl 0.6.0 netx/hdf5.py get_neuron_params: du = iDecay - 1 (iDecay is the effective decay).
NETX_IDECAY_OFFSET = 1
HINT = "compile with --netx for integers netx expresses; the other artifacts are unaffected"


class NetxRefused(UnsupportedError):
    """The integer network has no exact netx encoding; the message says why, in one line."""


@dataclass(frozen=True)
class NetxLayer:
    """One ``dense``/``dense_rec`` block: effective integer weights (target, source), file bias
    (the chip adds ``bias << 6``), extra delay steps (0: ``Dense``), LIF constants."""

    population: str
    weight: np.ndarray
    weight_rec: np.ndarray | None
    bias: np.ndarray | None
    delay: int
    i_decay: int
    v_decay: int
    vth: int


@dataclass(frozen=True)
class NetxNetwork:
    input_name: str
    input_size: int
    layers: tuple[NetxLayer, ...]


# ---------------------------------------------------------------- netx's reading, reproduced
def netx_shift(w: np.ndarray) -> int:
    """The left shift ``s`` that lava-dl 0.6.0 ``netx.utils.optimize_weight_bits`` gives ``w``
    (its ``weight_exponent`` is ``-s``); raises NetxRefused where netx itself fails or clips."""
    w = np.asarray(w, dtype=np.int64)
    hi, lo = (int(w.max()), int(w.min())) if w.size else (0, 0)
    if hi == 0 and lo == 0:
        raise NetxRefused("an all-zero weight matrix (netx raises OverflowError on it)")
    if hi > 254 and lo < 0:
        raise NetxRefused(f"signed weights up to {hi} (netx clips signed weights to 254)")
    if lo < -256 and hi > 0:
        raise NetxRefused(f"signed weights down to {lo} (netx clips signed weights to -256)")
    if lo >= 0 and hi > 255:
        raise NetxRefused(
            f"excitatory weights up to {hi} (netx shifts a matrix above 255 by a negative "
            "count, which zeroes it)"
        )
    if hi < 0:  # netx INHIBITORY
        scale, signed = -256 / lo, 0
    elif lo >= 0:  # netx EXCITATORY
        scale, signed = 255 / hi, 0
    else:  # netx MIXED (including max == 0, which Lava's Dense then calls INHIBITORY)
        pos = 127 / hi if hi > 0 else np.inf
        scale, signed = min(pos, -128 / lo), 1
    return int(np.floor(np.log2(scale))) + signed


def netx_loaded(w: np.ndarray, shift: int, bits: int | None = None) -> np.ndarray:
    """The weights of the Lava ``Dense`` that netx builds from ``w``: ``w << shift``, then
    Lava's first-step preparation with the sign mode Lava picks from the shifted matrix (netx
    passes none): 8-bit clip and truncation to netx's ``num_weight_bits``. The ``Dense`` adds
    their sum ``>> shift`` per step, which is the sum of ``w`` exactly when this equals
    ``w << shift``. ``bits``: netx's ``num_weight_bits`` where it was derived from a larger
    matrix (a recurrent block's forward and recurrent weights together)."""
    w = np.asarray(w, dtype=np.int64)
    if shift < 0:
        return np.zeros_like(w)  # numpy's left shift by a negative count gives 0 here
    shifted = w << shift
    mode = determine_sign_mode(shifted)
    # netx's num_weight_bits = 8 - s - n (n: largest power of two, up to 8, dividing every
    # weight, minus one if signed); Lava truncates by 8 - num_weight_bits (+1 if MIXED).
    bits = _netx_weight_bits(w, shift) if bits is None else bits
    if _LAVA_DENSE.weight_mantissa_bits - bits + (1 if mode == "mixed" else 0) < 0:
        return np.zeros_like(w)  # a negative truncation count: numpy's shifts give 0
    return prepare_weights(shifted, mode, bits, _LAVA_DENSE)


def _netx_weight_bits(w: np.ndarray, shift: int) -> int:
    hi, lo = (int(w.max()), int(w.min())) if w.size else (0, 0)
    signed = 1 if (lo < 0 and hi >= 0) else 0
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    return 8 - shift - (n - signed)


# Lava's Dense arithmetic constants as netx's Dense sees them (8-bit mantissa; the fields that
# matter here are weight_mantissa_bits for clip and truncation).
_LAVA_DENSE = LoihiNumerics(
    state_bits=24,
    decay_bits=12,
    current_decay_offset=1,
    voltage_decay_offset=0,
    input_shift=6,
    threshold_bits=17,
    threshold_shift=6,
    bias_mantissa_bits=13,
    bias_exp_min=0,
    bias_exp_max=7,
    weight_mantissa_bits=8,
    weight_exp_min=-7,
    weight_exp_max=7,
    delay_bits=6,
    synapse_delay_steps=1,
    channel_bits=32,
)


def check_loadable(name: str, weight: np.ndarray, weight_rec: np.ndarray | None) -> None:
    """Refuse weights whose netx reading differs from them in any synapse."""
    both = weight if weight_rec is None else np.hstack([weight, weight_rec])
    try:
        shift = netx_shift(both)
    except NetxRefused as exc:
        raise NetxRefused(f"population '{name}': {exc}", hint=HINT) from None
    bits = _netx_weight_bits(both, shift)
    for label, w in (("weights", weight), ("recurrent weights", weight_rec)):
        if w is None:
            continue
        got = netx_loaded(w, shift, bits)
        bad = np.argwhere(got != (w << max(shift, 0)))
        if bad.size:
            r, c = bad[0]
            raise NetxRefused(
                f"population '{name}': netx would load {bad.shape[0]} of its {label} "
                f"differently (e.g. [{r}, {c}] = {w[r, c]} becomes {got[r, c] / 2.0**shift:g}: "
                f"netx shifts the matrix left by {shift}, Lava clips and truncates the result)",
                hint=HINT,
            )


# ---------------------------------------------------------------- qnet -> layers
def plan_netx(qnet) -> NetxNetwork:
    """The netx layers of ``qnet``, each proven to load exactly, or NetxRefused (one line)."""
    if qnet.arithmetic != "loihi":
        raise NetxRefused(f"netx runs Loihi arithmetic, not {qnet.arithmetic!r}")
    spikes = [i for i in qnet.inputs if i.kind == "spikes"]
    others = [i for i in qnet.inputs if i.kind != "spikes"]
    if others:
        raise NetxRefused(
            f"input '{others[0].name}' is a constant ({others[0].kind}) port; a netx network "
            "has one spike input",
            hint=HINT,
        )
    if len(spikes) != 1:
        raise NetxRefused(f"netx networks have one input; this one has {len(spikes)}")
    source, layers, seen = spikes[0].name, [], set()
    for _ in qnet.populations:
        forward = [p for p in qnet.projections if p.source == source and p.target != source]
        if len(forward) != 1:
            raise NetxRefused(
                f"'{source}' feeds {len(forward)} populations; netx loads only a chain "
                "(each layer feeds the next one only)",
                hint="a split or branching network runs in Lava with --backend lava",
            )
        proj = forward[0]
        pop = qnet.population(proj.target)
        if pop.name in seen:
            raise NetxRefused(f"'{pop.name}' is reached twice; netx loads only a chain")
        seen.add(pop.name)
        layers.append(_layer(qnet, pop, proj))
        source = pop.name
    if len(seen) != len(qnet.populations):
        raise NetxRefused("not every population lies on one chain from the input")
    expected = len(layers) + sum(layer.weight_rec is not None for layer in layers)
    if len(qnet.projections) != expected:
        raise NetxRefused(
            "some projection skips a layer or goes backwards; netx loads only a chain "
            "(with self-recurrence)"
        )
    if tuple(qnet.outputs) != (layers[-1].population,):
        raise NetxRefused(
            f"the outputs {list(qnet.outputs)} are not the chain's last layer "
            f"'{layers[-1].population}'"
        )
    return NetxNetwork(spikes[0].name, spikes[0].size, tuple(layers))


def _layer(qnet, pop, proj) -> NetxLayer:
    name = pop.name
    incoming = [p for p in qnet.projections if p.target == name]
    rec = [p for p in incoming if p.source == name]
    if len(incoming) != 1 + len(rec) or len(rec) > 1:
        raise NetxRefused(
            f"population '{name}' has {len(incoming)} incoming projections; netx takes one "
            "(plus one recurrent)",
            hint="a split or merged network runs in Lava with --backend lava",
        )
    p = pop.params
    consts = {}
    for field, label in (("du", "du"), ("dv", "dv"), ("vth", "vth")):
        values = np.unique(getattr(p, field))
        if values.size != 1:
            raise NetxRefused(
                f"population '{name}' has {values.size} distinct {label} values; a netx layer "
                "takes one"
            )
        consts[field] = int(values[0])
    bias = _bias(name, p)
    weight = _effective_weight(proj)
    weight_rec = _effective_weight(rec[0]) if rec else None
    delay = int(proj.delay_steps) - 1
    if rec and (delay or rec[0].delay_steps != 1):
        raise NetxRefused(
            f"population '{name}': a recurrent layer with synaptic delays (lava-dl 0.6.0's "
            "RecurrentDense drops the weight exponent and reuses the input delays)"
        )
    if delay > NETX_MAX_DELAY:
        raise NetxRefused(
            f"projection '{proj.name}': delay {delay} steps beyond the Dense step exceeds "
            f"netx's {NETX_MAX_DELAY}"
        )
    check_loadable(name, weight, weight_rec)
    return NetxLayer(
        population=name,
        weight=weight,
        weight_rec=weight_rec,
        bias=bias,
        delay=delay,
        i_decay=consts["du"] + NETX_IDECAY_OFFSET,
        v_decay=consts["dv"],
        vth=consts["vth"],
    )


def _bias(name: str, p) -> np.ndarray | None:
    mant, exp = np.asarray(p.bias_mant, np.int64), np.asarray(p.bias_exp, np.int64)
    if np.any(exp < 0):
        raise NetxRefused(f"population '{name}': negative bias exponents", hint=HINT)
    total = mant << exp
    if not np.any(total):
        return None
    unit = 1 << NETX_BIAS_EXP
    if np.any(total % unit):
        i = int(np.flatnonzero(total % unit)[0])
        raise NetxRefused(
            f"population '{name}': bias {int(total[i])} (mantissa {int(mant[i])}, exponent "
            f"{int(exp[i])}) is not a multiple of {unit}; netx sets bias_exp = {NETX_BIAS_EXP}",
            hint=HINT,
        )
    return total // unit


def _effective_weight(proj) -> np.ndarray:
    """Per-synapse integer added to the target's input: the mantissa after Lava's clip and
    truncation, times ``2**weight_exp``; a negative exponent must divide every weight."""
    w = proj.weight.toarray() if sp.issparse(proj.weight) else np.asarray(proj.weight)
    params = proj.params
    prepared = prepare_weights(
        w.astype(np.int64), params.sign_mode, params.num_weight_bits, _LAVA_DENSE
    )
    exp = int(params.weight_exp)
    if exp >= 0:
        return prepared << exp
    if np.any(prepared % (1 << -exp)):
        raise NetxRefused(
            f"projection '{proj.name}': weight_exp {exp} divides the summed input by "
            f"{1 << -exp} (rounding the sum, not each weight); netx adds the file's integers "
            "unscaled",
            hint=HINT,
        )
    return prepared >> -exp


# ---------------------------------------------------------------- HDF5
def write_netx(net: NetxNetwork, path: str | Path, populations: tuple[str, ...] = ()) -> None:
    """Write ``net`` in lava-dl's HDF5 layout (names as slayer writes them); read it back and
    raise VerificationError unless it holds exactly ``net``."""
    import h5py

    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["snn_deploy_format"] = "snn-deploy/netx"
        f.attrs["snn_deploy_input"] = net.input_name
        sim = f.create_group("simulation")
        sim.create_dataset("Ts", data=1.0)
        sim.create_dataset("tSample", data=0)
        layer = f.create_group("layer")
        g = layer.create_group("0")
        _string(g, "type", "input")
        g.create_dataset("shape", data=np.array([net.input_size], dtype=np.int64))
        for i, lay in enumerate(net.layers, start=1):
            g = layer.create_group(str(i))
            g.attrs["snn_deploy_population"] = lay.population
            _string(g, "type", "dense_rec" if lay.weight_rec is not None else "dense")
            g.create_dataset("shape", data=np.array([lay.weight.shape[0]], dtype=np.int64))
            g.create_dataset("inFeatures", data=lay.weight.shape[1])
            g.create_dataset("outFeatures", data=lay.weight.shape[0])
            g.create_dataset("weight", data=lay.weight.astype(np.int32))
            if lay.weight_rec is not None:
                g.create_dataset("weight_rec", data=lay.weight_rec.astype(np.int32))
            if lay.bias is not None:
                g.create_dataset("bias", data=lay.bias.astype(np.int32))
            if lay.delay:
                g.create_dataset("delay", data=np.full(lay.weight.shape, lay.delay, np.int32))
            n = g.create_group("neuron")
            _string(n, "type", "CUBA")
            n.create_dataset("iDecay", data=np.int64(lay.i_decay))
            n.create_dataset("vDecay", data=np.int64(lay.v_decay))
            n.create_dataset("vThMant", data=np.int64(lay.vth))
            n.create_dataset("refDelay", data=np.int64(1))
            n.create_dataset("gradedSpike", data=False)
    back = read_netx(path)
    if back != _comparable(net):
        raise VerificationError(
            f"{path.name} does not read back to the network written",
            hint="this is a bug in snn-deploy's netx exporter; please report it",
        )


def _string(group, key: str, value: str) -> None:
    group.create_dataset(key, (1,), "S10", [value.encode("ascii")])


def read_netx(path: str | Path) -> tuple:
    """The layers of a ``network.net`` as plain comparable tuples (used to verify a write)."""
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        layer = f["layer"]
        out.append((layer["0"]["type"][0].decode(), tuple(layer["0"]["shape"][()])))
        for i in range(1, len(layer)):
            g = layer[str(i)]
            n = g["neuron"]
            out.append(
                (
                    g["type"][0].decode(),
                    _tup(g["weight"][()]),
                    _tup(g["weight_rec"][()]) if "weight_rec" in g else None,
                    _tup(g["bias"][()]) if "bias" in g else None,
                    int(g["delay"][()].max()) if "delay" in g else 0,
                    int(n["iDecay"][()]),
                    int(n["vDecay"][()]),
                    int(n["vThMant"][()]),
                    "messageBits" in n,
                )
            )
    return tuple(out)


def _tup(a) -> tuple:
    a = np.asarray(a, dtype=np.int64)
    return (a.shape, a.tobytes())


def _comparable(net: NetxNetwork) -> tuple:
    out = [("input", (net.input_size,))]
    for lay in net.layers:
        out.append(
            (
                "dense_rec" if lay.weight_rec is not None else "dense",
                _tup(lay.weight),
                _tup(lay.weight_rec) if lay.weight_rec is not None else None,
                _tup(lay.bias) if lay.bias is not None else None,
                lay.delay,
                lay.i_decay,
                lay.v_decay,
                lay.vth,
                False,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------- the compile stage
def emit_netx(folder: Path, qnet) -> list[str]:
    """Write ``network.net`` and ``run_loihi2.py`` into the staging ``folder``; NetxRefused
    (nothing written) where the network has no exact netx encoding."""
    net = plan_netx(qnet)
    tmp = folder / f".{NET_FILE}.part"
    write_netx(net, tmp)
    tmp.replace(folder / NET_FILE)
    script = Path(__file__).with_name(SCRIPT).read_text()
    (folder / SCRIPT).write_text(script)
    return [NET_FILE, SCRIPT]
