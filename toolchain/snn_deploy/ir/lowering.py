"""Linear NIR operators as weight matrices over flattened (C-order) vectors.

Every linear node between two layers of neurons (``Linear``, ``Affine``, ``Scale``, ``Conv1d``,
``Conv2d``, ``SumPool2d``, ``AvgPool2d``, ``Flatten``) is a matrix ``M`` (output size x input
size) and a bias ``b``: ``y = M x + b``. Convolutions and pooling become CSR matrices whose
non-zeros are exactly the synapses a chip must store; chains of such nodes are multiplied into one
projection by :mod:`snn_deploy.ir.normalize`. Shapes never include batch or time.

Conventions (NIR 1.0.8, ../shared/reference/nir.md section 2):

- ``Conv``: PyTorch cross-correlation, ``N_out = floor((N + 2p - d(k-1) - 1)/s + 1)``; ``'valid'``
  is p = 0; ``'same'`` pads ``d(k-1)`` in total (left ``//2``) and is refused with stride > 1,
  where NIR's shape rule (``N_out = N``) and PyTorch disagree.
- ``SumPool2d``/``AvgPool2d``: the same floor formula, zero padding; ``AvgPool2d`` divides by the
  kernel area, padding included (PyTorch's ``count_include_pad=True``; NIR leaves it unsaid).
- ``Flatten``: the identity on the flat vector; only the shape changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nir
import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import ModelError, UnsupportedError

LINEAR_NODES = (
    nir.Linear,
    nir.Affine,
    nir.Scale,
    nir.Conv1d,
    nir.Conv2d,
    nir.SumPool2d,
    nir.AvgPool2d,
    nir.Flatten,
)
DENSE_THRESHOLD = 0.25  # above this fraction of non-zeros a matrix is kept dense


@dataclass(frozen=True)
class LinearOp:
    """``y = matrix @ x + bias`` on flat vectors; ``out_shape`` is the unflattened output."""

    matrix: object  # np.ndarray or sp.csr_matrix
    bias: np.ndarray
    out_shape: tuple[int, ...]


def compact(m):
    """Dense when most entries are non-zero, CSR otherwise."""
    if sp.issparse(m):
        return m.toarray() if m.nnz > DENSE_THRESHOLD * m.shape[0] * m.shape[1] else m.tocsr()
    m = np.asarray(m)
    nnz = np.count_nonzero(m)
    return sp.csr_matrix(m) if nnz < DENSE_THRESHOLD * m.size else m


def _pair(v, name: str, node: str) -> tuple[int, int]:
    a = np.asarray(v).astype(np.int64).ravel()
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size == 2:
        return int(a[0]), int(a[1])
    raise ModelError(f"node '{node}': {name} must be an int or a pair, got {v!r}")


def _out_len(n: int, k: int, s: int, p: int, d: int, node: str) -> int:
    out = (n + 2 * p - d * (k - 1) - 1) // s + 1
    if out < 1:
        raise ModelError(
            f"node '{node}': kernel {k} (dilation {d}) does not fit input {n} with padding {p}"
        )
    return out


def _padding(pad, k: tuple[int, ...], d: tuple[int, ...], s: tuple[int, ...], node: str):
    """(left, right) padding per spatial dim."""
    if isinstance(pad, (bytes, np.bytes_)):
        pad = pad.decode()
    if isinstance(pad, str):
        if pad == "valid":
            return [(0, 0)] * len(k)
        if pad == "same":
            if any(x != 1 for x in s):
                raise UnsupportedError(
                    f"node '{node}': padding 'same' with stride {s} is ambiguous in NIR (its shape "
                    "rule keeps the size, PyTorch refuses it)",
                    hint="export the convolution with explicit integer padding",
                )
            total = [di * (ki - 1) for ki, di in zip(k, d, strict=True)]
            return [(t // 2, t - t // 2) for t in total]
        raise ModelError(f"node '{node}': unknown padding {pad!r}")
    p = np.asarray(pad).astype(np.int64).ravel()
    p = np.repeat(p, len(k)) if p.size == 1 else p
    return [(int(x), int(x)) for x in p]


def conv_matrix(
    weight: np.ndarray, in_shape: tuple[int, ...], stride, padding, dilation, groups: int, node: str
):
    """CSR matrix of an N-d convolution (N = 1 or 2) on a (C, *spatial) input."""
    w = np.asarray(weight, dtype=np.float64)
    nd = w.ndim - 2
    c_out, c_in_g = w.shape[:2]
    k = w.shape[2:]
    if len(in_shape) != nd + 1:
        raise ModelError(
            f"node '{node}': a {nd}-d convolution needs a (channels, {nd} spatial) "
            f"input, got shape {in_shape}"
        )
    c_in, spatial = in_shape[0], in_shape[1:]
    groups = int(groups)
    if c_in != c_in_g * groups or c_out % groups:
        raise ModelError(
            f"node '{node}': weight {w.shape} with groups={groups} does not fit "
            f"{c_in} input channels"
        )
    s = tuple(_pair(stride, "stride", node)[:nd]) if nd == 2 else (int(np.ravel(stride)[0]),)
    dil = (
        tuple(_pair(dilation, "dilation", node)[:nd]) if nd == 2 else (int(np.ravel(dilation)[0]),)
    )
    pads = _padding(padding, k, dil, s, node)
    out_sp = tuple(
        (spatial[i] + pads[i][0] + pads[i][1] - dil[i] * (k[i] - 1) - 1) // s[i] + 1
        for i in range(nd)
    )
    if any(o < 1 for o in out_sp):
        raise ModelError(f"node '{node}': kernel {k} does not fit input {spatial}")
    # index grids: (c_out, *out_sp, c_in_g, *k)
    grids = np.meshgrid(
        np.arange(c_out),
        *[np.arange(o) for o in out_sp],
        np.arange(c_in_g),
        *[np.arange(x) for x in k],
        indexing="ij",
    )
    co, outs, ci, ks = grids[0], grids[1 : 1 + nd], grids[1 + nd], grids[2 + nd :]
    group = co // (c_out // groups)
    ci_abs = group * c_in_g + ci
    pos = [outs[i] * s[i] - pads[i][0] + ks[i] * dil[i] for i in range(nd)]
    valid = np.ones(co.shape, bool)
    for i in range(nd):
        valid &= (pos[i] >= 0) & (pos[i] < spatial[i])
    row = co.copy()
    for i in range(nd):
        row = row * out_sp[i] + outs[i]
    col = ci_abs.copy()
    for i in range(nd):
        col = col * spatial[i] + np.where(valid, pos[i], 0)
    vals = w[(co, ci, *ks)]
    keep = valid & (vals != 0)
    n_out = c_out * math.prod(out_sp)
    n_in = c_in * math.prod(spatial)
    m = sp.csr_matrix((vals[keep], (row[keep], col[keep])), shape=(n_out, n_in))
    return m, (c_out, *out_sp)


def pool_matrix(in_shape: tuple[int, ...], kernel, stride, padding, average: bool, node: str):
    if len(in_shape) != 3:
        raise ModelError(f"node '{node}': 2-d pooling needs a (C, H, W) input, got {in_shape}")
    c, h, w = in_shape
    kh, kw = _pair(kernel, "kernel_size", node)
    sh, sw = _pair(stride, "stride", node) if stride is not None else (kh, kw)
    ph, pw = _pair(padding, "padding", node) if padding is not None else (0, 0)
    ho, wo = _out_len(h, kh, sh, ph, 1, node), _out_len(w, kw, sw, pw, 1, node)
    ch, oy, ox, ky, kx = np.meshgrid(
        np.arange(c), np.arange(ho), np.arange(wo), np.arange(kh), np.arange(kw), indexing="ij"
    )
    iy, ix = oy * sh - ph + ky, ox * sw - pw + kx
    valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    row = (ch * ho + oy) * wo + ox
    col = (ch * h + iy) * w + ix
    value = 1.0 / (kh * kw) if average else 1.0
    m = sp.csr_matrix(
        (np.full(int(valid.sum()), value), (row[valid], col[valid])), shape=(c * ho * wo, c * h * w)
    )
    return m, (c, ho, wo)


def lower(name: str, node, in_shape: tuple[int, ...] | None) -> LinearOp:
    """The matrix, bias and output shape of one linear node given its input shape."""
    if isinstance(node, (nir.Linear, nir.Affine)):
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2:
            raise UnsupportedError(
                f"node '{name}': weight of shape {w.shape}; only 2-d weights are supported"
            )
        n_in = w.shape[1]
        if in_shape is not None and math.prod(in_shape) != n_in:
            raise ModelError(
                f"node '{name}': weight {w.shape} expects {n_in} inputs, its input "
                f"has shape {in_shape} ({math.prod(in_shape)} values)"
            )
        bias = np.zeros(w.shape[0])
        if isinstance(node, nir.Affine):
            bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float64), (w.shape[0],)).copy()
        return LinearOp(compact(w), bias, (w.shape[0],))
    if in_shape is None:
        raise ModelError(
            f"node '{name}' ({type(node).__name__}): the shape of its input is unknown",
            hint="give the graph's Input node a shape",
        )
    n = math.prod(in_shape)
    if isinstance(node, nir.Scale):
        scale = np.broadcast_to(np.asarray(node.scale, dtype=np.float64), in_shape).ravel()
        return LinearOp(sp.diags(scale, format="csr"), np.zeros(n), in_shape)
    if isinstance(node, nir.Flatten):
        start, end = int(node.start_dim), int(node.end_dim)
        nd = len(in_shape)
        s, e = start % nd if nd else 0, end % nd if nd else 0
        out = in_shape[:s] + (math.prod(in_shape[s : e + 1]),) + in_shape[e + 1 :] if nd else ()
        return LinearOp(sp.identity(n, format="csr"), np.zeros(n), tuple(out))
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        m, out = conv_matrix(
            node.weight, in_shape, node.stride, node.padding, node.dilation, node.groups, name
        )
        bias = np.repeat(
            np.broadcast_to(np.asarray(node.bias, dtype=np.float64), (out[0],)), math.prod(out[1:])
        )
        return LinearOp(compact(m), bias, out)
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        m, out = pool_matrix(
            in_shape,
            node.kernel_size,
            node.stride,
            node.padding,
            isinstance(node, nir.AvgPool2d),
            name,
        )
        return LinearOp(m, np.zeros(m.shape[0]), out)
    raise UnsupportedError(f"node '{name}': {type(node).__name__} is not a linear operator")
