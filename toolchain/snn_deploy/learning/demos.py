"""Demonstrations of on-chip learning, run in the emulator's fixed-point learning engine.

- :func:`rstdp_demo`: reward-modulated STDP. Two input patterns, two output neurons; a reward
  (positive when the neuron that answered first is the one assigned to the pattern, negative
  otherwise) reaches the output neurons as a graded third factor. The network learns which
  output answers which pattern.
- :func:`eprop_demo`: e-prop (Bellec et al. 2020) on the random-manifold task (Zenke & Vogels
  2021, :func:`snn_deploy.data.sequences.randman`), from random weights: input -> LIF hidden
  layer (plastic, :func:`~snn_deploy.learning.library.eprop_lif`) -> leaky readout (plastic,
  :func:`~snn_deploy.learning.library.readout_delta`, error neurons
  :func:`~snn_deploy.learning.library.error_neuron`) with fixed random feedback ``B`` from the
  error neurons' graded output into the hidden neurons' third-factor input. Every sample is
  presented once per epoch, online, as the chip would see it; the learning curve is the test
  accuracy after every epoch. :func:`bptt_baseline` trains the same network (same sizes, same
  decays, same readout window) in float with BPTT (surrogate gradient, Adam) for the ratio.

Both return plain dicts (JSON-able) that the example scripts write to ``learning.json`` and
``learning.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from snn_deploy.learning.library import (
    eprop_lif,
    error_neuron,
    r_stdp,
    readout_delta,
    surrogate_shift,
)
from snn_deploy.learning.network import Connection, Neurons, PlasticNetwork, Source


def _emulator(net: PlasticNetwork, profile=None, engine: str = "compiled"):
    """The emulator of a demo: ``engine`` "compiled" (default) or "reference" (numpy); both
    compute the same integers (backends/emulator/learning.py: plastic_emulator)."""
    from snn_deploy.backends.emulator.learning import plastic_emulator
    from snn_deploy.profiles import load_profile

    return plastic_emulator(net, profile or load_profile("loihi2"), engine=engine)


# -- e-prop on random manifolds ------------------------------------------------------------------


@dataclass(frozen=True)
class EpropConfig:
    """Task, network and rule parameters of :func:`eprop_demo` (integers as the chip holds them)."""

    num_classes: int = 4
    num_units: int = 20
    num_steps: int = 30
    samples_per_class: int = 100
    data_seed: int = 1
    hidden: int = 64
    gap_steps: int = 6  # silent steps after each sample (the readout window runs into them)
    window_start: int = 15  # decision window [window_start, num_steps + 2) of every sample
    dv_hidden: int = 205  # tau_m ~ 20 steps
    dv_out: int = 205
    vth_hidden: int = 128
    w_in_scale: float = 3.0  # initial input weights ~ N(0, (scale / sqrt(units))^2) * vth
    w_out_std: int = 32
    feedback_std: float = 4.0
    target_level: int = 32  # error neuron target for the labelled class (others: 0)
    prediction_shift: int = 12  # readout voltage >> shift is the prediction
    error_limit: int = 63
    signal_shift: int = 2  # hidden neurons: y3 = 64 + (B @ delta) >> shift
    eta_out_exp: int = -7
    eta_hidden_exp: int = -7
    elig_scale_exp: int = -3
    kappa_exp: int = -3
    tau_pre: float = 20.0
    pre_impulse: float = 16.0
    out_decimation: int = 2  # readout rule applied every 2**k steps (u_k)
    out_mantissa: int = 4
    readout_bias: bool = True  # an always-on input with a plastic synapse to every output
    bias_decimation: int = 4  # its (uncentred) delta rule runs every 2**k steps
    centered: bool = True  # readout: delta rule on x1 minus its running mean (library)
    learn_hidden: bool = True
    epochs: int = 15
    seed: int = 0

    @property
    def sample_steps(self) -> int:
        return self.num_steps + self.gap_steps

    @property
    def window(self) -> tuple[int, int]:
        return self.window_start, min(self.num_steps + 2, self.sample_steps)


def eprop_task(cfg: EpropConfig):
    from snn_deploy.data.sequences import randman

    return randman(
        num_classes=cfg.num_classes,
        num_units=cfg.num_units,
        num_steps=cfg.num_steps,
        samples_per_class=cfg.samples_per_class,
        seed=cfg.data_seed,
    )


def eprop_network(cfg: EpropConfig) -> PlasticNetwork:
    rng = np.random.default_rng(cfg.seed)
    L = cfg.sample_steps
    hid_rule = eprop_lif(
        tau_pre=cfg.tau_pre,
        pre_impulse=cfg.pre_impulse,
        surrogate_shift_bits=surrogate_shift(cfg.vth_hidden),
        elig_scale_exp=cfg.elig_scale_exp,
        kappa_exp=cfg.kappa_exp,
        eta_exp=cfg.eta_hidden_exp,
        signal_shift=cfg.signal_shift,
        seed=cfg.seed + 1,
    )
    out_rule = readout_delta(
        tau_pre=cfg.tau_pre,
        pre_impulse=cfg.pre_impulse,
        eta_exp=cfg.eta_out_exp,
        centered=cfg.centered,
        mantissa=cfg.out_mantissa,
        decimation=cfg.out_decimation,
        seed=cfg.seed + 2,
    )
    err = error_neuron(prediction_shift=cfg.prediction_shift, error_limit=cfg.error_limit)
    w_in = rng.normal(0, cfg.w_in_scale / math.sqrt(cfg.num_units), (cfg.hidden, cfg.num_units))
    w_in = np.clip(np.round(w_in * cfg.vth_hidden / 2) * 2, -256, 254).astype(np.int64)
    w_out = np.clip(
        np.round(rng.normal(0, cfg.w_out_std, (cfg.num_classes, cfg.hidden)) / 2) * 2, -256, 254
    ).astype(np.int64)
    fb = np.round(rng.normal(0, cfg.feedback_std, (cfg.hidden, cfg.num_classes))).astype(np.int64)
    bias = ()
    if cfg.readout_bias:
        bias_rule = readout_delta(
            tau_pre=cfg.tau_pre,
            pre_impulse=cfg.pre_impulse,
            eta_exp=cfg.eta_out_exp,
            decimation=cfg.bias_decimation,
            seed=cfg.seed + 4,
        )
        bias = (
            Connection(
                "bias", "on", "out", np.zeros((cfg.num_classes, 1), np.int64), rule=bias_rule.rule
            ),
        )
    return PlasticNetwork(
        sources=(Source("in", cfg.num_units), Source("label", cfg.num_classes), Source("on", 1)),
        populations=(
            Neurons(
                "hid",
                cfg.hidden,
                du=4095,
                dv=cfg.dv_hidden,
                vth=cfg.vth_hidden,
                program=hid_rule.neuron,
                reset_interval=L,
                reset_offset=1,
            ),
            Neurons(
                "out",
                cfg.num_classes,
                du=4095,
                dv=cfg.dv_out,
                vth=(1 << 17) - 1,
                program=err,
                reset_interval=L,
                reset_offset=1,
            ),
        ),
        connections=(
            Connection(
                "w_in",
                "in",
                "hid",
                w_in,
                rule=hid_rule.rule if cfg.learn_hidden else None,
                sign_mode="mixed" if not cfg.learn_hidden else None,
            ),
            Connection("w_out", "hid", "out", w_out, rule=out_rule.rule),
            Connection(
                "label",
                "label",
                "out",
                np.eye(cfg.num_classes, dtype=np.int64),
                graded=True,
                target_port="a3",
            ),
            Connection(
                "feedback", "out", "hid", fb, graded=True, source_port="aux", target_port="a3"
            ),
            *bias,
        ),
        name="eprop_randman",
    )


def _stream(cfg: EpropConfig, x: np.ndarray, y: np.ndarray | None):
    """Samples back to back: (steps, units) spikes and (steps, classes) target payloads."""
    n, L = len(x), cfg.sample_steps
    spikes = np.zeros((n, L, cfg.num_units), np.int64)
    spikes[:, : cfg.num_steps] = x
    labels = np.zeros((n, L, cfg.num_classes), np.int64)
    if y is not None:
        a, b = cfg.window
        labels[:, a:b, :] = 1
        labels[np.arange(n), a:b, y] += cfg.target_level  # payload 1 + target
    return {
        "in": spikes.reshape(n * L, -1),
        "label": labels.reshape(n * L, -1),
        "on": np.ones((n * L, 1), np.int64),
    }


def _predict(cfg: EpropConfig, v: np.ndarray, n: int) -> np.ndarray:
    a, b = cfg.window
    v = v.reshape(n, cfg.sample_steps, -1)[:, a:b]
    return v.mean(axis=1).argmax(axis=1)


def eprop_demo(
    cfg: EpropConfig | None = None, profile=None, log=None, engine: str = "compiled"
) -> dict:
    """Train on-chip (emulated) for ``cfg.epochs`` epochs; returns the learning curve."""
    cfg = cfg or EpropConfig()
    data = eprop_task(cfg)
    emu = _emulator(eprop_network(cfg), profile, engine)
    rng = np.random.default_rng(cfg.seed + 3)
    curve = []
    t0 = time.perf_counter()

    def evaluate(x, y):
        out = emu.run(_stream(cfg, x, None), record_voltage=("out",))
        return float((_predict(cfg, out["v"]["out"], len(x)) == y).mean())

    acc0 = evaluate(data.x_test, data.y_test)
    curve.append({"epoch": 0, "test_accuracy": acc0, "train_accuracy": None})
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(data.y_train))
        stream = _stream(cfg, data.x_train[order], data.y_train[order])
        out = emu.run(stream, record_voltage=("out",), record_spikes=("hid",))
        train_acc = float(
            (_predict(cfg, out["v"]["out"], len(order)) == data.y_train[order]).mean()
        )
        rate = float(out["spikes"]["hid"].mean())
        test_acc = evaluate(data.x_test, data.y_test)
        curve.append(
            {
                "epoch": epoch,
                "test_accuracy": test_acc,
                "train_accuracy": train_acc,
                "hidden_rate": rate,
                "seconds": time.perf_counter() - t0,
            }
        )
        if log:
            log(
                f"on-chip e-prop epoch {epoch}: train {train_acc:.3f} (online) test {test_acc:.3f} "
                f"hidden rate {rate:.3f} ({time.perf_counter() - t0:.0f} s)"
            )
    return {
        "config": asdict(cfg),
        "curve": curve,
        "final_test_accuracy": curve[-1]["test_accuracy"],
        "best_test_accuracy": max(c["test_accuracy"] for c in curve),
        "weights": {k: emu.weights(k).tolist() for k in ("w_in", "w_out")},
        "engine": engine,
        "seconds": time.perf_counter() - t0,
    }


def bptt_baseline(
    cfg: EpropConfig, *, epochs: int = 40, batch: int = 32, lr: float = 3e-3, log=None
) -> dict:
    """The same network in float, trained with BPTT: the hidden LIF layer (same decay, threshold
    1 = ``vth``, reset to 0, one step of synaptic delay per connection), the leaky readout with
    the readout window of :func:`eprop_demo`, starting from the same initial weights
    (``w / vth``). Cross-entropy on the window-averaged readout, Adam, e-prop's triangular
    pseudo-derivative ``0.3 * max(0, 1 - |v - 1|)``; test accuracy after every epoch."""
    import torch

    class _Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x > 0).to(x.dtype)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 0.3 * torch.clamp(1 - x.abs(), min=0)

    torch.manual_seed(cfg.seed)
    data = eprop_task(cfg)
    net = eprop_network(cfg)
    w_in = torch.tensor(net.connection("w_in").weights / cfg.vth_hidden, dtype=torch.float32)
    w_out = torch.tensor(net.connection("w_out").weights / 64.0, dtype=torch.float32)
    w_in.requires_grad_(True)
    w_out.requires_grad_(True)
    alpha = 1 - cfg.dv_hidden / 4096
    kappa = 1 - cfg.dv_out / 4096
    a, b = cfg.window
    L = cfg.sample_steps

    def forward(x):
        n = x.shape[0]
        v = torch.zeros(n, cfg.hidden)
        s = torch.zeros(n, cfg.hidden)
        vo = torch.zeros(n, cfg.num_classes)
        cur_h = torch.zeros(n, cfg.hidden)
        cur_o = torch.zeros(n, cfg.num_classes)
        outs = []
        for t in range(L):
            v = alpha * v * (1 - s) + cur_h
            s_new = _Spike.apply(v - 1.0)
            vo = kappa * vo + cur_o
            outs.append(vo)
            xt = x[:, t] if t < x.shape[1] else torch.zeros(n, cfg.num_units)
            cur_h = xt @ w_in.T
            cur_o = s_new @ w_out.T
            s = s_new
        return torch.stack(outs, 1)[:, a:b].mean(1)

    xtr = torch.tensor(data.x_train, dtype=torch.float32)
    ytr = torch.tensor(data.y_train)
    xte = torch.tensor(data.x_test, dtype=torch.float32)
    yte = torch.tensor(data.y_test)
    opt = torch.optim.Adam([w_in, w_out], lr=lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    curve, t0 = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(ytr), batch):
            idx = perm[i : i + batch]
            loss = torch.nn.functional.cross_entropy(forward(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = float((forward(xte).argmax(1) == yte).float().mean())
        curve.append({"epoch": epoch, "test_accuracy": acc, "loss": loss.item()})
        if log:
            log(f"BPTT (float) epoch {epoch}: loss {loss.item():.3f} test {acc:.3f}")
    return {
        "curve": curve,
        "final_test_accuracy": curve[-1]["test_accuracy"],
        "best_test_accuracy": max(c["test_accuracy"] for c in curve),
        "epochs": epochs,
        "seconds": time.perf_counter() - t0,
    }


# -- R-STDP: which output answers which pattern ----------------------------------------------


@dataclass(frozen=True)
class RstdpConfig:
    """Two input patterns (each drives its own half of the inputs as Poisson spikes), two output
    neurons. After every trial the environment rewards the neuron that answered (fired more):
    ``+reward`` if it is the one assigned to the pattern, ``-reward`` if not, delivered as a
    graded third factor to that neuron only, during ``reward_steps`` steps after the trial."""

    inputs_per_pattern: int = 10
    rate: float = 0.3
    trial_steps: int = 25
    reward_steps: int = 8
    rest_steps: int = 7
    trials: int = 200
    reward: int = 40
    w_init: tuple[int, int] = (40, 80)
    vth: int = 600
    dv: int = 410  # tau_m ~ 10 steps
    a_plus: tuple[int, int] = (2, 0)
    a_minus: tuple[int, int] = (1, 0)
    tag_decay_exp: int = -3
    eta: tuple[int, int] = (1, -7)
    block: int = 20
    seed: int = 0


def rstdp_network(cfg: RstdpConfig):
    rng = np.random.default_rng(cfg.seed)
    lib = r_stdp(
        a_plus=cfg.a_plus,
        a_minus=cfg.a_minus,
        tag_decay_exp=cfg.tag_decay_exp,
        eta=cfg.eta,
        seed=cfg.seed + 1,
    )
    n_in = 2 * cfg.inputs_per_pattern
    w = rng.integers(cfg.w_init[0] // 2, cfg.w_init[1] // 2 + 1, (2, n_in)) * 2
    net = PlasticNetwork(
        sources=(Source("in", n_in), Source("reward", 2)),
        populations=(
            Neurons("pre", n_in, du=4095, dv=4095, vth=240),
            Neurons("out", 2, du=4095, dv=cfg.dv, vth=cfg.vth, program=lib.neuron),
        ),
        connections=(
            Connection("drive", "in", "pre", np.eye(n_in, dtype=np.int64) * 250),
            Connection(
                "reward", "reward", "out", np.eye(2, dtype=np.int64), graded=True, target_port="a3"
            ),
            Connection("plastic", "pre", "out", w, rule=lib.rule),
        ),
        name="rstdp_patterns",
    )
    return net, lib


def rstdp_demo(
    cfg: RstdpConfig | None = None, profile=None, log=None, engine: str = "compiled"
) -> dict:
    """Closed loop: present a pattern, read which output answered, deliver the reward."""
    cfg = cfg or RstdpConfig()
    net, lib = rstdp_network(cfg)
    emu = _emulator(net, profile, engine)
    rng = np.random.default_rng(cfg.seed + 2)
    n_in, k = 2 * cfg.inputs_per_pattern, cfg.inputs_per_pattern
    trials, t0 = [], time.perf_counter()
    for _ in range(cfg.trials):
        pattern = int(rng.integers(0, 2))
        x = np.zeros((cfg.trial_steps, n_in), np.int64)
        x[:, pattern * k : (pattern + 1) * k] = rng.random((cfg.trial_steps, k)) < cfg.rate
        # spikes reach "out" two steps after the input (two Dense hops): run 2 more steps
        out = emu.run(
            {"in": x, "reward": np.zeros((cfg.trial_steps, 2), np.int64)}, record_spikes=("out",)
        )
        counts = out["spikes"]["out"].sum(axis=0)
        answer = int(np.argmax(counts)) if counts.max() > counts.min() else -1
        reward = np.zeros((cfg.reward_steps, 2), np.int64)
        if answer >= 0:
            reward[:, answer] = cfg.reward if answer == pattern else -cfg.reward
        emu.run({"in": np.zeros((cfg.reward_steps, n_in), np.int64), "reward": reward})
        emu.run({}, num_steps=cfg.rest_steps)
        trials.append(
            {
                "pattern": pattern,
                "answer": answer,
                "correct": answer == pattern,
                "counts": counts.tolist(),
            }
        )
    blocks = [
        float(np.mean([t["correct"] for t in trials[i : i + cfg.block]]))
        for i in range(0, len(trials), cfg.block)
    ]
    if log:
        log(
            f"R-STDP accuracy per block of {cfg.block} trials: "
            + " ".join(f"{b:.2f}" for b in blocks)
        )
    w = emu.weights("plastic")
    return {
        "config": asdict(cfg),
        "rule": lib.rule.to_dict(),
        "curve": [{"trials": (i + 1) * cfg.block, "accuracy": b} for i, b in enumerate(blocks)],
        "first_block_accuracy": blocks[0],
        "last_block_accuracy": blocks[-1],
        "final_weights": w.tolist(),
        "mean_weight_assigned": float((w[0, :k].mean() + w[1, k:].mean()) / 2),
        "mean_weight_other": float((w[0, k:].mean() + w[1, :k].mean()) / 2),
        "engine": engine,
        "seconds": time.perf_counter() - t0,
    }


# -- reports -------------------------------------------------------------------------------------


def _svg_curve(series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str) -> str:
    """A small self-contained SVG line plot (no plotting library needed); y in [0, 1]."""
    w, h, m = 480, 260, 40
    xs = [x for pts in series.values() for x, _ in pts] or [0, 1]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)

    def px(x, y):
        return m + (x - x0) / (x1 - x0) * (w - 2 * m), h - m - y * (h - 2 * m)

    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
    ]
    for y in (0, 0.25, 0.5, 0.75, 1.0):
        a, b = px(x0, y), px(x1, y)
        out.append(
            f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{m - 30}" y="{a[1] + 4:.1f}">{y:.2f}</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = colors[i % len(colors)]
        path = " ".join(f"{px(x, y)[0]:.1f},{px(x, y)[1]:.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{w - m - 150}" y="{m + 14 * i}" fill="{c}">{name}</text>')
    out.append(f'<text x="{w / 2 - 30:.0f}" y="{h - 8}">{xlabel}</text>')
    out.append(f'<text x="4" y="{m - 12}">{ylabel}</text>')
    out.append(f'<text x="{m}" y="{h - m + 14}">{x0:g}</text>')
    out.append(f'<text x="{w - m - 10}" y="{h - m + 14}">{x1:g}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_demo_report(
    folder,
    title: str,
    summary: list[str],
    table: list[dict],
    series: dict,
    result: dict,
    listings: dict,
    profile=None,
    xlabel: str = "epoch",
) -> list:
    """``folder``: ``learning.json`` (everything), ``learning.md`` (summary, learning-curve
    table and plot), ``learning_curve.svg`` and ``learning/`` (program listings, rules.json and
    the emitted Lava module, :func:`~snn_deploy.learning.listing.write_learning_artifact`)."""
    import json
    from pathlib import Path

    from snn_deploy.learning.listing import render_listing, write_learning_artifact
    from snn_deploy.profiles import load_profile

    profile = profile or load_profile("loihi2")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = write_learning_artifact(out, listings, profile)
    (out / "learning.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "learning_curve.svg").write_text(_svg_curve(series, xlabel, "accuracy"))
    cols = list(table[0]) if table else []
    lines = [
        f"# {title}",
        "",
        *summary,
        "",
        "## Learning curve",
        "",
        "![learning curve](learning_curve.svg)",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for row in table:
        lines.append(
            "| "
            + " | ".join(
                ""
                if row[c] is None
                else f"{row[c]:.3f}"
                if isinstance(row[c], float)
                else str(row[c])
                for c in cols
            )
            + " |"
        )
    lines += ["", "## Programs (microcode listings)", ""]
    for name, (rule, neuron) in listings.items():
        lines += [
            f"### {name}",
            "",
            "```",
            render_listing(rule, neuron, profile).rstrip(),
            "```",
            "",
        ]
    (out / "learning.md").write_text("\n".join(lines))
    return [*written, out / "learning.json", out / "learning.md", out / "learning_curve.svg"]
