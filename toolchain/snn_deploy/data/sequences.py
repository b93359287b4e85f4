"""Offline temporal data sets, generated or shipped with scikit-learn; nothing is downloaded.

Every function returns a :class:`SequenceSplit` of sample-major arrays ``x`` ``(N, T, F)`` and
labels ``y`` ``(N,)``, deterministic given its seed.

- :func:`sequential_digits`: scikit-learn's 8x8 digits (the split of
  :func:`~snn_deploy.data.digits.load_digits_split`) read row by row (``T = 8``, 8 inputs: row
  ``t`` at step ``t``) or pixel by pixel (``T = 64``, 1 input, raster order), intensities in
  [0, 1] as input currents (float32). The sequential analogue of S-MNIST.
- :func:`randman`: the random-manifold spike-timing task of Zenke & Vogels (2021, "randman"):
  each class is a random smooth ``manifold_dim``-dimensional manifold embedded in
  ``num_units`` dimensions; a sample is a random point on it, and coordinate ``i`` is the
  spike time of input ``i`` (one spike per unit per sub-manifold). Generated with numpy from
  ``seed`` (an independent implementation of the published construction, not the authors'
  code, so its samples differ from theirs).
- :func:`temporal_xor`: two cues separated by a delay, each one bit shown by which of two
  channel groups fires; the label is their XOR, given after a silent recall period. It needs
  memory across the delay (recurrence or slow adaptation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_deploy.data.digits import load_digits_split
from snn_deploy.errors import ModelError

SEQUENTIAL_MODES = ("row", "pixel")


@dataclass(frozen=True)
class SequenceSplit:
    """Sample-major inputs ``(N, T, F)`` and labels ``(N,)``, train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_steps(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def num_inputs(self) -> int:
        return int(self.x_train.shape[2])


def sequential_digits(
    mode: str = "pixel", *, split_seed: int = 0, test_fraction: float = 0.2
) -> SequenceSplit:
    """Digits as sequences: ``row`` (T = 8, F = 8) or ``pixel`` (T = 64, F = 1)."""
    if mode not in SEQUENTIAL_MODES:
        raise ModelError(f"unknown mode {mode!r}; use one of {', '.join(SEQUENTIAL_MODES)}")
    split = load_digits_split(split_seed, test_fraction)
    shape = (-1, 8, 8) if mode == "row" else (-1, 64, 1)
    return SequenceSplit(
        split.x_train.reshape(shape).astype(np.float32),
        split.y_train,
        split.x_test.reshape(shape).astype(np.float32),
        split.y_test,
    )


def _manifold(rng, num_units: int, dim: int, alpha: float, prec: float = 1e-3):
    """Parameters of one random smooth map [0, 1]^dim -> R^num_units::

        f_i(u) = prod_d sum_{m < M} a_idm (m + 1)^-alpha sin(2 pi (m u_d b_idm + c_idm))

    with ``a, b, c`` uniform in [0, 1), ``a_id0 = 0`` (no constant term) and
    ``M = ceil(prec^(-1/alpha))`` frequencies; larger ``alpha``, smoother manifolds."""
    cutoff = int(np.ceil(prec ** (-1.0 / alpha)))
    params = rng.random((num_units, dim, 3, cutoff))
    params[:, :, 0, 0] = 0.0
    spect = 1.0 / (np.arange(cutoff) + 1.0) ** alpha
    return params, spect


def _evaluate_manifold(u: np.ndarray, params: np.ndarray, spect: np.ndarray) -> np.ndarray:
    """``f(u)`` for points ``u`` ``(n, dim)``: ``(n, num_units)``."""
    m = np.arange(params.shape[-1])
    amp, freq, phase = params[:, :, 0], params[:, :, 1], params[:, :, 2]  # (units, dim, M)
    # (n, units, dim, M)
    waves = np.sin(2.0 * np.pi * (m * u[:, None, :, None] * freq[None] + phase[None]))
    per_dim = np.sum(amp[None] * spect * waves, axis=-1)
    return np.prod(per_dim, axis=-1)


def randman(
    *,
    num_classes: int = 10,
    num_units: int = 50,
    num_steps: int = 50,
    manifold_dim: int = 1,
    alpha: float = 2.0,
    num_spikes: int = 1,
    samples_per_class: int = 200,
    step_frac: float = 0.8,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> SequenceSplit:
    """The random-manifold task (module docstring), bool spikes ``(N, num_steps, num_units)``.

    Per class and spike index a manifold is drawn; for each sample a point ``u`` uniform in
    ``[0, 1]^manifold_dim`` maps to ``f(u)``, standardized per unit to [0, 1] over the class's
    samples, and to the spike time ``floor(f * num_steps * step_frac)`` (clipped to the last
    step). Smaller ``alpha`` (rougher manifolds), larger ``manifold_dim`` and more classes make
    the task harder. Classes are balanced; the split is stratified.
    """
    for name, v in (
        ("num_classes", num_classes),
        ("num_units", num_units),
        ("num_steps", num_steps),
        ("manifold_dim", manifold_dim),
        ("num_spikes", num_spikes),
        ("samples_per_class", samples_per_class),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ModelError(f"{name} must be a positive integer, got {v!r}")
    if not alpha > 0 or not 0 < step_frac <= 1 or not 0 < test_fraction < 1:
        raise ModelError("need alpha > 0, 0 < step_frac <= 1 and 0 < test_fraction < 1")
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(num_classes):
        u = rng.random((samples_per_class, manifold_dim))
        times = []
        for _ in range(num_spikes):
            params, spect = _manifold(rng, num_units, manifold_dim, alpha)
            f = _evaluate_manifold(u, params, spect)
            lo, hi = f.min(axis=0), f.max(axis=0)
            f = (f - lo) / np.where(hi > lo, hi - lo, 1.0)
            times.append(np.minimum((f * num_steps * step_frac).astype(np.int64), num_steps - 1))
        spikes = np.zeros((samples_per_class, num_steps, num_units), dtype=bool)
        n_idx = np.arange(samples_per_class)[:, None]
        unit_idx = np.arange(num_units)[None, :]
        for t in times:
            spikes[n_idx, t, unit_idx] = True
        xs.append(spikes)
        ys.append(np.full(samples_per_class, k, dtype=np.int64))
    x, y = np.concatenate(xs), np.concatenate(ys)
    return _stratified_split(x, y, test_fraction, rng)


def temporal_xor(
    num_samples: int = 1000,
    *,
    channels: int = 10,
    cue_steps: int = 10,
    delay_steps: int = 20,
    recall_steps: int = 10,
    rate_on: float = 0.5,
    noise_rate: float = 0.01,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> SequenceSplit:
    """Temporal XOR (module docstring): inputs ``(N, T, 2 channels)`` bool, labels 0/1.

    Time line: cue 1 (``cue_steps``), ``delay_steps`` of silence, cue 2, ``recall_steps`` of
    silence: ``T = 2 cue_steps + delay_steps + recall_steps``. During a cue showing bit ``b``,
    channel group ``b`` (``channels`` inputs) fires with probability ``rate_on`` per step; every
    input also fires with ``noise_rate`` throughout. The label is ``b1 XOR b2``; bits are
    balanced over the four combinations.
    """
    if num_samples < 4:
        raise ModelError(f"num_samples must be at least 4, got {num_samples}")
    rng = np.random.default_rng(seed)
    steps = 2 * cue_steps + delay_steps + recall_steps
    bits = np.array([(a, b) for a in (0, 1) for b in (0, 1)])[np.arange(num_samples) % 4]
    x = rng.random((num_samples, steps, 2 * channels)) < noise_rate
    cue_windows = (range(0, cue_steps), range(cue_steps + delay_steps, 2 * cue_steps + delay_steps))
    for cue, window in enumerate(cue_windows):
        for t in window:
            fire = rng.random((num_samples, channels)) < rate_on
            for b in (0, 1):
                rows = bits[:, cue] == b
                x[rows, t, b * channels : (b + 1) * channels] |= fire[rows]
    y = (bits[:, 0] ^ bits[:, 1]).astype(np.int64)
    return _stratified_split(x, y, test_fraction, rng)


def _stratified_split(x, y, test_fraction, rng) -> SequenceSplit:
    test = np.zeros(len(y), dtype=bool)
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        test[idx[: int(round(test_fraction * len(idx)))]] = True
    train_idx = rng.permutation(np.flatnonzero(~test))
    test_idx = rng.permutation(np.flatnonzero(test))
    return SequenceSplit(x[train_idx], y[train_idx], x[test_idx], y[test_idx])
