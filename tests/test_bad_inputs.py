"""A corpus of bad inputs for every file the CLI reads, made here: no input ends in a traceback.

Model files (``.pt``, ``.nir``, ``.onnx``), data (``.npz``), chip profiles (``.toml``) and artifact
folders (for ``emulate``, ``report``, ``export``) are each broken in the ways files break: empty,
truncated, random bytes, another format under the right extension, inconsistent shapes, empty
arrays, absurd declared sizes, values out of range. Every case runs the real CLI (``main``, in
this process) and must end with its exit code, one ``error:`` line (plus at most a ``hint:``
line), never the internal-error guard, and no file created or changed anywhere under the
test's folder (no output folder, no staging folder, no ``.part`` file, no ``emulation.json``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch

from snn_deploy import api
from snn_deploy.cli import INTERNAL_ERROR_EXIT, main
from snn_deploy.frontend import sizes
from snn_deploy.profiles import profiles_dir
from snn_deploy.train.models import SpikingMLP

GIB = 1 << 30
UNSAFE = "not a PyTorch checkpoint that can be loaded safely"
N_IN, N_OUT = 3, 4


def lif_graph(weight: np.ndarray | None = None, n_out: int = N_OUT, n_in: int = N_IN, **lif):
    w = np.full((n_out, n_in), 0.5) if weight is None else weight
    params = {
        "tau": np.full(n_out, 0.01),
        "r": np.ones(n_out),
        "v_leak": np.zeros(n_out),
        "v_threshold": np.ones(n_out),
        "v_reset": np.zeros(n_out),
        **lif,
    }
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc": nir.Linear(weight=w),
        "lif": nir.LIF(**params),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    return nir.NIRGraph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])


def checkpoint() -> dict:
    return SpikingMLP.from_sizes([N_IN, N_OUT, 2], alpha=0.5, beta=0.875).to_checkpoint()


def spikes(samples: int = 6, steps: int = 10, n: int = N_IN) -> np.ndarray:
    return np.random.default_rng(0).random((samples, steps, n)) < 0.4


def onnx_bytes(w1=None, w2=None, in_dims=(1, N_IN), huge_initializer=False) -> bytes:
    """Gemm -> Relu -> Gemm, written with onnx.helper (no exporter involved)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1 = np.full((5, N_IN), 0.3, np.float32) if w1 is None else np.asarray(w1, np.float32)
    w2 = np.full((2, 5), 0.2, np.float32) if w2 is None else np.asarray(w2, np.float32)
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(np.zeros(w1.shape[0], np.float32), "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(np.zeros(w2.shape[0], np.float32), "b2"),
    ]
    if huge_initializer:  # declares 200,000 x 50,000 float32 and holds no data
        inits[0] = TensorProto(name="w1", data_type=TensorProto.FLOAT, dims=[200_000, 50_000])
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        inits,
    )
    return onnx.helper.make_model(graph).SerializeToString()


