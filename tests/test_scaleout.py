"""Emulation sharded over Dask workers gives what one process gives, bit for bit.

A local cluster (embedded, ``--workers``) and a ``dask scheduler`` with two ``dask worker``
processes (``--cluster``), all on 127.0.0.1 without dashboards; 1, 2 and 7 shards; a worker
killed mid-run. Every process started here is stopped; every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from snn_deploy import api
from snn_deploy.cli import main
from snn_deploy.emulation import FLOAT_BLOCK, run_pair
from snn_deploy.progress import _NoBar, bar, wanted
from snn_deploy.scaleout import cluster as cluster_module
from snn_deploy.scaleout.emulate import ShardedRunner, shard_bounds

BIN = Path(sys.executable).parent
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scaleout")
    api.train_digits(tmp / "model.pt", epochs=2)
    api.compile(tmp / "model.pt", "loihi2", tmp / "art")
    return tmp / "art"


@pytest.fixture(scope="module")
def baseline(artifact):
    """The one-process summary record, without its timings."""
    return _record(api.emulate(artifact, save=False))


@pytest.fixture(scope="module")
def loaded(artifact):
    from snn_deploy.data.loader import load_inputs

    manifest, profile, net, qnet = api.load_artifacts(artifact)
    inputs, _, _ = load_inputs("digits", net, manifest.get("data"), "test", None)
    n, steps = next(iter(inputs.values())).shape[:2]
    chip_steps = steps + max(p.shift_steps for p in qnet.populations)
    return net, qnet, profile, inputs, n, chip_steps


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes (with nannies) on 127.0.0.1."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask")
    env = {**os.environ, **ONE_THREAD, "DASK_TEMPORARY_DIRECTORY": str(tmp)}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"env": env, "cwd": tmp, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [
                BIN / "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            **common,
        )  # fmt: skip
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        BIN / "dask",
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--local-directory",
                        str(tmp),
                        "--death-timeout",
                        "60",
                    ],
                    **common,
                )  # fmt: skip
            )
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record(summary) -> dict:
    d = summary.record()
    d.pop("seconds")
    return d


def _assert_same_results(a, b) -> None:
    """Two (SimResult, EmulationResult) pairs are equal entry for entry."""
    (ref_a, emu_a), (ref_b, emu_b) = a, b
    for field in ("spikes", "voltage"):
        for k, v in getattr(ref_a, field).items():
            np.testing.assert_array_equal(getattr(ref_b, field)[k], v, err_msg=f"float {k}")
        for k, v in getattr(emu_a, field).items():
            np.testing.assert_array_equal(getattr(emu_b, field)[k], v, err_msg=f"int {k}")
    for pop, state in emu_a.final_state.items():
        for var, v in state.items():
            np.testing.assert_array_equal(emu_b.final_state[pop][var], v, err_msg=f"{pop}.{var}")
    assert emu_a.events == emu_b.events


def test_shard_bounds_cover_the_samples_at_block_multiples():
    for samples, shards in ((360, 7), (360, 1), (5, 3), (10_000, 8), (33, 64)):
        bounds = shard_bounds(samples, shards)
        assert bounds[0][0] == 0 and bounds[-1][1] == samples
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        assert all(start % FLOAT_BLOCK == 0 for start, _ in bounds)
        assert len(bounds) == min(shards, -(-samples // FLOAT_BLOCK))


def test_packed_results_unpack_to_equal_arrays_of_the_same_dtypes():
    from snn_deploy.backends.emulator.result import EmulationResult
    from snn_deploy.scaleout.emulate import NarrowInts, PackedBools, pack, unpack

    rng = np.random.default_rng(0)
    spikes = rng.random((5, 7, 13)) < 0.3
    state = {"u": rng.integers(-(2**23), 2**23, (5, 13)), "v": np.zeros((5, 13), np.int64)}
    wide = np.array([2**40, -1], dtype=np.int64)
    result = EmulationResult({"a": spikes}, {"a": state}, 7, {"a": rng.random((5, 7, 13))})
    packed = pack((result, {"seconds": 1.5}, None, wide))
    assert isinstance(packed[0].spikes["a"], PackedBools)
    assert isinstance(packed[0].final_state["a"]["u"], NarrowInts)
    assert packed[0].final_state["a"]["u"].values.dtype == np.int32
    assert packed[0].final_state["a"]["v"].values.dtype == np.int8
    assert packed[3] is wide
    back, seconds, none, same = unpack(packed)
    assert seconds == {"seconds": 1.5} and none is None and same is wide
    for got, want in (
        (back.spikes["a"], spikes),
        (back.final_state["a"]["u"], state["u"]),
        (back.final_state["a"]["v"], state["v"]),
        (back.voltage["a"], result.voltage["a"]),
    ):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_float_reference_does_not_depend_on_sharding_with_float64_weights(loaded):
    """Weights using every bit of float64 and the voltage of every layer recorded: BLAS sums a
    row in an order that depends on the batch's size (measured on this model with plain
    ``simulate``: 14,310 of 28,980 voltage entries of the first 7 samples differed between a
    batch of 7 and one of 360), so the float reference runs in fixed blocks of FLOAT_BLOCK
    samples and the shards start at multiples of it."""
    from snn_deploy.emulation import _simulate_blocks
    from snn_deploy.ir.timing import ChipTiming

    net, qnet, profile, inputs, n, chip_steps = loaded
    rng = np.random.default_rng(0)
    projections = tuple(
        dataclasses.replace(p, weight=p.weight * (1 + 1e-3 * rng.random(p.weight.shape)))
        for p in net.projections
    )
    net64 = dataclasses.replace(net, projections=projections)
    shifts = {p.name: p.shift_steps for p in (*qnet.inputs, *qnet.populations)}
    timing = ChipTiming(shifts, {p.name: p.delay_steps for p in qnet.projections}, ())
    every = tuple(p.name for p in net.populations)
    whole = _simulate_blocks(net64, inputs, timing, chip_steps, every)
    assert set(whole.voltage) == set(every)
    for shards in (2, 7):
        parts = [
            _simulate_blocks(
                net64, {k: v[a:b] for k, v in inputs.items()}, timing, chip_steps, every
            )  # fmt: skip
            for a, b in shard_bounds(n, shards)
        ]
        for name in every:
            joined = np.concatenate([p.voltage[name] for p in parts])
            np.testing.assert_array_equal(joined, whole.voltage[name], err_msg=name)


def test_embedded_local_cluster_via_cli_gives_the_same_summary(artifact, baseline, tmp_path,
                                                               monkeypatch):  # fmt: skip
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "s.json"
    argv = ["emulate", str(artifact), "--no-save", "--workers", "2", "--shards", "7"]
    assert main([*argv, "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    got.pop("seconds")
    assert json.dumps(got, sort_keys=True) == json.dumps(
        {k: v for k, v in baseline.items() if k not in ("format", "version")}, sort_keys=True
    )
    assert list(scratch.iterdir()) == []  # Dask's scratch folder is removed


def test_external_cluster_1_2_7_shards_give_identical_summaries(artifact, baseline, dask_cluster):
    for shards in (1, 2, 7):
        got = _record(api.emulate(artifact, save=False, cluster=dask_cluster, shards=shards))
        assert json.dumps(got, sort_keys=True) == json.dumps(baseline, sort_keys=True), shards


def test_sharded_spikes_equal_one_process_and_survive_a_killed_worker(artifact, loaded,
                                                                      dask_cluster):  # fmt: skip
    from distributed import Client

    net, qnet, profile, inputs, n, chip_steps = loaded
    whole = run_pair(net, qnet, profile, inputs, chip_steps)[:2]
    killed = []
    with Client(dask_cluster, timeout="30s") as client:

        def kill_a_busy_worker(start, stop):
            if killed:
                return
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        runner = ShardedRunner(client, artifact, "digits", None, 12, on_shard=kill_a_busy_worker)
        got = runner(n, chip_steps)[:2]
        client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    assert killed, "no worker was busy when the first shard arrived"
    _assert_same_results(whole, got)


@pytest.mark.lava
@pytest.mark.timeout(300)
def test_lava_shards_each_in_their_worker_equal_one_lava_run_and_the_emulator(
    artifact, loaded, dask_cluster, lava_ready
):
    """``--backend lava`` on Dask: every shard runs in a Lava subprocess started by the worker
    that runs it; the joined spikes and final states equal one unsharded Lava run and the
    emulator, integer for integer."""
    from distributed import Client

    from snn_deploy.emulation import run_lava_samples

    net, qnet, profile, inputs, n, chip_steps = loaded
    few = {k: v[:96] for k, v in inputs.items()}
    whole, _ = run_lava_samples(qnet, few, chip_steps)
    _, emu, _ = run_pair(net, qnet, profile, few, chip_steps)
    lava_pids = []
    with Client(dask_cluster, timeout="30s") as client:
        runner = ShardedRunner(client, artifact, "digits", 96, 3)
        _, got_emu, seconds, got = runner(96, chip_steps, lava=True)
        workers = client.run(os.getpid)
        lava_pids = [p for pid in workers.values() for p in _lava_descendants(pid)]
    assert seconds["lava (sum over shards)"] > 0
    assert lava_pids == []  # the workers' Lava processes have ended
    for pop, spikes in whole.spikes.items():
        np.testing.assert_array_equal(got.spikes[pop], spikes, err_msg=f"Lava {pop} spikes")
        np.testing.assert_array_equal(emu.spikes[pop], spikes, err_msg=f"emulator {pop} spikes")
        np.testing.assert_array_equal(got_emu.spikes[pop], spikes, err_msg=f"shards {pop}")
        for var in ("u", "v"):
            want = whole.final_state[pop][var]
            np.testing.assert_array_equal(got.final_state[pop][var], want, err_msg=f"{pop}.{var}")
            np.testing.assert_array_equal(emu.final_state[pop][var], want, err_msg=f"{pop}.{var}")
    assert sum(int(s.sum()) for s in whole.spikes.values()) > 0


@pytest.mark.lava
@pytest.mark.timeout(300)
def test_lava_on_a_local_cluster_via_cli_gives_the_unsharded_summary(artifact, tmp_path,
                                                                     lava_ready):  # fmt: skip
    argv = ["emulate", str(artifact), "--no-save", "--backend", "lava", "--samples", "96"]
    summaries = []
    for extra in ([], ["--workers", "2"]):
        out = tmp_path / f"lava{len(extra)}.json"
        assert main([*argv, *extra, "--json", str(out)]) == 0
        got = json.loads(out.read_text())
        assert ("lava (sum over shards)" if extra else "lava") in got.pop("seconds")
        summaries.append(json.dumps(got, sort_keys=True))
    assert summaries[0] == summaries[1]
    assert "verified: Lava and the snn-deploy emulator agree" in summaries[0]


def _lava_descendants(pid: int) -> list[int]:
    """Process ids of Lava runners below ``pid`` (Linux /proc; empty elsewhere)."""
    from snn_deploy.backends.lava.bridge import RUNNER

    found, todo = [], [pid]
    while todo:
        path = Path(f"/proc/{todo.pop()}/task")
        for task in path.iterdir() if path.is_dir() else ():
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            for kid in kids:
                try:
                    cmd = Path(f"/proc/{kid}/cmdline").read_bytes()
                except OSError:
                    continue
                found += [kid] if str(RUNNER).encode() in cmd else []
                todo.append(kid)
    return found


def test_in_process_shards_with_progress_give_the_same_summary(artifact, baseline):
    got = _record(api.emulate(artifact, save=False, progress=True, shards=5))
    assert json.dumps(got, sort_keys=True) == json.dumps(baseline, sort_keys=True)


def test_unreachable_cluster_is_one_line_exit_6(artifact, capsys, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2)
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    assert main(["emulate", str(artifact), "--no-save", "--cluster", address]) == 6
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert len(err) == 2 and err[1].startswith("  hint:")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--cluster", "127.0.0.1:8786"], "is not a scheduler address"),
        (["--workers", "2", "--cluster", "tcp://127.0.0.1:8786"], "exclude each other"),
        (["--shards", "0"], "--shards must be at least 1"),
    ],
)
def test_bad_scale_out_options_are_usage_errors(artifact, capsys, args, message):
    assert main(["emulate", str(artifact), "--no-save", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_no_bars_when_quiet_or_not_a_terminal():
    assert not wanted(quiet=True)
    assert isinstance(bar(10, "x"), _NoBar)  # pytest's stderr is not a terminal
    assert isinstance(bar(10, "x", enabled=False), _NoBar)


def test_cli_import_does_not_import_distributed():
    code = "import sys, snn_deploy.cli; print('distributed' in sys.modules, 'tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_sweep_two_targets_three_widths_records_refusals_and_plots(artifact, tmp_path, capsys):
    import xml.etree.ElementTree as ET

    model = artifact.parent / "model.pt"
    out = tmp_path / "sweep"
    argv = ["sweep", str(model), "--targets", "loihi2,fixedpoint", "--weight-bits", "8,4,2"]
    assert main([*argv, "--samples", "64", "-o", str(out)]) == 0
    result = json.loads((out / "sweep.json").read_text())
    assert result["format"] == "snn-deploy/sweep"
    got = [(v["target"], v["weight_bits"], v["status"]) for v in result["variants"]]
    assert [g[:2] for g in got] == [(t, b) for t in ("loihi2", "fixedpoint") for b in (8, 4, 2)]
    ok = [v for v in result["variants"] if v["status"] == "ok"]
    refused = [v for v in result["variants"] if v["status"] == "refused"]
    assert {v["target"] for v in ok} == {"loihi2"} and len(ok) == 3
    assert all(0 <= v["int_accuracy"] <= 1 and v["cores_used"] >= 1 for v in ok)
    assert len(refused) == 3 and all("--weight-bits" in v["reason"] for v in refused)
    page = (out / "sweep.html").read_text()
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert [line.get("data-target") for line in lines] == ["loihi2"]
    assert len(lines[0].get("points").split()) == 3
    assert page.count("<tr>") == 7 and page.count("refused: ") == 3
    assert "refused:" in capsys.readouterr().out


def test_two_process_data_parallel_training_matches_one_process(tmp_path, capsys):
    """torchrun with 2 gloo processes on 127.0.0.1, each taking half of every batch of 64: the
    same global batch and learning rate, so the same accuracy as one process within noise."""
    one = api.train_digits(tmp_path / "one.pt", epochs=3)
    assert (
        main(["train", "digits", "--nproc", "2", "--epochs", "3", "-o", str(tmp_path / "two.pt")])
        == 0
    )
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'two.pt'}" in out
    two = float(out.split("float test accuracy ")[1].split("%")[0]) / 100
    assert one["float_test_accuracy"] > 0.85 and two > 0.85
    assert abs(two - one["float_test_accuracy"]) < 0.04
    assert api.compile(tmp_path / "two.pt", "loihi2", tmp_path / "art2") is not None


@pytest.mark.timeout(300)
@pytest.mark.parametrize("algorithm", ["bptt", "fptt"])
def test_data_parallel_fit_ranks_agree_and_take_the_one_process_steps(tmp_path, algorithm):
    """``fit(..., data_parallel=True)`` under torchrun, 2 gloo processes on 127.0.0.1, float64,
    a short last batch (one rank's share empty): both ranks end with the same parameters bit for
    bit (they sum the same gradients and take the same steps), and those equal one process on
    the whole batches up to the order of float sums (float64: 1e-9 relative), far below what a
    different batch or learning rate would give."""
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    import ddp_fit_rank

    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        str(Path(ddp_fit_rank.__file__)), str(tmp_path), algorithm,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, value in ranks[0].items():
        np.testing.assert_array_equal(ranks[1][name].numpy(), value.numpy(), err_msg=name)
    one, history = ddp_fit_rank.train(algorithm, data_parallel=False)
    initial = ddp_fit_rank.sequential_digits_network(8, 16, seed=0).double().state_dict()
    moved = 0.0
    for name, value in one.items():
        two = ranks[0][name].numpy()
        np.testing.assert_allclose(two, value.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
        moved = max(moved, float((value - initial[name]).abs().max()))
    assert moved > 1e-3  # the training moved the weights: the comparison is not vacuous
    records = json.loads((tmp_path / "rank0.json").read_text())
    assert [r["train_accuracy"] for r in records] == [r["train_accuracy"] for r in history]
    for got, want in zip(records, history, strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-9)


CHROMIUM_NAMES = (
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "chrome-headless-shell",
)


def _chromium() -> str | None:
    """A headless Chromium: $SNN_DEPLOY_CHROMIUM, or one of CHROMIUM_NAMES on PATH (Debian's
    ``chromium-headless-shell`` package: ``make chromium``)."""
    import shutil

    given = os.environ.get("SNN_DEPLOY_CHROMIUM")
    if given:
        return given
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def _png_rgb(path: Path) -> np.ndarray:
    """(height, width, 3) uint8 of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's
    screenshots are): the five scanline filters of the PNG specification, section 9."""
    import struct
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), np.int32)
    prev = np.zeros(width * bpp, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + prev) % 256
        elif kind == 1:
            row = line.copy()
            for i in range(bpp, len(row)):
                row[i] = (row[i] + row[i - bpp]) % 256
        else:
            row = line.copy()
            for i in range(len(row)):
                a = row[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                if kind == 3:
                    row[i] = (row[i] + (a + b) // 2) % 256
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    row[i] = (row[i] + pred) % 256
        out[y], prev = row, row
    return out.reshape(height, width, bpp)[:, :, :3].astype(np.uint8)


@pytest.mark.timeout(120)
def test_sweep_page_renders_its_plot_in_headless_chromium(tmp_path):
    """The page of a sweep of 2 targets x 3 weight widths, screenshotted by a headless Chromium
    (file:// only, no network): each target's line is drawn in its colour inside the plot."""
    from snn_deploy.scaleout.sweep import render_html

    chromium = _chromium()
    if chromium is None:
        pytest.skip("no headless Chromium (apt-get install chromium-headless-shell: make chromium)")
    variants = [
        {"name": f"{t}-w{b}", "target": t, "weight_bits": b, "percentile": 100.0, "seed": 0,
         "status": "ok", "float_accuracy": 0.95, "int_accuracy": acc, "cores_used": 1,
         "cores_available": 128}
        for t, shift in (("loihi2", 0.0), ("fixedpoint", 0.3))
        for b, acc in ((8, 0.9 - shift), (4, 0.8 - shift), (2, 0.5 - shift))
    ]  # fmt: skip
    page = tmp_path / "sweep.html"
    page.write_text(render_html({"model": "m.pt", "data": "digits", "variants": variants}))
    shot = tmp_path / "shot.png"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=800,900",
        f"--screenshot={shot}", page.as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-1000:]
    rgb = _png_rgb(shot).astype(int)
    for colour in ("#1f77b4", "#d62728"):  # the first two series' colours (sweep.render_html)
        want = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        ys, xs = np.nonzero(np.abs(rgb - want).max(axis=2) <= 8)
        assert len(xs) > 200, f"{colour}: {len(xs)} pixels"  # a line across the plot
        assert xs.max() - xs.min() > 400, colour  # from 2 bits to 8 bits and the legend
