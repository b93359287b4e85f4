"""netx export: network.net and run_loihi2.py, checked against lava-dl 0.6.0's own loader.

Without .venv-netx only the exporter's own checks run; the others are skipped with the reason.
With it: lava-dl's reading of weight matrices equals the exporter's model of it (every pitfall
included), 22 random sequential networks and the `make demo` model run in netx on Lava's
fixed_pt models with 0 spikes differing from the emulator (few subprocesses: netx's import alone
takes seconds).
"""

import json
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from conftest import assert_ints_equal
from snn_deploy import api
from snn_deploy.backends.emulator import run
from snn_deploy.backends.netx.bridge import (
    NetxJob,
    netx_python,
    netx_unavailable_reason,
    run_netx_batch,
)
from snn_deploy.backends.netx.export import (
    NetxRefused,
    check_loadable,
    netx_loaded,
    netx_shift,
    plan_netx,
    write_netx,
)
from snn_deploy.errors import InputFileError
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.quantize.network import (
    LoihiLifParams,
    LoihiSynapseParams,
    QInput,
    QPopulation,
    QProjection,
    QuantizedNetwork,
)
from snn_deploy.train.models import SpikingMLP

PROBE = Path(__file__).with_name("netx_probe.py")


@pytest.fixture(scope="module")
def netx_ready():
    reason = netx_unavailable_reason()
    if reason:
        pytest.skip(reason)


# ------------------------------------------------------------------ random integer networks
def _weights(rng, mode: str, shape) -> np.ndarray:
    if mode == "mixed":  # Lava's MIXED mantissas are even; exponents 0 or 1
        w = rng.integers(-64, 64, shape) * 2
        return w
    if mode == "excitatory":
        return rng.integers(0, 256, shape)
    w = -rng.integers(1, 200, shape)  # inhibitory, all negative, min not a power of two
    w.flat[0] = -201
    return w


def netx_qnet(rng, sizes, recurrent=False, delays=False, biases=True) -> QuantizedNetwork:
    """A chain whose integers netx expresses: weight exponents 0..1 (MIXED mantissas of the
    exponent-1 layers kept small), biases of exponent 6 or 7, every sign mode."""
    names = ["in"] + [f"l{i}" for i in range(1, len(sizes))]
    pops, projs = [], []
    for i in range(1, len(sizes)):
        n = sizes[i]
        bias_on = biases and rng.random() < 0.7
        pops.append(
            QPopulation(
                name=names[i],
                size=n,
                model="cuba_lif",
                scale=1.0,
                params=LoihiLifParams(
                    du=np.full(n, int(rng.integers(0, 4096))),
                    dv=np.full(n, int(rng.integers(0, 4096))),
                    vth=np.full(n, int(rng.integers(1, 4000))),
                    bias_mant=rng.integers(-300, 300, n) * bias_on,
                    bias_exp=rng.integers(6, 8, n),
                ),
            )
        )
        mode = str(rng.choice(["mixed", "excitatory", "inhibitory"], p=[0.6, 0.25, 0.15]))
        if recurrent:  # netx gives both matrices one num_weight_bits: keep one sign mode
            mode = "mixed"
        w = _weights(rng, mode, (n, sizes[i - 1]))
        exp = int(rng.integers(0, 2)) if mode == "mixed" else 0
        projs.append(
            QProjection(
                f"w{i}",
                names[i - 1],
                names[i],
                w,
                LoihiSynapseParams(exp, 8, mode),
                delay_steps=int(rng.integers(1, 6)) if delays else 1,
            )
        )
        if recurrent:
            wr = rng.integers(-40, 40, (n, n)) * 2
            projs.append(
                QProjection(f"r{i}", names[i], names[i], wr, LoihiSynapseParams(0, 8, "mixed"))
            )
    return QuantizedNetwork(
        target="loihi2",
        arithmetic="loihi",
        inputs=(QInput("in", sizes[0]),),
        populations=tuple(pops),
        projections=tuple(projs),
        outputs=(names[-1],),
        contract=DiscretizationContract(),
    )


