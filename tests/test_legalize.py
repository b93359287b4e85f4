"""Legalization: models with per-neuron decays and thresholds made to fit Loihi 2.

- Folding thresholds is exact in the float model: random snnTorch 1.0.0 networks (Leaky,
  Synaptic, RLeaky with per-neuron ``beta``, ``alpha``, ``threshold``; reset to zero) give
  snnTorch's own output spikes in the float reference before folding, and the same spikes in
  every layer after it.
- Splitting into groups changes no integer: the emulator (both engines) gives the same spikes,
  final states and traces on a network and on its split form.
- Those snnTorch networks compile for loihi2, and Lava (one LIF process per group) agrees with the
  emulator on every spike and final state, integer for integer (``emulate --backend lava``).
- A subtract reset stated by the user is still refused, with that reason.
"""

import dataclasses
import json
import warnings

import nir
import numpy as np
import pytest
import torch

from conftest import assert_ints_equal, random_qnet
from snn_deploy import api
from snn_deploy.backends.emulator import run
from snn_deploy.cli import main
from snn_deploy.errors import InputFileError, ResourceError
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate
from snn_deploy.quantize.groups import assign_groups, merge_groups, split_groups, split_reason
from snn_deploy.quantize.legalize import fold_thresholds, foldable
from snn_deploy.quantize.network import (
    LoihiLifParams,
    QProjection,
    QuantizedNetwork,
)

snn = pytest.importorskip("snntorch")
from snntorch.export_nir import export_to_nir  # noqa: E402

T, B = 40, 4
KINDS = (
    ("leaky", "leaky"),
    ("synaptic", "leaky"),
    ("rleaky", "synaptic"),
    ("synaptic", "rleaky", "leaky"),
)


def _tensor(rng, lo, hi, n, values=None):
    """Per-neuron values in [lo, hi): all different, or drawn from ``values`` distinct ones."""
    pool = rng.uniform(lo, hi, values or n)
    return torch.from_numpy(rng.choice(pool, n) if values else pool).float()