def huge_npy_member(shape: tuple[int, ...]) -> bytes:
    """An .npy whose header declares ``shape`` but which holds 64 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|b1", "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + bytes(64)


class Kit:
    """Writes the bad files of one case into ``d`` (the test's folder and working directory)."""

    def __init__(self, d: Path, bases: dict):
        self.d, self.bases = d, bases

    def path(self, name: str) -> Path:
        return self.d / name

    def write(self, name: str, data: bytes | str) -> str:
        p = self.path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return name

    def base(self, kind: str) -> bytes:
        return self.bases[kind].read_bytes()

    def nir(self, name: str, graph: nir.NIRGraph) -> str:
        nir.write(self.path(name), graph)
        return name

    def h5(self, name: str, edit) -> str:
        """A copy of a valid NIR file, edited with h5py."""
        shutil.copy(self.bases["nir"], self.path(name))
        with h5py.File(self.path(name), "a") as f:
            edit(f)
        return name

    def pt(self, name: str, obj) -> str:
        torch.save(obj, self.path(name))
        return name

    def npz(self, name: str, **arrays) -> str:
        np.savez(self.path(name), **arrays)
        return name

    def zip(self, name: str, members: dict[str, bytes]) -> str:
        with zipfile.ZipFile(self.path(name), "w") as z:
            for member, data in members.items():
                z.writestr(member, data)
        return name

    def profile(self, name: str, edits: dict[str, str], target: str = "loihi2") -> str:
        """The shipped profile of ``target`` with ``section.key`` lines replaced."""
        text = (profiles_dir() / f"{target}.toml").read_text()
        for dotted, value in edits.items():
            section, key = dotted.split(".")
            head = text.index(f"[{section}]")
            line = re.compile(rf"(?m)^{key} = [^#\n]*")
            m = line.search(text, head)
            assert m, dotted
            text = text[: m.start()] + f"{key} = {value} " + text[m.end() :]
        return self.write(name, text)

    def art(self, name: str = "art") -> str:
        shutil.copytree(self.bases["art"], self.path(name))
        return name

    def manifest(self, art: str, edit) -> None:
        path = self.path(art) / "manifest.json"
        m = json.loads(path.read_text())
        edit(m)
        path.write_text(json.dumps(m))

    def replace_in_art(self, art: str, name: str, data: bytes, rehash: bool) -> None:
        """Replace a file of an artifact folder; with ``rehash`` the manifest is updated too,
        as a user who edits both would do."""
        (self.path(art) / name).write_bytes(data)
        if rehash:
            digest = hashlib.sha256(data).hexdigest()
            self.manifest(art, lambda m: m["files"].__setitem__(name, digest))


CASES = []


def case(code: int, match: str):
    def register(build):
        CASES.append(pytest.param(build, code, match, id=build.__name__))
        return build

    return register


def compile_pt(k: Kit, name: str) -> list[str]:
    return ["compile", name, "-o", "out"]


def compile_nir(k: Kit, name: str) -> list[str]:
    return ["compile", name, "--dt", "1e-3", "-o", "out"]


def compile_onnx(k: Kit, name: str) -> list[str]:
    k.npz("calib.npz", x=spikes(n=N_IN))
    return ["compile", name, "--calibrate", "calib.npz", "-o", "out"]


def emulate_with(k: Kit, data: str) -> list[str]:
    return ["emulate", k.art(), "--data", data, "--json", "summary.json"]


def compile_with_profile(k: Kit, profile: str) -> list[str]:
    k.nir("ok.nir", lif_graph())
    return ["compile", "ok.nir", "--dt", "1e-3", "--profile", profile, "-o", "out"]


# --------------------------------------------------------------------------------- .pt files
@case(2, "pt.pt: the file is empty")
def pt_empty(k):
    return compile_pt(k, k.write("pt.pt", b""))


@case(2, f"pt.pt: {UNSAFE}")
def pt_plain_text(k):
    return compile_pt(k, k.write("pt.pt", "a plain text file, not a checkpoint\n" * 20))


@case(2, f"pt.pt: {UNSAFE}")
def pt_random_bytes(k):
    return compile_pt(k, k.write("pt.pt", np.random.default_rng(1).bytes(4096)))


@case(2, f"pt.pt: {UNSAFE}")
def pt_truncated(k):
    data = k.base("pt")
    return compile_pt(k, k.write("pt.pt", data[: len(data) // 2]))


@case(2, f"pt.pt: {UNSAFE}")
def pt_holding_a_nir_file(k):
    return compile_pt(k, k.write("pt.pt", k.base("nir")))


@case(2, f"pt.pt: {UNSAFE}")
def pt_holding_an_npz(k):
    k.npz("x.npz", x=spikes())
    return compile_pt(k, k.write("pt.pt", k.path("x.npz").read_bytes()))


@case(2, f"pt.pt: {UNSAFE} (weights_only=True refused it: Unsupported global")
def pt_pickle_that_runs_code(k):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    return compile_pt(k, k.write("pt.pt", pickle.dumps({"model": Exploit()}, protocol=2)))


@case(2, "pt.pt is a directory, not a model file")
def pt_directory(k):
    k.path("pt.pt").mkdir()
    return compile_pt(k, "pt.pt")


@case(3, "pt.pt: is a PyTorch file but not an snn-deploy checkpoint (Tensor)")
def pt_tensor(k):
    return compile_pt(k, k.pt("pt.pt", torch.zeros(3)))


@case(3, "pt.pt: missing key(s) 'contract'")
def pt_missing_key(k):
    ckpt = checkpoint()
    del ckpt["contract"]
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(3, "pt.pt: checkpoint version 99 is not supported")
def pt_future_version(k):
    ckpt = checkpoint()
    ckpt["version"] = 99
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(3, "pt.pt: tensor 'layers.0.fc.weight' has shape (4, 5) but layer 'hidden' needs (4, 3)")
def pt_weight_of_the_wrong_shape(k):
    ckpt = checkpoint()
    ckpt["state_dict"]["layers.0.fc.weight"] = torch.zeros(N_OUT, N_IN + 2)
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(3, "pt.pt: model.layers[0].out_features must be a positive integer, got 0")
def pt_layer_of_zero_neurons(k):
    ckpt = checkpoint()
    ckpt["model"]["layers"][0]["out_features"] = 0
    ckpt["model"]["layers"][1]["in_features"] = 0
    sd = ckpt["state_dict"]
    for key in ("alpha", "beta", "threshold"):
        sd[f"layers.0.{key}"] = torch.zeros(0)
    sd["layers.0.fc.weight"] = torch.zeros(0, N_IN)
    sd["layers.1.fc.weight"] = torch.zeros(2, 0)
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(3, "pt.pt: tensor 'layers.0.beta' has 1 infinite")
def pt_infinite_decay(k):
    ckpt = checkpoint()
    ckpt["state_dict"]["layers.0.beta"][1] = float("inf")
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(3, "pt.pt: layer 'hidden': alpha must be in [0, 1) for NIR export, got 1.5")
def pt_decay_out_of_range(k):
    ckpt = checkpoint()
    ckpt["state_dict"]["layers.0.alpha"][0] = 1.5
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(3, "pt.pt: invalid discretization contract: dt_seconds must be > 0")
def pt_negative_time_step(k):
    ckpt = checkpoint()
    ckpt["contract"]["dt_seconds"] = -1e-3
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(3, "pt.pt: model.layers[0].out_features must be a positive integer, got 'four'")
def pt_layer_sizes_as_strings(k):
    ckpt = checkpoint()
    ckpt["model"]["layers"][0]["out_features"] = "four"
    return compile_pt(k, k.pt("pt.pt", ckpt))


@case(2, "arch.json: not a readable architecture description")
def pt_state_dict_with_a_damaged_architecture(k):
    k.pt("sd.pt", checkpoint()["state_dict"])
    k.write("arch.json", '{"format": "snn-deploy/architecture", "version": 1, "layers": [')
    return ["compile", "sd.pt", "--arch", "arch.json", "-o", "out"]


@case(2, "arch.json: layers[0] must be a table, got 'l0'")
def pt_state_dict_with_an_architecture_of_the_wrong_shape(k):
    k.pt("sd.pt", checkpoint()["state_dict"])
    arch = {"format": "snn-deploy/architecture", "version": 1, "input_size": 3, "layers": ["l0"]}
    k.write("arch.json", json.dumps(arch))
    return ["compile", "sd.pt", "--arch", "arch.json", "-o", "out"]


@case(3, "sd.pt: layer 'l0': weight (4, 3) does not take 7 inputs")
def pt_state_dict_with_an_inconsistent_architecture(k):
    k.pt("sd.pt", checkpoint()["state_dict"])
    arch = {
        "format": "snn-deploy/architecture",
        "version": 1,
        "input_size": 7,
        "contract": {"dt_seconds": 1e-3, "reset": "zero"},
        "layers": [
            {
                "name": "l0",
                "neuron": "cuba_lif",
                "weight": "layers.0.fc.weight",
                "alpha": "layers.0.alpha",
                "beta": "layers.0.beta",
                "threshold": "layers.0.threshold",
            }
        ],
    }
    k.write("arch.json", json.dumps(arch))
    return ["compile", "sd.pt", "--arch", "arch.json", "-o", "out"]


@case(2, f"pt.pt: {UNSAFE}")
def pt_given_to_qat(k):
    k.write("pt.pt", "plain text\n")
    return ["qat", "pt.pt", "-o", "out.pt", "--epochs", "1"]


@case(3, "m.pt: qat fine-tunes on digits (64 inputs, 10 classes); the model has 3 inputs")
def pt_given_to_qat_that_is_not_a_digits_model(k):
    k.pt("m.pt", checkpoint())
    return ["qat", "m.pt", "-o", "out.pt", "--epochs", "1"]


# -------------------------------------------------------------------------------- .nir files
@case(2, "g.nir: the file is empty")
def nir_empty(k):
    return compile_nir(k, k.write("g.nir", b""))


@case(2, "g.nir: not a readable NIR file")
def nir_truncated(k):
    data = k.base("nir")
    return compile_nir(k, k.write("g.nir", data[: len(data) // 3]))


@case(2, "g.nir: not a readable NIR file")
def nir_random_bytes(k):
    return compile_nir(k, k.write("g.nir", np.random.default_rng(2).bytes(8192)))


@case(2, "g.nir: not a readable NIR file")
def nir_holding_a_checkpoint(k):
    return compile_nir(k, k.write("g.nir", k.base("pt")))


@case(3, "g.nir: NIR graph could not be read")
def nir_hdf5_that_is_not_nir(k):
    with h5py.File(k.path("g.nir"), "w") as f:
        f["temperature"] = np.arange(10.0)
    return compile_nir(k, "g.nir")


@case(2, "g.nir: declares arrays of 37.3 GiB (largest: 'node/nodes/fc/weight', 200,000 x 50,000")
def nir_declaring_a_37_gib_weight(k):
    def edit(f):
        g = f["node/nodes/fc"]
        del g["weight"]
        g.create_dataset("weight", shape=(200_000, 50_000), dtype="float32", chunks=(500, 500))

    return compile_nir(k, k.h5("g.nir", edit))


@case(3, "node 'fc': parameter 'weight' has 2 NaN or infinite value(s)")
def nir_nan_and_infinite_weights(k):
    w = np.full((N_OUT, N_IN), 0.5)
    w[0, 0], w[1, 1] = np.nan, -np.inf
    return compile_nir(k, k.nir("g.nir", lif_graph(w)))


@case(3, "node 'fc': weight (4, 5) expects 5 inputs")
def nir_weight_that_does_not_fit_the_input(k):
    def edit(f):
        g = f["node/nodes/fc"]
        del g["weight"]
        g["weight"] = np.full((N_OUT, N_IN + 2), 0.5)

    return compile_nir(k, k.h5("g.nir", edit))


@case(3, "node 'fc' has shape (0,): a layer of zero neurons or values")
def nir_layer_of_zero_neurons(k):
    return compile_nir(k, k.nir("g.nir", lif_graph(np.zeros((0, N_IN)), n_out=0)))


@case(3, "node 'lif': time constants must be positive, got -0.01")
def nir_negative_time_constant(k):
    return compile_nir(k, k.nir("g.nir", lif_graph(tau=np.full(N_OUT, -0.01))))


@case(3, "node 'lif': time constants must be positive, got 0")
def nir_zero_time_constant(k):
    return compile_nir(k, k.nir("g.nir", lif_graph(tau=np.zeros(N_OUT))))


@case(3, "node 'lif': parameter 'v_threshold' has 4 NaN or infinite value(s)")
def nir_infinite_threshold(k):
    return compile_nir(k, k.nir("g.nir", lif_graph(v_threshold=np.full(N_OUT, np.inf))))


@case(3, "g.nir: NIR graph could not be read")
def nir_unknown_node_type(k):
    def edit(f):
        del f["node/nodes/fc/type"]
        f["node/nodes/fc/type"] = "Banana"

    return compile_nir(k, k.h5("g.nir", edit))


@case(3, "edge ('fc', 'nowhere') names 'nowhere', which is not a node")
def nir_edge_to_a_missing_node(k):
    def edit(f):
        del f["node/edges"]
        f.create_dataset(
            "node/edges",
            data=[["input", "fc"], ["fc", "nowhere"], ["lif", "output"]],
            dtype=h5py.string_dtype(),
        )

    return compile_nir(k, k.h5("g.nir", edit))


@case(3, "g.nir: NIR graph could not be read")
def nir_weight_of_strings(k):
    def edit(f):
        del f["node/nodes/fc/weight"]
        f.create_dataset("node/nodes/fc/weight", data=["a", "b", "c"], dtype=h5py.string_dtype())

    return compile_nir(k, k.h5("g.nir", edit))


@case(3, "g.nir: NIR graph could not be read (AssertionError: Weight must be at least 2D)")
def nir_one_dimensional_weight(k):
    def edit(f):
        del f["node/nodes/fc/weight"]
        f["node/nodes/fc/weight"] = np.ones(N_IN)

    return compile_nir(k, k.h5("g.nir", edit))


@case(3, "invalid discretization contract: dt_seconds must be > 0, got -1.0")
def nir_contract_with_a_negative_time_step(k):
    g = lif_graph()
    g.metadata = {"snn_deploy_contract": {"dt_seconds": -1.0, "reset": "zero"}}
    k.nir("g.nir", g)
    return ["compile", "g.nir", "-o", "out"]


@case(3, "the graph has no Input node")
def nir_without_nodes(k):
    def edit(f):
        for name in list(f["node/nodes"]):
            del f["node/nodes"][name]
        del f["node/edges"]
        f.create_dataset("node/edges", shape=(0, 2), dtype=h5py.string_dtype())

    return compile_nir(k, k.h5("g.nir", edit))


@case(2, "g.nir: not a readable NIR file")
def nir_given_to_export(k):
    return ["export", k.write("g.nir", b"\x89HDF\r\n\x1a\n truncated"), "-o", "out.nir"]


# ------------------------------------------------------------------------------- .onnx files
@case(2, "m.onnx: the file is empty")
def onnx_empty(k):
    return compile_onnx(k, k.write("m.onnx", b""))


@case(2, "m.onnx: not a readable ONNX model")
def onnx_truncated(k):
    data = onnx_bytes()
    return compile_onnx(k, k.write("m.onnx", data[: len(data) // 2]))


@case(2, "m.onnx: not a readable ONNX model")
def onnx_random_bytes(k):
    return compile_onnx(k, k.write("m.onnx", np.random.default_rng(3).bytes(4096)))


@case(2, "m.onnx: not a readable ONNX model")
def onnx_holding_a_nir_file(k):
    return compile_onnx(k, k.write("m.onnx", k.base("nir")))


@case(3, "m.onnx: initializer 'w1' has 1 NaN or infinite value(s)")
def onnx_nan_weights(k):
    w = np.full((5, N_IN), 0.3)
    w[2, 1] = np.nan
    return compile_onnx(k, k.write("m.onnx", onnx_bytes(w1=w)))


@case(3, "node 'h': weight (5, 7) expects 7 inputs, its input has shape (3,)")
def onnx_weight_that_does_not_fit_the_input(k):
    return compile_onnx(k, k.write("m.onnx", onnx_bytes(w1=np.full((5, N_IN + 4), 0.3))))


@case(3, "m.onnx: linear layer 'h' has an empty weight of shape (0, 3)")
def onnx_empty_layer(k):
    return compile_onnx(
        k, k.write("m.onnx", onnx_bytes(w1=np.zeros((0, N_IN)), w2=np.zeros((2, 0))))
    )


@case(3, "m.onnx: linear layer 'h' has a weight of shape (5, 3, 1, 1); it needs 2 dimensions")
def onnx_four_dimensional_gemm_weight(k):
    return compile_onnx(k, k.write("m.onnx", onnx_bytes(w1=np.full((5, N_IN, 1, 1), 0.3))))


@case(2, "m.onnx: declares arrays of 37.3 GiB (largest: 'w1', 200,000 x 50,000 ONNX tensor")
def onnx_declaring_a_37_gib_initializer(k):
    return compile_onnx(k, k.write("m.onnx", onnx_bytes(huge_initializer=True)))


@case(3, "m.onnx: input shape")
def onnx_negative_input_size(k):
    return compile_onnx(k, k.write("m.onnx", onnx_bytes(in_dims=(1, -3))))


# -------------------------------------------------------------------------------- .npz data
@case(2, "d.npz: not an .npz file with an array 'x' (the file is empty)")
def npz_empty(k):
    return emulate_with(k, k.write("d.npz", b""))


@case(2, "d.npz: not an .npz file with an array 'x' (File is not a zip file)")
def npz_truncated(k):
    k.npz("full.npz", x=spikes())
    data = k.path("full.npz").read_bytes()
    return emulate_with(k, k.write("d.npz", data[: len(data) // 2]))


@case(2, "d.npz: not an .npz file with an array 'x' (neither a zip archive nor a .npy array)")
def npz_random_bytes(k):
    return emulate_with(k, k.write("d.npz", np.random.default_rng(4).bytes(2048)))


@case(2, "d.npz: not an .npz file with an array 'x' (neither a zip archive nor a .npy array)")
def npz_holding_a_nir_file(k):
    return emulate_with(k, k.write("d.npz", k.base("nir")))


@case(2, "d.npz: not an .npz file with an array 'x'")
def npz_zip_of_text(k):
    return emulate_with(k, k.zip("d.npz", {"x.npy": b"not an array"}))


@case(2, "d.npy: not an .npz file with an array 'x'")
def npz_plain_npy(k):
    np.save(k.path("d.npy"), spikes())
    return emulate_with(k, "d.npy")


@case(2, "d.npz: not an .npz file with an array 'x'")
def npz_without_x(k):
    return emulate_with(k, k.npz("d.npz", inputs=spikes()))


@case(2, "d.npz: x of shape (0, 10, 3) holds no samples")
def npz_zero_samples(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(samples=0), y=np.zeros(0, int)))


@case(2, "d.npz: x of shape (0, 10, 3) holds no samples")
def npz_zero_samples_for_calibration(k):
    k.nir("ok.nir", lif_graph())
    k.npz("d.npz", x=spikes(samples=0))
    return ["compile", "ok.nir", "--dt", "1e-3", "--calibrate", "d.npz", "-o", "out"]


@case(2, "d.npz: x of shape (6, 0, 3) holds no time steps")
def npz_zero_steps(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(steps=0)))


@case(3, "d.npz: x must have shape (samples, steps, 3), got (6, 3)")
def npz_two_dimensional_x(k):
    return emulate_with(k, k.npz("d.npz", x=np.ones((6, 3), bool)))


@case(3, "d.npz: x must have shape (samples, steps, 3), got (6, 10, 5)")
def npz_wrong_input_size(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(n=5)))


@case(3, "d.npz: x holds 1 value(s) that are not spikes")
def npz_analog_values(k):
    x = spikes().astype(float)
    x[2, 3, 1] = 0.5
    return emulate_with(k, k.npz("d.npz", x=x))


@case(3, "d.npz: x holds 1 value(s) that are not spikes")
def npz_nan_in_x(k):
    x = spikes().astype(float)
    x[0, 0, 0] = np.nan
    return emulate_with(k, k.npz("d.npz", x=x))


@case(2, "d.npz: x holds <U1 values")
def npz_strings_in_x(k):
    return emulate_with(k, k.npz("d.npz", x=np.full((6, 10, 3), "1")))


@case(2, "d.npz: not an .npz file with an array 'x'")
def npz_pickled_objects_in_x(k):
    x = np.empty((6, 10, 3), dtype=object)
    x[...] = 1
    return emulate_with(k, k.npz("d.npz", x=x))


@case(2, "d.npz: y of shape (3,) does not give one label per sample; x holds 6 samples")
def npz_fewer_labels_than_samples(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(), y=np.zeros(3, int)))


@case(2, "d.npz: y of shape (6, 2) does not give one label per sample")
def npz_two_dimensional_labels(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(), y=np.zeros((6, 2), int)))


@case(2, "d.npz: y[2] = -1 is not a class index")
def npz_negative_label(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(), y=np.array([0, 1, -1, 0, 1, 0])))


@case(2, "d.npz: y[1] = nan is not a class index")
def npz_nan_label(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(), y=np.array([0, np.nan, 1, 0, 1, 0])))


@case(2, "d.npz: y holds <U3 values, not class indices")
def npz_string_labels(k):
    return emulate_with(k, k.npz("d.npz", x=spikes(), y=np.array(["cat"] * 6)))


@case(2, "d.npz: declares arrays of 27.9 GiB (largest: 'x', 1,000,000 x 10,000 x 3 bool")
def npz_declaring_28_gib_of_spikes(k):
    return emulate_with(k, k.zip("d.npz", {"x.npy": huge_npy_member((1_000_000, 10_000, 3))}))


@case(2, "--samples must be at least 1, got 0")
def npz_zero_samples_requested(k):
    return [*emulate_with(k, k.npz("d.npz", x=spikes())), "--samples", "0"]


# ------------------------------------------------------------------------------ .toml profiles
@case(2, "hardware profile chip.toml: missing key chip; accepted keys at the top level")
def toml_empty(k):
    return compile_with_profile(k, k.write("chip.toml", b""))


@case(2, "hardware profile chip.toml: not valid TOML")
def toml_random_bytes(k):
    return compile_with_profile(k, k.write("chip.toml", np.random.default_rng(5).bytes(512)))


@case(2, "hardware profile chip.toml: not valid TOML")
def toml_holding_json(k):
    return compile_with_profile(k, k.write("chip.toml", json.dumps({"chip": {"name": "x"}})))


@case(2, "hardware profile chip.toml: not valid TOML")
def toml_truncated(k):
    text = (profiles_dir() / "loihi2.toml").read_text()
    cut = text.index("=", len(text) // 2) + 1  # inside a key = value line: a syntax error
    return compile_with_profile(k, k.write("chip.toml", text[:cut]))


@case(
    2,
    "hardware profile chip.toml: [chip].cores_per_chip = 1,000,000,000,000,000,000 is outside "
    "the accepted range 1..1,048,576",
)
def toml_10_to_the_18_cores_per_chip(k):
    edits = {"chip.cores_per_chip": str(10**18)}
    return compile_with_profile(k, k.profile("chip.toml", edits))


@case(2, "hardware profile chip.toml: [core].max_neurons = -8,192 is outside the accepted range")
def toml_negative_neurons_per_core(k):
    return compile_with_profile(k, k.profile("chip.toml", {"core.max_neurons": "-8192"}))


@case(2, "hardware profile chip.toml: [core].memory_bytes = 0 is outside the accepted range 1..")
def toml_zero_memory(k):
    return compile_with_profile(k, k.profile("chip.toml", {"core.memory_bytes": "0"}))


@case(2, "hardware profile chip.toml: [numerics].state_bits = 100 is outside the accepted range")
def toml_100_bit_state(k):
    return compile_with_profile(k, k.profile("chip.toml", {"numerics.state_bits": "100"}))


@case(2, "hardware profile chip.toml: [estimates].spike_pj = nan is not a finite number")
def toml_nan_energy(k):
    return compile_with_profile(k, k.profile("chip.toml", {"estimates.spike_pj": "nan"}))


@case(2, "hardware profile chip.toml: [estimates].synaptic_op_pj = inf is not a finite number")
def toml_infinite_energy(k):
    return compile_with_profile(k, k.profile("chip.toml", {"estimates.synaptic_op_pj": "inf"}))


@case(2, "hardware profile chip.toml: [numerics].bias_exp_min = 5 is greater than")
def toml_exponent_range_upside_down(k):
    edits = {"numerics.bias_exp_min": "5", "numerics.bias_exp_max": "2"}
    return compile_with_profile(k, k.profile("chip.toml", edits))


@case(2, "hardware profile chip.toml: [core].max_neurons must be an integer")
def toml_fractional_neurons(k):
    return compile_with_profile(k, k.profile("chip.toml", {"core.max_neurons": "8192.5"}))


@case(2, "hardware profile chip.toml: [neurons].reset_modes: 'sideways' is not accepted")
def toml_unknown_reset_mode(k):
    return compile_with_profile(k, k.profile("chip.toml", {"neurons.reset_modes": '["sideways"]'}))


@case(2, "hardware profile chip.toml: [neurons].current_drives: an empty list is not accepted")
def toml_no_current_drive(k):
    return compile_with_profile(k, k.profile("chip.toml", {"neurons.current_drives": "[]"}))


@case(2, "hardware profile chip.toml: [chip] must be a table")
def toml_section_that_is_a_number(k):
    text = (profiles_dir() / "loihi2.toml").read_text()
    start, end = text.index("[chip]"), text.index("[core]")
    text = text[:start] + text[end:]
    text = text.replace("schema_version = 1", "schema_version = 1\nchip = 5", 1)
    return compile_with_profile(k, k.write("chip.toml", text))


@case(2, "hardware profile chip.toml: [chip].arithmetic 'quantum' is not implemented")
def toml_unknown_arithmetic(k):
    return compile_with_profile(k, k.profile("chip.toml", {"chip.arithmetic": '"quantum"'}))


@case(2, "hardware profile chip.toml: schema_version '1' is not supported")
def toml_schema_version_as_text(k):
    text = (
        (profiles_dir() / "loihi2.toml")
        .read_text()
        .replace("schema_version = 1", 'schema_version = "1"', 1)
    )
    return compile_with_profile(k, k.write("chip.toml", text))


@case(2, "hardware profile chip.toml: [numerics].rounding 'sideways' not in")
def toml_unknown_rounding(k):
    edits = {"numerics.rounding": '"sideways"'}
    return compile_with_profile(k, k.profile("chip.toml", edits, target="fixedpoint"))


@case(2, "hardware profile chip.toml: [numerics].accum_frac_bits = 16 is outside")
def toml_spinnaker_format_not_implemented(k):
    edits = {"numerics.accum_frac_bits": "16"}
    return compile_with_profile(k, k.profile("chip.toml", edits, target="spinnaker1"))


@case(2, "hardware profile chip.toml: [learning].trace_bits = 0 is outside the accepted range")
def toml_learning_engine_without_trace_bits(k):
    k.profile("chip.toml", {"learning.trace_bits": "0"})
    return ["rules", "pair_stdp", "--profile", "chip.toml", "-o", "out"]


@case(2, "hardware profile chip.toml: not valid TOML")
def toml_given_to_qat(k):
    k.pt("m.pt", checkpoint())
    k.write("chip.toml", "[chip\n")
    return ["qat", "m.pt", "--profile", "chip.toml", "-o", "out.pt", "--epochs", "1"]


@case(2, "--chips must be in 1..1,048,576, got 1,000,000,000,000,000,000")
def toml_10_to_the_18_chips(k):
    k.nir("ok.nir", lif_graph())
    return ["compile", "ok.nir", "--dt", "1e-3", "--chips", str(10**18), "-o", "out"]


@case(2, "hardware profile missing.toml does not exist")
def toml_missing(k):
    return compile_with_profile(k, "missing.toml")


# ------------------------------------------------------------------------- artifact folders
def emulate_art(k, art="art"):
    k.npz("d.npz", x=spikes())
    return ["emulate", art, "--data", "d.npz"]


@case(2, "artifact folder gone does not exist")
def art_missing(k):
    return ["emulate", "gone", "--data", "digits"]


@case(2, "d.npz is not an snn-deploy artifact folder (it is a file)")
def art_that_is_a_file(k):
    k.npz("d.npz", x=spikes())
    return ["emulate", "d.npz", "--data", "d.npz"]


@case(2, "art is not an snn-deploy artifact folder (no manifest.json)")
def art_without_manifest(k):
    k.art()
    (k.path("art") / "manifest.json").unlink()
    return emulate_art(k)


@case(2, "manifest.json: damaged manifest")
def art_manifest_not_json(k):
    k.art()
    k.write("art/manifest.json", b'{"format": "snn-deploy/artifact", "files": {')
    return emulate_art(k)


@case(2, "manifest.json: damaged manifest (not UTF-8 text)")
def art_manifest_random_bytes(k):
    k.art()
    k.write("art/manifest.json", np.random.default_rng(6).bytes(300))
    return emulate_art(k)


@case(2, "manifest.json: not the manifest of a compiled model (format 'list'")
def art_manifest_a_list(k):
    k.art()
    k.write("art/manifest.json", "[1, 2, 3]")
    return ["report", "art"]


@case(2, "manifest.json: damaged manifest (its 'profile' path and chips")
def art_manifest_without_profile(k):
    k.art()
    k.manifest("art", lambda m: m.pop("profile"))
    return emulate_art(k)


@case(2, "manifest.json: damaged manifest")
def art_manifest_with_chips_as_text(k):
    k.art()
    k.manifest("art", lambda m: m["profile"].__setitem__("chips", "many"))
    return ["export", "art", "-o", "int.nir"]


@case(2, "art: manifest.json records no sha256 of network.npz")
def art_manifest_without_hashes(k):
    k.art()
    k.manifest("art", lambda m: m["files"].pop("network.npz"))
    return emulate_art(k)


@case(2, "art: network.npz does not match manifest.json")
def art_network_changed_after_compile(k):
    k.art()
    qnet = api.load_artifacts(k.path("art"))[3]
    w = np.array(qnet.projections[0].weight)
    w[0, 0] += 1
    proj = dataclasses.replace(qnet.projections[0], weight=w)
    dataclasses.replace(qnet, projections=(proj,)).save(k.path("art") / "network.npz")
    return emulate_art(k)


@case(2, "art: graph.nir does not match manifest.json")
def art_graph_changed_after_compile(k):
    k.art()
    nir.write(k.path("art") / "graph.nir", lif_graph(np.full((N_OUT, N_IN), 0.7)))
    return ["export", "art", "-o", "int.nir"]


@case(2, "art: mapping.json does not match manifest.json")
def art_mapping_changed_after_compile(k):
    k.art()
    k.write("art/mapping.json", "{}")
    return emulate_art(k)


@case(2, "art: report.json does not match manifest.json")
def art_report_changed_after_compile(k):
    k.art()
    k.write("art/report.json", '{"format": "snn-deploy/compile-report"}')
    return ["report", "art"]


@case(2, "art: emulation.json does not match manifest.json")
def art_emulation_record_damaged(k):
    k.art()
    k.write("art/emulation.json", "[]")
    k.manifest("art", lambda m: m["files"].__setitem__("emulation.json", "0" * 64))
    return ["report", "art"]


@case(2, "art: network.npz is missing")
def art_network_deleted(k):
    k.art()
    (k.path("art") / "network.npz").unlink()
    return emulate_art(k)


@case(2, "hardware profile /nonexistent/chip.toml does not exist")
def art_profile_gone(k):
    k.art()
    k.manifest("art", lambda m: m["profile"].__setitem__("path", "/nonexistent/chip.toml"))
    return emulate_art(k)


@case(2, "art: the arithmetic of profile")
def art_profile_arithmetic_changed(k):
    k.art()
    k.manifest("art", lambda m: m["profile"].__setitem__("numerics_sha256", "0" * 64))
    return emulate_art(k)


@case(2, "network.npz: not an snn-deploy integer network")
def art_network_replaced_by_random_bytes_and_rehashed(k):
    k.art()
    k.replace_in_art("art", "network.npz", np.random.default_rng(7).bytes(999), rehash=True)
    return emulate_art(k)


@case(2, "network.npz: not an snn-deploy integer network")
def art_network_header_gutted_and_rehashed(k):
    k.art()
    with np.load(k.bases["art"] / "network.npz") as z:
        real = json.loads(bytes(z["header"]).decode())
    header = {"format": real["format"], "version": real["version"]}
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8))
    k.replace_in_art("art", "network.npz", buf.getvalue(), rehash=True)
    return emulate_art(k)


@case(2, "graph.nir: declares arrays of 37.3 GiB")
def art_graph_declaring_37_gib_and_rehashed(k):
    k.art()

    def edit(f):
        g = f["node/nodes/fc"]
        del g["weight"]
        g.create_dataset("weight", shape=(200_000, 50_000), dtype="float32", chunks=(500, 500))

    k.h5("huge.nir", edit)
    k.replace_in_art("art", "graph.nir", k.path("huge.nir").read_bytes(), rehash=True)
    return emulate_art(k)


@case(2, "rules/manifest.json: not the manifest of a compiled model")
def art_learning_rules_folder(k):
    shutil.copytree(k.bases["rules"], k.path("rules"))
    return emulate_art(k, "rules")


# ----------------------------------------------------------- option values and output paths
@case(2, "--calibrate-percentile must be in (0, 100], got 150")
def opt_percentile_above_100(k):
    k.nir("ok.nir", lif_graph())
    k.npz("d.npz", x=spikes())
    argv = ["compile", "ok.nir", "--dt", "1e-3", "--calibrate", "d.npz", "-o", "out"]
    return [*argv, "--calibrate-percentile", "150"]


@case(2, "--weight-bits 0 is outside 1..8 for Intel Loihi 2")
def opt_zero_weight_bits(k):
    return [*compile_nir(k, k.nir("g.nir", lif_graph())), "--weight-bits", "0"]


@case(2, "--steps must be at least 1, got 0")
def opt_zero_steps(k):
    return [*compile_onnx(k, k.write("m.onnx", onnx_bytes())), "--steps", "0"]


@case(2, "--seed must be in 0..2**32-1, got 99999999999999999999")
def opt_seed_beyond_64_bits(k):
    return ["train", "digits", "-o", "m.pt", "--seed", "99999999999999999999"]


@case(2, "output path")
def out_through_a_file(k):
    k.nir("g.nir", lif_graph())
    return ["compile", "g.nir", "--dt", "1e-3", "-o", "g.nir/out"]


@case(2, "output path folder is a folder; give the file to write")
def out_export_onto_a_folder(k):
    k.path("folder").mkdir()
    return ["export", k.art(), "-o", "folder"]


@case(2, "--json missing/summary.json is in a folder that does not exist (missing)")
def out_json_in_a_missing_folder(k):
    k.npz("d.npz", x=spikes())
    return ["emulate", k.art(), "--data", "d.npz", "--json", "missing/summary.json"]


# ------------------------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict:
    """Valid files that the cases break: a checkpoint, a NIR graph, a compiled folder."""
    d = tmp_path_factory.mktemp("bases")
    torch.save(checkpoint(), d / "m.pt")
    nir.write(d / "g.nir", lif_graph())
    api.compile(d / "g.nir", "loihi2", d / "art", dt=1e-3)
    api.emit_rules(["pair_stdp"], "loihi2", d / "rules")
    return {"pt": d / "m.pt", "nir": d / "g.nir", "art": d / "art", "rules": d / "rules"}


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root) + "/"] = ""
        for name in filenames:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


@pytest.fixture
def cli(tmp_path, monkeypatch, capfd, tmp_path_factory):
    """Runs ``main`` in ``tmp_path`` with 16 GiB of memory available, whatever the machine has;
    internal-error tracebacks go to a folder of their own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sizes, "available_memory_bytes", lambda: 16 * GIB)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("crash")))
    monkeypatch.delenv("SNN_DEPLOY_DEBUG", raising=False)

    def run(argv):
        capfd.readouterr()
        code = main(argv)
        out, err = capfd.readouterr()
        return code, out, err

    return run


def assert_one_error(code: int, err: str, expected_code: int, match: str) -> None:
    lines = err.rstrip("\n").split("\n")
    assert "Traceback" not in err, err
    assert not err.startswith("internal error"), err
    assert code != INTERNAL_ERROR_EXIT, err
    assert code == expected_code, f"exit code {code}, expected {expected_code}: {err}"
    assert lines[0].startswith("error: "), err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  hint: ")), err
    assert match in lines[0], f"{match!r} not in {lines[0]!r}"


@pytest.mark.parametrize("build, code, match", CASES)
def test_bad_input_gets_one_line_and_leaves_nothing(build, code, match, bases, tmp_path, cli):
    argv = build(Kit(tmp_path, bases))
    before = snapshot(tmp_path)
    got, out, err = cli(argv)
    assert_one_error(got, err, code, match)
    assert "this must never run" not in out + err
    assert snapshot(tmp_path) == before, "the command created or changed files"


def test_the_corpus_bases_are_valid(bases, tmp_path, cli):
    """The files the cases break compile and emulate: each case fails by what it breaks."""
    kit = Kit(tmp_path, bases)
    shutil.copy(bases["pt"], tmp_path / "m.pt")
    shutil.copy(bases["nir"], tmp_path / "g.nir")
    kit.write("m.onnx", onnx_bytes())
    for argv in (
        compile_pt(kit, "m.pt"),
        compile_nir(kit, "g.nir"),
        compile_onnx(kit, "m.onnx"),
        compile_with_profile(kit, kit.profile("chip.toml", {"chip.cores_per_chip": "64"})),
        emulate_with(kit, kit.npz("d.npz", x=spikes(), y=np.arange(6) % 2)),
        ["report", "art"],
        ["export", "art", "-o", "int.nir"],
    ):
        code, out, err = cli(argv)
        assert code == 0, (argv, err)
        shutil.rmtree(tmp_path / "out", ignore_errors=True)


def test_emulate_keeps_the_manifest_true(bases, tmp_path, cli):
    """emulate rewrites emulation.json and the reports and records their new sha256, so the
    folder still passes its own checks afterwards."""
    kit = Kit(tmp_path, bases)
    assert cli(emulate_with(kit, kit.npz("d.npz", x=spikes())))[0] == 0
    manifest = json.loads((tmp_path / "art" / "manifest.json").read_text())
    for name in ("emulation.json", "report.md", "report.html", "network.npz"):
        digest = hashlib.sha256((tmp_path / "art" / name).read_bytes()).hexdigest()
        assert manifest["files"][name] == digest, name
    code, _, err = cli(["report", "art"])
    assert code == 0, err


# ------------------------------------------------------------------ mutations of valid files
MUTATIONS_PER_KIND = 12


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """A few bytes overwritten at random places, sometimes cut short."""
    b = bytearray(data)
    for _ in range(int(rng.choice([1, 2, 4, 16]))):
        b[int(rng.integers(len(b)))] = int(rng.integers(256))
    if rng.random() < 0.2:
        b = b[: int(rng.integers(1, len(b)))]
    return bytes(b)


def mutated_argv(kind: str, k: Kit, rng: np.random.Generator) -> list[str]:
    if kind == "pt":
        return compile_pt(k, k.write("f.pt", mutate(k.base("pt"), rng)))
    if kind == "nir":
        return compile_nir(k, k.write("f.nir", mutate(k.base("nir"), rng)))
    if kind == "onnx":
        return compile_onnx(k, k.write("f.onnx", mutate(onnx_bytes(), rng)))
    if kind == "npz":
        k.npz("valid.npz", x=spikes(), y=np.arange(6) % 2)
        return emulate_with(k, k.write("f.npz", mutate(k.path("valid.npz").read_bytes(), rng)))
    if kind == "toml":
        text = (profiles_dir() / "loihi2.toml").read_text().encode()
        return compile_with_profile(k, k.write("c.toml", mutate(text, rng)))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["pt", "nir", "onnx", "npz", "toml"])
def test_mutated_files_never_reach_the_guard(kind, bases, tmp_path, cli):
    """Valid files with bytes overwritten (seeded): each run either succeeds or ends in
    snn-deploy's own error lines, never in the internal-error guard, and a failed run leaves
    its folder as it found it. (Mutating files this way found the HDF5, zip, ONNX and
    checkpoint classes of the corpus above.)"""
    rng = np.random.default_rng(13)
    for i in range(MUTATIONS_PER_KIND):
        d = tmp_path / str(i)
        d.mkdir()
        os.chdir(d)
        argv = mutated_argv(kind, Kit(d, bases), rng)
        before = snapshot(d)
        code, _, err = cli(argv)
        if code == 0:
            continue
        lines = err.rstrip("\n").split("\n")
        assert code != INTERNAL_ERROR_EXIT and "Traceback" not in err, (i, err)
        assert all(x.startswith(("error: ", "  hint: ")) for x in lines), (i, err)
        assert code == 4 or len(lines) <= 2, (i, err)  # a ResourceError lists every violation
        assert snapshot(d) == before, (i, "the failed command created or changed files")


# --------------------------------------------------------------- real processes, real stderr
SUBPROCESS_CASES = (
    "pt_plain_text",
    "pt_pickle_that_runs_code",
    "npz_zero_samples",
    "npz_fewer_labels_than_samples",
    "toml_10_to_the_18_cores_per_chip",
    "art_network_changed_after_compile",
)


def run_process(argv: list[str], cwd: Path, inject: str | None = None, debug: bool = False):
    """``snn-deploy ARGV`` in a new interpreter, internal-error files going to ``cwd/crash``;
    with ``inject``, that code runs first (it may replace an api function)."""
    env = {k: v for k, v in os.environ.items() if k != "SNN_DEPLOY_DEBUG"}
    env["TMPDIR"] = str(cwd / "crash")
    if debug:
        env["SNN_DEPLOY_DEBUG"] = "1"
    (cwd / "crash").mkdir(exist_ok=True)
    run_cli = "import sys; from snn_deploy.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", f"{inject or ''}\n{run_cli}", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_in_a_real_process(name, bases, tmp_path):
    """The classes found by trying the CLI, run as a user runs them: stderr holds the error and
    nothing else (no traceback, no warning of a library underneath)."""
    build, code, match = next(p.values for p in CASES if p.id == name)
    argv = build(Kit(tmp_path, bases))
    before = snapshot(tmp_path)
    proc = run_process(argv, tmp_path)
    assert_one_error(proc.returncode, proc.stderr, code, match)
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("crash")} == before


def test_a_nir_file_declaring_terabytes_in_a_real_process(bases, tmp_path):
    """Declared sizes are checked against the memory this machine really has: 2,000,000 x
    500,000 float32 (3.6 TiB) is refused before anything is allocated."""

    def edit(f):
        g = f["node/nodes/fc"]
        del g["weight"]
        g.create_dataset("weight", shape=(2_000_000, 500_000), dtype="float32", chunks=(500, 500))

    Kit(tmp_path, bases).h5("g.nir", edit)
    proc = run_process(compile_nir(None, "g.nir"), tmp_path)
    match = "g.nir: declares arrays of 3,725.3 GiB (largest: 'node/nodes/fc/weight'"
    assert_one_error(proc.returncode, proc.stderr, 2, match)
    assert "of memory available; not read" in proc.stderr
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------- the last line of defence
def _boom(*args, **kwargs):
    raise ZeroDivisionError("boom")


def test_an_unexpected_exception_is_one_line_naming_the_saved_traceback(
    bases, tmp_path, cli, monkeypatch
):
    monkeypatch.setattr(api, "emulate", _boom)
    kit = Kit(tmp_path, bases)
    code, out, err = cli(emulate_with(kit, kit.npz("d.npz", x=spikes())))
    assert code == INTERNAL_ERROR_EXIT == 70
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("internal error: ZeroDivisionError: boom (a bug in snn-deploy")
    assert "please report it" in lines[0] and "--debug" in lines[0]
    saved = Path(re.search(r"traceback saved to (\S+);", lines[0]).group(1))
    text = saved.read_text()
    assert text.startswith("command: snn-deploy emulate art --data d.npz")
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError: boom" in text
    assert "_boom" in text  # the frame that raised


def test_a_path_the_file_system_refuses_is_an_error_not_a_bug(tmp_path, cli, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/srv/readonly/report.md")

    monkeypatch.setattr(api, "rerender_report", refuse)
    code, _, err = cli(["report", "anything"])
    assert_one_error(code, err, 2, "error: /srv/readonly/report.md: Permission denied")


@pytest.mark.parametrize("switch", ["flag", "flag after the command", "env"])
def test_the_debug_switch_lets_it_raise(switch, tmp_path, cli, monkeypatch):
    monkeypatch.setattr(api, "rerender_report", _boom)
    argv = ["report", "anything"]
    if switch == "flag":
        argv = ["--debug", *argv]
    elif switch == "flag after the command":
        argv = [*argv, "--debug"]
    else:
        monkeypatch.setenv("SNN_DEPLOY_DEBUG", "1")
    with pytest.raises(ZeroDivisionError, match="boom"):
        main(argv)


def test_the_guard_in_a_real_process(tmp_path):
    """No raw traceback reaches the terminal and the exit code is the guard's own;
    SNN_DEPLOY_DEBUG=1 shows the traceback."""
    inject = "import snn_deploy.api as a; a.rerender_report = lambda *x, **k: {}['missing key']"
    proc = run_process(["report", "x"], tmp_path, inject)
    assert proc.returncode == INTERNAL_ERROR_EXIT, proc.stderr
    assert proc.stderr.startswith("internal error: KeyError: 'missing key'"), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    saved = list((tmp_path / "crash").glob("snn-deploy-internal-error-*.txt"))
    assert len(saved) == 1 and "KeyError: 'missing key'" in saved[0].read_text()
    assert str(saved[0]) in proc.stderr
    debug = run_process(["report", "x"], tmp_path, inject, debug=True)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