def _replace(qnet, **kw):
    import dataclasses

    return dataclasses.replace(qnet, **kw)


# ------------------------------------------------------------------ exporter, no lava-dl needed
def test_written_file_has_netx_layout_and_no_message_bits(tmp_path):
    rng = np.random.default_rng(0)
    qnet = netx_qnet(rng, (6, 5, 4), recurrent=True)
    net = plan_netx(qnet)
    write_netx(net, tmp_path / "n.net")  # reads back and compares, or raises
    with h5py.File(tmp_path / "n.net", "r") as f:
        assert sorted(f["layer"].keys()) == ["0", "1", "2"]
        assert f["layer/0/type"][0] == b"input" and list(f["layer/0/shape"][()]) == [6]
        g = f["layer/1"]
        assert g["type"][0] == b"dense_rec" and g["weight_rec"].shape == (5, 5)
        assert g["neuron/type"][0] == b"CUBA"
        assert int(g["neuron/iDecay"][()]) == int(qnet.populations[0].params.du[0]) + 1
        assert int(g["neuron/vDecay"][()]) == int(qnet.populations[0].params.dv[0])
        assert "messageBits" not in g["neuron"]
        assert g.attrs["snn_deploy_population"] == "l1"


def test_weight_exponent_and_bias_exponent_are_folded_exactly():
    rng = np.random.default_rng(1)
    qnet = netx_qnet(rng, (5, 4))
    pop, proj = qnet.populations[0], qnet.projections[0]
    proj = QProjection("w1", "in", "l1", np.array([[2, -4, 6, 0, 8]] * 4),
                       LoihiSynapseParams(1, 8, "mixed"))  # fmt: skip
    params = LoihiLifParams(
        du=pop.params.du, dv=pop.params.dv, vth=pop.params.vth,
        bias_mant=np.array([1, -3, 0, 5]), bias_exp=np.array([6, 7, 7, 6]),
    )  # fmt: skip
    qnet = _replace(
        qnet,
        projections=(proj,),
        populations=(QPopulation("l1", 4, "cuba_lif", params, 1.0),),
    )
    layer = plan_netx(qnet).layers[0]
    assert_ints_equal(layer.weight, np.array([[4, -8, 12, 0, 16]] * 4), "weights << 1")
    assert_ints_equal(layer.bias, np.array([1, -6, 0, 5]), "bias / 64")