def snntorch_network(seed: int, kinds=None, decays=None, sizes=None):
    """A random snnTorch Sequential of Linear + (Leaky | Synaptic | RLeaky) layers, every
    ``beta``, ``alpha`` and ``threshold`` a per-neuron tensor, reset to zero (not delayed); and
    its input size. Thresholds all differ; ``decays`` (a number) draws each layer's ``beta`` and
    ``alpha`` from that many distinct values (None: all differ, so every neuron is a group)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    kinds = kinds or KINDS[seed % len(KINDS)]
    if sizes is None:
        sizes = [int(rng.integers(8, 14)), *rng.integers(8, 16, len(kinds) - 1).tolist(), 6]
    layers = []
    for i, kind in enumerate(kinds):
        n_in, n = sizes[i], sizes[i + 1]
        linear = torch.nn.Linear(n_in, n, bias=bool(rng.random() < 0.6))
        with torch.no_grad():
            linear.weight.mul_(2.5)
        common = dict(
            beta=_tensor(rng, 0.5, 0.97, n, decays),
            threshold=_tensor(rng, 0.3, 1.5, n),
            init_hidden=True,
            reset_mechanism="zero",
            reset_delay=False,  # a delayed reset is not in the NIR file (see test_snntorch.py)
            output=i == len(kinds) - 1,
        )
        if kind == "leaky":
            neuron = snn.Leaky(**common)
        elif kind == "synaptic":
            neuron = snn.Synaptic(alpha=_tensor(rng, 0.3, 0.9, n, decays), **common)
        else:
            neuron = snn.RLeaky(linear_features=n, **common)
        layers += [linear, neuron]
    return torch.nn.Sequential(*layers), sizes[0]


def _run_snntorch(net, x):
    from snntorch import utils

    utils.reset(net)
    out = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            s = net(torch.from_numpy(x[:, t]).float())
            out.append((s[0] if isinstance(s, tuple) else s).numpy())
    return np.stack(out, 1).astype(bool)


def _export(net, n_in, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nir.write(path, export_to_nir(net, torch.randn(n_in)))
    return path


def _inputs(seed, n_in, batch=B, steps=T):
    rng = np.random.default_rng(1000 + seed)
    return (rng.random((batch, steps, n_in)) < 0.35).astype(np.float32)


@pytest.mark.parametrize("seed", range(8))
def test_folding_thresholds_keeps_every_float_spike(tmp_path, seed):
    net_t, n_in = snntorch_network(seed)
    dnet = normalize(nir.read(_export(net_t, n_in, tmp_path / "g.nir")))
    x = _inputs(seed, n_in)
    before = simulate(dnet, {dnet.inputs[0].name: x}).spikes
    np.testing.assert_array_equal(before[dnet.outputs[0]], _run_snntorch(net_t, x))
    names = tuple(p.name for p in dnet.populations if foldable(p))
    assert len(names) == len(dnet.populations)
    folded = fold_thresholds(dnet, names)
    assert all(np.all(p.threshold == 1.0) for p in folded.populations)
    after = simulate(folded, {dnet.inputs[0].name: x}).spikes
    assert sum(int(s.sum()) for s in before.values()) > 50, "the network should spike"
    for name, s in before.items():
        assert_ints_equal(after[name], s, f"seed {seed} '{name}' spikes after folding")


def _per_neuron_qnet(rng, recurrent=True, sparse=False):
    """``random_qnet`` with per-neuron du, dv, vth drawn from a few values, a recurrent
    projection on the hidden layer and (optionally) a sparse one."""
    qnet = random_qnet(rng, sizes=(16, 20, 12))
    pops = []
    for p in qnet.populations:
        n = p.size
        params = dataclasses.replace(
            p.params,
            du=rng.choice(rng.integers(0, 2048, 3), n),
            dv=rng.choice(rng.integers(0, 1024, 3), n),
            vth=rng.choice(rng.integers(1, 40, 2), n),
        )
        pops.append(dataclasses.replace(p, params=params))
    projs = list(qnet.projections)
    if recurrent:
        projs.append(
            dataclasses.replace(
                projs[0],
                name="rec",
                source="l1",
                target="l1",
                weight=rng.integers(-80, 81, (20, 20)),
            )
        )
    if sparse:
        import scipy.sparse as sp

        w = sp.random(
            12, 16, density=0.3, random_state=1, data_rvs=lambda k: rng.integers(1, 99, k)
        )
        projs.append(
            QProjection("skip", "in", "l2", sp.csr_matrix(w.astype(np.int64)), projs[1].params, 2)
        )
    return dataclasses.replace(qnet, populations=tuple(pops), projections=tuple(projs))


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_split_network_computes_the_same_integers(loihi2, engine):
    rng = np.random.default_rng(7)
    total = 0
    for k in range(4):
        qnet = assign_groups(_per_neuron_qnet(rng, sparse=k % 2 == 1), ("du", "dv", "vth"))
        assert len(qnet.split_populations) == 2
        split = split_groups(qnet)
        assert len(split.populations) == sum(qnet.split_populations.values())
        x = rng.random((3, 50, 16)) < 0.4
        whole = run(qnet, loihi2.numerics, {"in": x}, 50, record_voltage=("l2",), engine=engine)
        parts = run(
            split,
            loihi2.numerics,
            {"in": x},
            50,
            record_voltage=tuple(p.name for p in split.populations if p.name.startswith("l2")),
            engine=engine,
        )
        merged = merge_groups(qnet, parts)
        for p in qnet.populations:
            assert_ints_equal(merged.spikes[p.name], whole.spikes[p.name], f"{p.name} spikes")
            for var in ("u", "v"):
                assert_ints_equal(
                    merged.final_state[p.name][var], whole.final_state[p.name][var], var
                )
        assert_ints_equal(merged.voltage["l2"], whole.voltage["l2"], "l2 voltage")
        total += sum(int(s.sum()) for s in whole.spikes.values())
    assert total > 1000, "the networks should spike"


def test_groups_are_the_fewest_and_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    qnet = assign_groups(_per_neuron_qnet(rng), ("du", "dv", "vth"))
    for p in qnet.populations:
        keys = {(a, b, c) for a, b, c in zip(p.params.du, p.params.dv, p.params.vth, strict=True)}
        assert qnet.split_populations[p.name] == len(keys)
        for g in range(len(keys)):  # one tuple per group
            members = p.groups == g
            for f in ("du", "dv", "vth"):
                assert np.unique(getattr(p.params, f)[members]).size == 1
    assert "'l1' into" in split_reason(qnet)
    assert split_reason(dataclasses.replace(qnet, populations=random_qnet(rng).populations)) is None
    qnet.save(tmp_path / "n.npz")
    back = QuantizedNetwork.load(tmp_path / "n.npz")
    assert back.split_populations == qnet.split_populations
    for a, b in zip(qnet.populations, back.populations, strict=True):
        np.testing.assert_array_equal(a.groups, b.groups)


def test_damaged_groups_are_refused(tmp_path):
    rng = np.random.default_rng(4)
    qnet = assign_groups(_per_neuron_qnet(rng), ("du", "dv", "vth"))
    qnet.save(tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["pop0_groups"] = arrays["pop0_groups"][:-3]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputFileError, match="damaged header"):
        QuantizedNetwork.load(tmp_path / "bad.npz")


def _compile(tmp_path, seed, decays=None, kinds=None, sizes=None, **kw):
    net_t, n_in = snntorch_network(seed, kinds, decays, sizes)
    path = _export(net_t, n_in, tmp_path / f"m{seed}.nir")
    out = tmp_path / f"build{seed}"
    report = api.compile(path, "loihi2", out, **kw).to_dict()
    return report, out, n_in


def test_compile_reports_every_transformation(tmp_path, capsys):
    net_t, n_in = snntorch_network(2)
    path = _export(net_t, n_in, tmp_path / "m.nir")
    assert main(["compile", str(path), "--target", "loihi2", "-o", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert sum(line.strip().startswith("legalized:") for line in out.splitlines()) == 1
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    leg = report["legalization"]
    steps = {t["step"] for t in leg["transformations"]}
    assert steps == {"fold thresholds", "quantize decays", "split into groups"}
    qnet = QuantizedNetwork.load(tmp_path / "b" / "network.npz")
    for t in leg["transformations"]:
        if t["step"] == "split into groups":  # every decay differs: one group per neuron
            assert t["groups"] == leg["split_populations"][t["population"]]
            assert t["groups"] == qnet.population(t["population"]).size
            assert t["cores_after"] >= t["cores_before"] >= 1
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["split_populations"] == leg["split_populations"]
    assert "## Legalization" in (tmp_path / "b" / "report.md").read_text()
    assert "<h2>Legalization</h2>" in (tmp_path / "b" / "report.html").read_text()
    assert qnet.split_populations == leg["split_populations"]
    assert all(isinstance(p.params, LoihiLifParams) for p in qnet.populations)
    # a split layer is not a chain: no netx file, and the report says why in one line
    assert not (tmp_path / "b" / "network.net").exists()
    assert report["netx"]["written"] is False
    assert "not a chain of one layer per process" in report["netx"]["reason"]
    assert "\n" not in report["netx"]["reason"]


def test_subtract_reset_is_still_refused_with_its_reason(tmp_path):
    with pytest.raises(ResourceError) as err:
        _compile(tmp_path, 1, reset="subtract")
    text = str(err.value)
    assert "reset mode subtract" in text and "distinct" not in text


@pytest.mark.lava
def test_random_snntorch_networks_compile_and_lava_agrees_on_every_spike(
    tmp_path, lava_ready, capsys
):
    """9 networks in one Lava run (one LIF process per group, one Dense per pair of groups),
    then one through the CLI. Lava's simulation runs every process in an OS process of its own,
    so 8 of them draw each layer's decays from 2 values (up to 4 groups per layer) and the one
    whose every decay differs (one group per neuron) is small."""
    from snn_deploy.backends.lava.bridge import LavaJob, run_lava
    from snn_deploy.flow import resolve_profile

    profile = resolve_profile("loihi2", None, None)
    jobs, split = [], 0
    for seed in range(8):
        report, out, n_in = _compile(tmp_path, seed, decays=2)
        split += len(report["legalization"]["split_populations"])
        qnet = QuantizedNetwork.load(out / "network.npz")
        steps = T + max(p.shift_steps for p in qnet.populations)
        jobs.append(LavaJob(qnet, {qnet.inputs[0].name: _inputs(seed, n_in, 2)}, steps))
    assert split >= 12, "most layers should have been split"
    # and one small network whose every decay differs: one group per neuron
    report, out, n_in = _compile(tmp_path, 8, None, ("synaptic", "rleaky"), [6, 5, 3])
    assert sorted(report["legalization"]["split_populations"].values()) == [3, 5]
    qnet = QuantizedNetwork.load(out / "network.npz")
    steps = T + max(p.shift_steps for p in qnet.populations)
    jobs.append(LavaJob(qnet, {qnet.inputs[0].name: _inputs(8, n_in, 2)}, steps))
    results, _ = run_lava(jobs)
    spikes = 0
    for k, (job, lava) in enumerate(zip(jobs, results, strict=True)):
        emu = run(job.qnet, profile.numerics, job.inputs, job.num_steps)
        for p in job.qnet.populations:
            assert_ints_equal(lava.spikes[p.name], emu.spikes[p.name], f"net {k} {p.name}")
            for var in ("u", "v"):
                assert_ints_equal(
                    lava.final_state[p.name][var], emu.final_state[p.name][var], f"{k} {var}"
                )
        spikes += sum(int(s.sum()) for s in emu.spikes.values())
    assert spikes > 500
    # the whole command on one of them: emulate --backend lava verifies every spike
    n_in = jobs[3].qnet.inputs[0].size
    np.savez(tmp_path / "x.npz", x=_inputs(3, n_in, 3))
    args = ["emulate", str(tmp_path / "build3"), "--data", str(tmp_path / "x.npz")]
    assert main([*args, "--backend", "lava"]) == 0
    assert "verified: Lava and the snn-deploy emulator agree on all" in capsys.readouterr().out


def _two_layer_network(theta, beta=0.8):
    from snn_deploy.ir.contract import DiscretizationContract
    from snn_deploy.ir.network import DiscreteNetwork, InputPort, Population, Projection

    rng = np.random.default_rng(11)
    n = len(theta)
    pop = Population(
        "l1", n, np.zeros(n), np.full(n, beta), np.asarray(theta), np.zeros(n), np.zeros(n)
    )
    proj = Projection("w1", "in", "l1", rng.normal(0.3, 0.5, (n, 5)))
    return DiscreteNetwork(
        (InputPort("in", 5),), (pop,), (proj,), ("l1",), DiscretizationContract()
    )


def test_thresholds_that_cannot_be_folded_are_split_by_threshold(loihi2):
    from snn_deploy.quantize.legalize import legalize_float, legalize_integer
    from snn_deploy.quantize.loihi import quantize_loihi

    net = _two_layer_network([0.5, 0.7, np.inf, 0.5, np.inf])
    legal, folded, records = legalize_float(net, loihi2)
    assert legal is net and folded == ()
    assert [r.step for r in records] == ["thresholds kept"]
    qnet, _, violations = quantize_loihi(legal, loihi2)
    assert not violations
    qnet, records, cores = legalize_integer(qnet, legal, loihi2)
    np.testing.assert_array_equal(qnet.population("l1").groups, [0, 1, 2, 0, 2])
    assert [r.step for r in records] == ["split into groups"]
    assert "differ in vth" in records[0].why
    assert cores == (1, 1)


def test_calibration_of_folded_layers_is_bounded_by_the_smallest_threshold():
    from snn_deploy.quantize.legalize import fold_calibration

    net = _two_layer_network([0.5, 2.0, 1.0])
    calib = {"l1": {"max_abs_current": 2.0, "max_abs_voltage": 4.0, "source": "training"}}
    got = fold_calibration(calib, net, ("l1",))
    assert got == {"l1": {"max_abs_current": 4.0, "max_abs_voltage": 8.0, "source": "training"}}
    assert fold_calibration(calib, net, ()) == calib
