"""The configuration of one Xylo Audio 2 core as plain integer arrays: what the chip is given.

Shapes follow the vendor's specification form (Rockpool's ``config_from_specification``
arguments, read in its public source): ``w_in`` (inputs, hidden, synapses), ``w_rec`` (hidden,
hidden, synapses), ``w_out`` (hidden, outputs) with one synapse per output neuron, one left shift
per matrix, per-neuron ``dash`` decays, thresholds and biases. The arithmetic is
:mod:`snn_deploy.numerics.xylo`.

Serialization (``save``/``load``): one ``.npz`` of the arrays and a JSON header with the shifts
(no pickle); ``export`` writes the same arrays plus a ``.json`` for tools that read no npz.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from snn_deploy.errors import InputFileError, ModelError
from snn_deploy.numerics.xylo import XyloNumerics

FORMAT = "snn-deploy/xylo-config"
FORMAT_VERSION = 1
ARRAYS = (
    "w_in",
    "w_rec",
    "w_out",
    "dash_mem",
    "dash_syn",
    "threshold",
    "bias",
    "dash_mem_out",
    "dash_syn_out",
    "threshold_out",
    "bias_out",
)
SHIFTS = ("shift_in", "shift_rec", "shift_out")


@dataclass(frozen=True)
class XyloConfig:
    """One Xylo core. ``dash_syn`` is (hidden, synapses); every other per-neuron array is 1-D."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold_out: np.ndarray
    bias_out: np.ndarray
    shift_in: int
    shift_rec: int
    shift_out: int

    def __post_init__(self):
        for name in ARRAYS:
            a = np.array(getattr(self, name), dtype=np.int64)
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        for name in SHIFTS:
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def n_in(self) -> int:
        return self.w_in.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.w_rec.shape[0]

    @property
    def n_out(self) -> int:
        return self.w_out.shape[1]

    @property
    def n_syn(self) -> int:
        return self.w_in.shape[2]

    def problems(self, num: XyloNumerics) -> list[str]:
        """What this configuration breaks of the chip's formats, one line each."""
        h, o, c = self.n_hidden, self.n_out, self.n_syn
        out = []
        shapes = {
            "w_in": (self.n_in, h, c),
            "w_rec": (h, h, c),
            "w_out": (h, o),
            "dash_mem": (h,),
            "dash_syn": (h, c),
            "threshold": (h,),
            "bias": (h,),
            "dash_mem_out": (o,),
            "dash_syn_out": (o,),
            "threshold_out": (o,),
            "bias_out": (o,),
        }
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                out.append(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        if out:
            return out
        if not 1 <= c <= num.synapses_per_neuron:
            out.append(
                f"{c} synaptic currents per hidden neuron, at most {num.synapses_per_neuron}"
            )
        for name in ("w_in", "w_rec", "w_out"):
            w = getattr(self, name)
            if w.size and (w.min() < num.weight_min or w.max() > num.weight_max):
                out.append(f"{name} outside int{num.weight_bits} ({w.min()}..{w.max()})")
        for name in SHIFTS:
            s = getattr(self, name)
            if not num.weight_shift_min <= s <= num.weight_shift_max:
                out.append(f"{name} {s} outside {num.weight_shift_min}..{num.weight_shift_max}")
        for name in ("dash_mem", "dash_syn", "dash_mem_out", "dash_syn_out"):
            d = getattr(self, name)
            if d.size and (d.min() < 0 or d.max() > num.dash_max):
                out.append(f"{name} outside 0..{num.dash_max}")
        for name in ("threshold", "threshold_out"):
            t = getattr(self, name)
            if t.size and (t.min() < num.threshold_min or t.max() > num.state_max):
                out.append(f"{name} outside {num.threshold_min}..{num.state_max}")
        for name in ("bias", "bias_out"):
            b = getattr(self, name)
            if b.size and np.abs(b).max() > num.bias_max + (b.min() < 0):
                out.append(f"{name} outside int{num.bias_bits}")
        return out

    def require_valid(self, num: XyloNumerics) -> XyloConfig:
        bad = self.problems(num)
        if bad:
            raise ModelError(
                f"Xylo configuration is not valid: {bad[0]}"
                + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""),
                hint="compile the model again with --target xylo_audio2",
            )
        return self

    # ------------------------------------------------------------------ serialization
    def header(self) -> dict:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            **{s: getattr(self, s) for s in SHIFTS},
            "n_in": self.n_in,
            "n_hidden": self.n_hidden,
            "n_out": self.n_out,
            "n_syn": self.n_syn,
        }

    def save(self, path: str | Path) -> None:
        arrays = {name: getattr(self, name) for name in ARRAYS}
        arrays["header"] = np.frombuffer(json.dumps(self.header()).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    def export(self, folder: str | Path) -> tuple[Path, Path]:
        """``xylo_config.npz`` (arrays) and ``xylo_config.json`` (the same, as lists)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        npz, js = folder / "xylo_config.npz", folder / "xylo_config.json"
        self.save(npz)
        body = self.header() | {name: getattr(self, name).tolist() for name in ARRAYS}
        js.write_text(json.dumps(body))
        return npz, js

    @classmethod
    def load(cls, path: str | Path) -> XyloConfig:
        hint = "compile the model again with --target xylo_audio2"
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode())
                arrays = {k: z[k] for k in ARRAYS}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputFileError(
                f"{path}: not a Xylo configuration ({type(exc).__name__})", hint=hint
            ) from None
        if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
            raise InputFileError(f"{path}: not a Xylo configuration of this version", hint=hint)
        return cls(**arrays, **{s: header[s] for s in SHIFTS})

    def replace(self, **changes) -> XyloConfig:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return XyloConfig(**values)


def config_from_network(qnet) -> XyloConfig:
    """Map an integer network of the Xylo layout (``checks/xylo.py``) onto the core: the hidden
    population is hidden neurons 0..n-1 (one synaptic current), the output population the
    readout, each projection its matrix (``weight`` is (target, source): transposed here)."""
    from snn_deploy.checks.xylo import roles

    hidden, output = roles(qnet)
    if hidden is None or output is None or len(qnet.inputs) != 1:
        raise ModelError(
            "the network does not have Xylo's layout (one input, one hidden, one output layer)",
            hint="compile it with --target xylo_audio2 to see what to change",
        )
    h, o = qnet.population(hidden), qnet.population(output)
    n_in = qnet.inputs[0].size
    mats = {
        "w_in": np.zeros((n_in, h.size, 1), np.int64),
        "w_rec": np.zeros((h.size, h.size, 1), np.int64),
    }
    w_out = np.zeros((h.size, o.size), np.int64)
    shifts = {"shift_in": 0, "shift_rec": 0, "shift_out": 0}
    for p in qnet.projections:
        w = p.weight.toarray() if hasattr(p.weight, "toarray") else np.asarray(p.weight)
        if p.target == output:
            w_out, shifts["shift_out"] = w.T.astype(np.int64), p.params.shift
        elif p.source == hidden:
            mats["w_rec"] = w.T[:, :, None].astype(np.int64)
            shifts["shift_rec"] = p.params.shift
        else:
            mats["w_in"] = w.T[:, :, None].astype(np.int64)
            shifts["shift_in"] = p.params.shift
    hp, op = h.params, o.params
    return XyloConfig(
        **mats,
        w_out=w_out,
        dash_mem=hp.dash_mem,
        dash_syn=np.asarray(hp.dash_syn)[:, None],
        threshold=hp.threshold,
        bias=hp.bias,
        dash_mem_out=op.dash_mem,
        dash_syn_out=op.dash_syn,
        threshold_out=op.threshold,
        bias_out=op.bias,
        **shifts,
    )


def emit_xylo(folder: Path, qnet, profile, plan, data: dict | None, net=None) -> list[str]:
    """The compile stage's emitter: the core's configuration as ``xylo_config.npz`` and
    ``xylo_config.json`` in the artifact folder (``examples/xylo/load_xylo_config.py`` loads
    them into xylosim or into Rockpool's ``config_from_specification`` arguments)."""
    npz, js = config_from_network(qnet).require_valid(profile.numerics).export(folder)
    return [npz.name, js.name]