@pytest.mark.parametrize(
    "change, match",
    [
        ("exp_negative", "weight_exp -1 divides the summed input"),
        ("too_large", "excitatory weights up to 800"),
        ("bias_exp0", "is not a multiple of 64"),
        ("per_neuron_dv", "distinct dv values"),
        ("branch", "feeds 2 populations"),
        ("constant", "constant"),
        ("rec_delay", "recurrent layer with synaptic delays"),
        ("long_delay", "exceeds netx's 62"),
        ("all_zero", "all-zero weight matrix"),
        ("inhibitory_power_of_two", "would load"),
    ],
)
def test_inexpressible_networks_are_refused_with_one_line(change, match):
    rng = np.random.default_rng(2)
    qnet = netx_qnet(rng, (6, 5, 4), biases=False)
    pops, projs = list(qnet.populations), list(qnet.projections)
    p0 = projs[0]
    if change == "exp_negative":
        projs[0] = QProjection(p0.name, p0.source, p0.target, np.full((5, 6), 7),
                               LoihiSynapseParams(-1, 8, "excitatory"))  # fmt: skip
    elif change == "too_large":
        projs[0] = QProjection(p0.name, p0.source, p0.target, np.full((5, 6), 200),
                               LoihiSynapseParams(2, 8, "excitatory"))  # fmt: skip
    elif change == "bias_exp0":
        p = pops[0].params
        params = LoihiLifParams(p.du, p.dv, p.vth, np.full(5, 7), np.zeros(5, int))
        pops[0] = QPopulation("l1", 5, "cuba_lif", params, 1.0)
    elif change == "per_neuron_dv":
        p = pops[0].params
        params = LoihiLifParams(p.du, np.arange(5), p.vth, p.bias_mant, p.bias_exp)
        pops[0] = QPopulation("l1", 5, "cuba_lif", params, 1.0)
    elif change == "branch":
        projs.append(QProjection("skip", "in", "l2", np.ones((4, 6), int) * 2,
                                 LoihiSynapseParams(0, 8, "excitatory")))  # fmt: skip
    elif change == "constant":
        qnet = _replace(qnet, inputs=(*qnet.inputs, QInput("bias", 1, kind="constant")))
    elif change == "rec_delay":
        projs[0] = QProjection(p0.name, p0.source, p0.target, p0.weight, p0.params, 3)
        projs.append(QProjection("r1", "l1", "l1", np.ones((5, 5), int) * 2,
                                 LoihiSynapseParams(0, 8, "mixed")))  # fmt: skip
    elif change == "long_delay":
        projs[0] = QProjection(p0.name, p0.source, p0.target, p0.weight, p0.params, 70)
    elif change == "all_zero":
        projs[0] = QProjection(p0.name, p0.source, p0.target, np.zeros((5, 6), int),
                               LoihiSynapseParams(0, 8, "excitatory"))  # fmt: skip
    elif change == "inhibitory_power_of_two":
        w = -np.arange(1, 31).reshape(5, 6)
        w[0, 0] = -128  # netx shifts to -256; Lava's INHIBITORY clip keeps -255
        projs[0] = QProjection(p0.name, p0.source, p0.target, w,
                               LoihiSynapseParams(0, 8, "inhibitory"))  # fmt: skip
    qnet = _replace(qnet, populations=tuple(pops), projections=tuple(projs))
    with pytest.raises(NetxRefused, match=match) as info:
        plan_netx(qnet)
    assert "\n" not in info.value.message


# ------------------------------------------------------------------ compile and the report
@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("netx")
    torch.manual_seed(0)
    model = SpikingMLP.from_sizes([64, 20, 10], alpha=0.5, beta=0.875)
    with torch.no_grad():
        for layer in model.layers:
            layer.fc.weight.mul_(3.0)
    torch.save(model.to_checkpoint(), tmp / "m.pt")
    return tmp / "m.pt"


def test_compile_records_why_netx_is_not_written_and_writes_the_rest(small_model, tmp_path):
    report = api.compile(small_model, "loihi2", tmp_path / "a").to_dict()
    folder = tmp_path / "a"
    assert not report["netx"]["written"]
    assert "compile with --netx" in report["netx"]["reason"]
    assert "\n" not in report["netx"]["reason"]
    assert not (folder / "network.net").exists() and not (folder / "run_loihi2.py").exists()
    for name in ("graph.nir", "network.npz", "mapping.json", "report.json", "report.md"):
        assert (folder / name).is_file()
    assert (
        "netx export (network.net, run_loihi2.py) not written" in (folder / "report.md").read_text()
    )
    with pytest.raises(InputFileError, match="has no netx export"):
        api.emulate(folder, "digits", backend="netx", samples=1)


def test_compile_netx_writes_the_export_into_the_manifest(small_model, tmp_path):
    report = api.compile(small_model, "loihi2", tmp_path / "b", netx=True).to_dict()
    folder = tmp_path / "b"
    assert report["netx"]["written"] and "network.net" in report["artifacts"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"network.net", "run_loihi2.py"} <= set(manifest["files"])
    for p in report["quantization"]["populations"]:
        assert all(w["weight_exp"] == 0 for w in p["weights"])
    (folder / "network.net").write_bytes(b"changed")
    with pytest.raises(InputFileError, match="network.net does not match"):
        api.emulate(folder, "digits", backend="netx", samples=1)


def test_netx_flag_is_refused_for_other_targets(small_model, tmp_path):
    from snn_deploy.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="--netx"):
        api.compile(small_model, "spinnaker1", tmp_path / "c", netx=True)


