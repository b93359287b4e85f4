"""scikit-learn's digits (1,797 8x8 images, shipped inside the scikit-learn wheel), as spikes.

The split and the encoding are deterministic functions of their parameters, so ``train``,
``compile`` and ``emulate`` see exactly the same spike trains; the parameters travel with the
model (checkpoint ``"data"`` entry) and the compiled artifact (``manifest.json``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from snn_deploy.errors import ModelError

ENCODINGS = ("rate_regular", "rate_bernoulli", "latency")
MAX_STEPS = 1_000_000  # a recorded encoding longer than this is a damaged record, not a model


@dataclass(frozen=True)
class DigitsSplit:
    """Pixel intensities in [0, 1], shape (n, 64), and labels 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class EncodingSpec:
    """How a static image becomes a spike train: ``encoding`` over ``num_steps`` steps."""

    dataset: str = "digits"
    encoding: str = "rate_regular"
    num_steps: int = 20
    split_seed: int = 0
    test_fraction: float = 0.2
    max_rate: float = 1.0
    encoding_seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EncodingSpec:
        """The spec a checkpoint or manifest records, refused with ``ModelError`` if a field is
        unknown, of the wrong type or out of range."""
        if not isinstance(d, dict):
            raise ModelError(f"data encoding must be a table of fields, got {type(d).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"unknown data-encoding fields {sorted(unknown)}")
        spec = cls(**d)
        problem = spec._problem()
        if problem:
            raise ModelError(
                f"data encoding: {problem}", hint="re-save the model with to_checkpoint()"
            )
        return spec

    def _problem(self) -> str | None:
        def integer(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def number(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not isinstance(self.dataset, str):
            return f"dataset must be a name, got {self.dataset!r}"
        if self.encoding not in ENCODINGS:
            return f"encoding {self.encoding!r} is not one of {', '.join(ENCODINGS)}"
        if not integer(self.num_steps) or not 1 <= self.num_steps <= MAX_STEPS:
            return f"num_steps must be an integer in 1..{MAX_STEPS:,}, got {self.num_steps!r}"
        for name in ("split_seed", "encoding_seed"):
            v = getattr(self, name)
            if not integer(v) or not 0 <= v < 2**32:
                return f"{name} must be an integer in 0..2**32-1, got {v!r}"
        if not number(self.test_fraction) or not 0 < self.test_fraction < 1:
            return f"test_fraction must be in (0, 1), got {self.test_fraction!r}"
        if not number(self.max_rate) or not 0 < self.max_rate <= 1:
            return f"max_rate must be in (0, 1], got {self.max_rate!r}"
        return None


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> DigitsSplit:
    """Stratified train/test split of ``sklearn.datasets.load_digits`` (no download)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, d.target, test_size=test_fraction, random_state=seed, stratify=d.target
    )
    return DigitsSplit(x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64))


def encode(x: np.ndarray, spec: EncodingSpec) -> np.ndarray:
    """Intensities (n, features) in [0, 1] -> spikes (n, num_steps, features) bool.

    - ``rate_regular``: deterministic rate code; a feature of intensity p spikes at step t when
      ``floor((t + 1) * r) > floor(t * r)`` with ``r = p * max_rate``, i.e. ``floor(T r)`` evenly
      spaced spikes.
    - ``rate_bernoulli``: independent spikes with probability ``r`` (seeded by ``encoding_seed``).
    - ``latency``: one spike at step ``round((1 - p) * (T - 1))``; zero intensity never spikes.
    """
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    steps = spec.num_steps
    if spec.encoding == "rate_regular":
        r = x * spec.max_rate
        t = np.arange(steps + 1, dtype=np.float64)[None, :, None]
        counts = np.floor(t * r[:, None, :] + 1e-9)
        return np.diff(counts, axis=1) > 0
    if spec.encoding == "rate_bernoulli":
        rng = np.random.default_rng(spec.encoding_seed)
        return rng.random((x.shape[0], steps, x.shape[1])) < (x * spec.max_rate)[:, None, :]
    if spec.encoding == "latency":
        out = np.zeros((x.shape[0], steps, x.shape[1]), dtype=bool)
        t = np.rint((1.0 - x) * (steps - 1)).astype(int)
        n_idx, f_idx = np.nonzero(x > 0)
        out[n_idx, t[n_idx, f_idx], f_idx] = True
        return out
    raise ModelError(f"unknown encoding {spec.encoding!r}; known: {', '.join(ENCODINGS)}")
