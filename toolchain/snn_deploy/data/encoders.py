"""Spike encoders for analog data, and event-data binning. Nothing is downloaded.

Arrays are numpy and **sample-major**: static data ``x`` is ``(N, F)`` with values in [0, 1];
signals are ``(N, T, F)``; every encoder returns ``(N, T, F')``, bool spikes unless noted. The
training loops (:mod:`snn_deploy.train.algorithms`) make batches time-major.

- :func:`rate_encode`: ``s[n, t, f] ~ Bernoulli(max_rate * x[n, f])``, independent per step,
  seeded.
- :func:`latency_encode`: one spike per feature, stronger input earlier. ``linear``:
  ``t = round((1 - x) (T - 1))``; ``log`` (an RC neuron charging to ``x``, as snnTorch's
  ``spikegen.latency``): ``t = round(tau ln(x / (x - threshold)))``, clipped to ``T - 1``.
  Inputs ``x <= threshold`` never spike.
- :func:`delta_encode`: threshold crossings of a signal (send-on-delta, as a DVS pixel): with
  a reference ``r`` starting at ``x[:, 0]``, an ON spike when ``x[t] - r >= threshold``, an OFF
  spike when ``r - x[t] >= threshold``, and ``r <- x[t]`` after either. Output features: the ON
  channels, then (with ``off_spikes``) the OFF channels.
- :func:`direct_encode`: the analog value as an input current at every step (float32); the
  first layer does the encoding.
- :func:`bin_events` / :func:`load_events`: event data as ``(t, x, [y], p)`` arrays (a dict,
  an ``.npz`` file, or a structured array with those fields, as tonic writes them) binned into
  ``num_steps`` frames of event counts, features ordered ``(p, y, x)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_deploy.errors import InputFileError, ModelError


def _unit(x, what: str = "x", ndim: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != ndim:
        shape = "(samples, features)" if ndim == 2 else "(samples, steps, features)"
        raise ModelError(f"{what} must have shape {shape}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ModelError(f"{what} has NaN or infinite values")
    return x


def _steps(num_steps: int) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer) or num_steps < 1:
        raise ModelError(f"num_steps must be a positive integer, got {num_steps!r}")
    return int(num_steps)


def rate_encode(x, num_steps: int, *, max_rate: float = 1.0, seed: int = 0) -> np.ndarray:
    """Bernoulli spikes with probability ``max_rate * x`` per step (module docstring)."""
    x = np.clip(_unit(x), 0.0, 1.0)
    steps = _steps(num_steps)
    if not 0 <= max_rate <= 1:
        raise ModelError(f"max_rate must be in [0, 1], got {max_rate}")
    rng = np.random.default_rng(seed)
    return rng.random((x.shape[0], steps, x.shape[1])) < (max_rate * x)[:, None, :]


def latency_encode(
    x,
    num_steps: int,
    *,
    mode: str = "linear",
    tau: float = 5.0,
    threshold: float = 0.0,
) -> np.ndarray:
    """One spike per feature at its latency (module docstring)."""
    x = np.clip(_unit(x), 0.0, 1.0)
    steps = _steps(num_steps)
    fire = x > threshold
    if mode == "linear":
        t = np.rint((1.0 - x) * (steps - 1))
    elif mode == "log":
        if not tau > 0:
            raise ModelError(f"tau must be > 0, got {tau}")
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.rint(tau * np.log(np.where(fire, x / (x - threshold), 1.0)))
    else:
        raise ModelError(f"unknown latency mode {mode!r}; use 'linear' or 'log'")
    t = np.clip(t, 0, steps - 1).astype(np.int64)
    out = np.zeros((x.shape[0], steps, x.shape[1]), dtype=bool)
    n_idx, f_idx = np.nonzero(fire)
    out[n_idx, t[n_idx, f_idx], f_idx] = True
    return out


def delta_encode(signal, threshold: float, *, off_spikes: bool = True) -> np.ndarray:
    """ON/OFF threshold-crossing spikes of ``signal`` ``(N, T, F)`` (module docstring)."""
    x = _unit(signal, "signal", ndim=3)
    if not threshold > 0:
        raise ModelError(f"threshold must be > 0, got {threshold}")
    n, steps, f = x.shape
    on = np.zeros((n, steps, f), dtype=bool)
    off = np.zeros((n, steps, f), dtype=bool)
    ref = x[:, 0].copy()
    for t in range(steps):
        up = x[:, t] - ref >= threshold
        down = ref - x[:, t] >= threshold
        on[:, t], off[:, t] = up, down
        moved = up | down
        ref[moved] = x[:, t][moved]
    return np.concatenate([on, off], axis=2) if off_spikes else on


def direct_encode(x, num_steps: int) -> np.ndarray:
    """``x`` repeated at every step as a float32 current ``(N, T, F)``."""
    x = _unit(x)
    steps = _steps(num_steps)
    return np.repeat(x[:, None, :], steps, axis=1).astype(np.float32)


EVENT_FIELDS = ("t", "x", "y", "p")


def _event_arrays(events) -> dict[str, np.ndarray]:
    if isinstance(events, np.ndarray) and events.dtype.names:
        names = events.dtype.names
        return {k: np.asarray(events[k]) for k in EVENT_FIELDS if k in names}
    if isinstance(events, dict):
        return {k: np.asarray(events[k]) for k in EVENT_FIELDS if k in events}
    raise ModelError(
        f"events must be a dict or a structured array with fields t, x, [y], p; got "
        f"{type(events).__name__}"
    )


def bin_events(
    events,
    sensor_size: tuple[int, ...],
    num_steps: int,
    *,
    dt: float | None = None,
    t_start: float | None = None,
    num_polarities: int = 2,
    binary: bool = False,
) -> np.ndarray:
    """Event counts ``(num_steps, num_polarities * H * W)`` from events ``(t, x, [y], p)``.

    ``sensor_size`` is ``(W,)`` for 1-D sensors (cochlea channels; no ``y``) or ``(W, H)``.
    Step ``k`` collects events with ``t_start + k dt <= t < t_start + (k + 1) dt``; ``t_start``
    defaults to the first event and ``dt`` to the span divided by ``num_steps`` (so every event
    lands in a step); later events are dropped. ``binary`` turns counts into spikes.
    """
    ev = _event_arrays(events)
    steps = _steps(num_steps)
    missing = [k for k in ("t", "x", "p") if k not in ev]
    two_d = len(sensor_size) == 2
    if two_d and "y" not in ev:
        missing.append("y")
    if missing:
        raise ModelError(f"events have no {', '.join(missing)} field(s); need t, x, [y], p")
    if len(sensor_size) not in (1, 2) or any(int(s) < 1 for s in sensor_size):
        raise ModelError(f"sensor_size must be (W,) or (W, H) positive, got {sensor_size}")
    lengths = {k: len(v) for k, v in ev.items()}
    if len(set(lengths.values())) > 1:
        raise ModelError(f"event fields have different lengths: {lengths}")
    w = int(sensor_size[0])
    h = int(sensor_size[1]) if two_d else 1
    t = ev["t"].astype(np.float64)
    xs = ev["x"].astype(np.int64)
    ys = ev["y"].astype(np.int64) if two_d else np.zeros_like(xs)
    ps = ev["p"].astype(np.int64)
    for name, v, top in (("x", xs, w), ("y", ys, h), ("p", ps, num_polarities)):
        if len(v) and (v.min() < 0 or v.max() >= top):
            raise ModelError(f"event field {name} has values outside 0..{top - 1}")
    frames = np.zeros((steps, num_polarities * h * w), dtype=np.int64)
    if len(t) == 0:
        return frames.astype(bool) if binary else frames
    t0 = float(t.min()) if t_start is None else float(t_start)
    if dt is None:
        span = float(t.max()) - t0
        dt = span / steps if span > 0 else 1.0
        k = np.minimum(((t - t0) / dt).astype(np.int64), steps - 1)
    else:
        if not dt > 0:
            raise ModelError(f"dt must be > 0, got {dt}")
        k = np.floor((t - t0) / dt).astype(np.int64)
    keep = (k >= 0) & (k < steps)
    feature = (ps * h + ys) * w + xs
    np.add.at(frames, (k[keep], feature[keep]), 1)
    return frames > 0 if binary else frames


def load_events(path: str | Path) -> dict[str, np.ndarray]:
    """Event arrays from an ``.npz`` file with arrays ``t``, ``x``, [``y``], ``p`` or one
    structured array ``events`` with those fields."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if "events" in z.files:
                return _event_arrays(z["events"])
            return {k: z[k] for k in EVENT_FIELDS if k in z.files}
    except (OSError, ValueError) as exc:
        raise InputFileError(
            f"{path}: not an .npz file of events ({exc})",
            hint="save events with np.savez(path, t=..., x=..., y=..., p=...)",
        ) from None