# ------------------------------------------------------------------ lava-dl 0.6.0 itself
def _probe_matrices(rng) -> dict:
    mats = {}
    k = 0

    def add(w):
        nonlocal k
        mats[f"w{k}"] = np.asarray(w, dtype=np.int64)
        k += 1

    for top in (1, 2, 3, 7, 64, 100, 127, 128, 200, 254, 255):
        add(rng.integers(0, top + 1, (4, 5)))  # excitatory, with zeros
        add(np.maximum(rng.integers(-top, top + 1, (4, 5)) // 2 * 2, -256))  # mixed, even
        add(rng.integers(-top, top + 1, (4, 5)))  # mixed, odd
        add(-rng.integers(0, top + 1, (4, 5)))  # max 0: netx MIXED, Lava INHIBITORY
        add(-rng.integers(1, top + 1, (4, 5)))  # strictly negative: both INHIBITORY
    for w in (
        [[256, 3], [1, 0]],  # excitatory above 255: netx shifts by -1
        [[255, -3], [1, 0]],  # mixed with 255: netx clips to 254
        [[254, -256], [2, 0]],  # mixed extremes
        [[-128, -3], [-1, -2]],  # inhibitory, power-of-two minimum
        [[-129, -3], [-1, -2]],
        [[-128, 0], [-1, -2]],
        [[-255, 0], [-7, -2]],  # max 0, |min| > 128, odd weights
        [[0, 0], [0, 0]],  # all zero: OverflowError
    ):
        add(w)
    return mats


def test_exporter_reads_weights_as_lava_dl_does(netx_ready, tmp_path):
    mats = _probe_matrices(np.random.default_rng(3))
    np.savez(tmp_path / "m.npz", **mats)
    subprocess.run(
        [str(netx_python()), "-W", "ignore", str(PROBE), "m.npz", "r.npz"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=600,
    )
    with np.load(tmp_path / "r.npz", allow_pickle=False) as z:
        real = {k: z[k] for k in z.files}
    verdicts = {"exact": 0, "inexact": 0, "error": 0}
    for key, w in mats.items():
        if f"{key}_error" in real:
            with pytest.raises(NetxRefused):
                netx_shift(w)
            verdicts["error"] += 1
            continue
        shift = int(real[f"{key}_shift"])
        loaded = real[f"{key}_loaded"]
        exact_real = shift >= 0 and np.array_equal(loaded, w << shift)
        try:
            ours = netx_shift(w)
        except NetxRefused:
            assert not exact_real, f"{key}: refused but netx loads it exactly: {w.tolist()}"
            verdicts["inexact"] += 1
            continue
        assert ours == shift, f"{key}: shift {ours} != netx's {shift}"
        exact_ours = np.array_equal(netx_loaded(w, ours), w << max(ours, 0))
        assert exact_ours == exact_real, f"{key}: exactness differs for {w.tolist()}"
        if exact_real:
            assert_ints_equal(netx_loaded(w, ours), loaded, f"{key} loaded")
        verdicts["exact" if exact_real else "inexact"] += 1
    assert verdicts["exact"] > 30 and verdicts["inexact"] >= 5 and verdicts["error"] == 1, verdicts


def test_recurrent_blocks_are_read_as_lava_dl_does(netx_ready, tmp_path):
    """netx derives one num_weight_bits from the forward and recurrent weights together, and
    each Lava Dense then picks its own sign mode: the exporter's verdict must be lava-dl's."""
    rng = np.random.default_rng(4)
    pairs = {}
    for i in range(24):
        fwd_mode, rec_mode = ("mixed", "excitatory", "inhibitory")[i % 3], ("mixed", "exc")[i % 2]
        top = int(rng.choice([3, 60, 127, 200]))
        fwd = {
            "mixed": rng.integers(-top, top + 1, (4, 5)) * (1 + i % 2),
            "excitatory": rng.integers(0, top + 1, (4, 5)),
            "inhibitory": -rng.integers(1, top + 1, (4, 5)),
        }[fwd_mode]
        rec = (
            rng.integers(-40, 41, (4, 4)) * 2
            if rec_mode == "mixed"
            else rng.integers(0, 90, (4, 4))
        )
        pairs[f"r{i}_fwd"], pairs[f"r{i}_rec"] = np.clip(fwd, -256, 254), rec
    np.savez(tmp_path / "m.npz", **pairs)
    subprocess.run(
        [str(netx_python()), "-W", "ignore", str(PROBE), "m.npz", "r.npz"],
        cwd=tmp_path, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    with np.load(tmp_path / "r.npz", allow_pickle=False) as z:
        real = {k: z[k] for k in z.files}
    verdicts = []
    for i in range(24):
        fwd, rec = pairs[f"r{i}_fwd"], pairs[f"r{i}_rec"]
        if f"r{i}_error" in real:
            exact_real = False
        else:
            s = int(real[f"r{i}_shift"])
            exact_real = s >= 0 and all(
                np.array_equal(real[f"r{i}_loaded_{part}"], w << s)
                for part, w in (("fwd", fwd), ("rec", rec))
            )
        try:
            check_loadable(f"r{i}", fwd, rec)
            exact_ours = True
        except NetxRefused:
            exact_ours = False
        assert exact_ours == exact_real, f"r{i}: {fwd.tolist()} + {rec.tolist()}"
        verdicts.append(exact_real)
    assert 3 <= sum(verdicts) <= 21, verdicts  # both outcomes occur


def test_random_networks_in_netx_match_the_emulator_exactly(netx_ready, loihi2, tmp_path):
    """22 chains: dense, with and without biases, recurrent, with delays; one Lava run each."""
    rng = np.random.default_rng(2026)
    jobs, cases = [], []
    kinds = {"plain": 0, "recurrent": 0, "delays": 0, "no_bias": 0}
    for i in range(22):
        kind = ("plain", "recurrent", "delays", "no_bias")[i % 4]
        kinds[kind] += 1
        depth = 2 + i % 3
        sizes = (int(rng.integers(8, 20)),) + tuple(int(rng.integers(4, 16)) for _ in range(depth))
        qnet = netx_qnet(rng, sizes, kind == "recurrent", kind == "delays", kind != "no_bias")
        path = tmp_path / f"n{i}.net"
        write_netx(plan_netx(qnet), path)
        steps = 60
        x = rng.random((1, steps - 15, sizes[0])) < rng.uniform(0.1, 0.5)
        xfull = np.zeros((1, steps, sizes[0]), bool)
        xfull[:, : x.shape[1]] = x
        jobs.append(NetxJob(path, xfull, steps))
        cases.append((qnet, xfull))
    results = run_netx_batch(jobs)
    spikes = 0
    for i, ((qnet, x), got) in enumerate(zip(cases, results, strict=True)):
        emu = run(qnet, loihi2.numerics, {"in": x}, x.shape[1])
        for p in qnet.populations:
            assert_ints_equal(got[p.name], emu.spikes[p.name], f"net {i} {p.name} spikes")
            spikes += int(emu.spikes[p.name].sum())
    modes = {p.params.sign_mode for q, _ in cases for p in q.projections}
    assert modes == {"mixed", "excitatory", "inhibitory"}
    assert spikes > 3000, spikes


def test_demo_model_in_netx_matches_the_emulator_exactly(netx_ready, tmp_path):
    """The `make demo` recipe, compiled with --netx; emulate --backend netx runs the folder's
    own run_loihi2.py on network.net and verifies every spike."""
    api.train_digits(tmp_path / "model.pt")
    api.compile(tmp_path / "model.pt", "loihi2", tmp_path / "d", netx=True)
    summary = api.emulate(tmp_path / "d", "digits", backend="netx", samples=3)
    assert summary.verification.startswith("verified: netx (lava-dl 0.6.0)")
    assert summary.samples == 3 and sum(x.int_spikes_per_sample for x in summary.layers) > 10
