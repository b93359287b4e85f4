"""Online learning of a compiled plastic network: ``snn-deploy learn``.

A network compiled with ``--plastic`` (:mod:`snn_deploy.learning.deploy`) runs in the plastic
emulator (compiled engine by default), sample after sample, as the chip would: the samples of
the stream are presented back to back, every population is reset at each sample's first step,
and the third factor arrives through its compiled route:

- ``labels``: the label source carries ``1 + target`` to every neuron of the plastic layer
  during its decision window (``target_level`` for the labelled neuron, 0 for the others);
- ``reward``: closed loop, per sample. The sample is presented; the neuron with the most
  output spikes answered; in the gap after the sample, the answering neuron receives
  ``R * (hit - b)``, rounded, where ``hit`` is 1 when its answer is the label and ``b`` the
  running success rate (a reward prediction error, Frémaux & Gerstner 2016: a plain +-R makes
  a mostly right network strengthen its answers until they fire for everything).

Accuracy is measured on held-out samples with the static network (``backends/emulator/loihi``)
holding the weights as learned so far, i.e. what a redeployed artifact computes; a Dense
truncates MIXED weights to its ``num_weight_bits`` when loaded, as the chip does.

With ``verify_lava`` > 0, the first that many samples of the stream are run again in Lava
(``backends/lava/learning_*``) on the same inputs, third factors included, and compared with the
emulator on every spike of every population and every weight of every step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from snn_deploy.errors import ModelError, VerificationError
from snn_deploy.learning.deploy import (
    LearningConfig,
    plastic_view,
    sample_period,
    sample_stream,
)
from snn_deploy.quantize.network import QuantizedNetwork

SIGNALS = ("labels", "reward")
REWARD_BASELINE_RATE = 0.1  # the running success rate's update per sample


@dataclass(frozen=True)
class LearnOptions:
    signal: str = "labels"
    epochs: int = 1
    reward: int = 16
    eval_every: int = 0  # samples between test evaluations (0: once per epoch)
    seed: int = 0
    engine: str = "compiled"
    verify_lava: int = 0  # samples of the stream re-run in Lava (0: none)


@dataclass
class LearnResult:
    weights: dict  # projection -> learned integer weights (exact, as the engine holds them)
    accuracy_before: float
    accuracy_after: float
    curve: list = field(default_factory=list)  # {"samples": n, "test_accuracy": a}
    online_accuracy: float | None = None
    samples: int = 0
    seconds: float = 0.0
    lava: dict | None = None

    def to_dict(self) -> dict:
        return {
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "online_accuracy": self.online_accuracy,
            "samples_learned": self.samples,
            "curve": self.curve,
            "seconds": self.seconds,
            "lava": self.lava,
        }


def output_population(qnet: QuantizedNetwork):
    name = qnet.outputs[-1]
    return next(p for p in qnet.populations if p.name == name)


def predict(qnet: QuantizedNetwork, profile, x: np.ndarray, weights: dict | None = None):
    """Classes of samples ``x`` (n, steps, size) by the static network with ``weights``:
    spike counts of the output over its window (mean voltage for a non-spiking readout)."""
    import dataclasses

    from snn_deploy.backends.emulator.loihi import LoihiEmulator

    if weights:
        projs = tuple(
            dataclasses.replace(p, weight=weights[p.name]) if p.name in weights else p
            for p in qnet.projections
        )
        qnet = dataclasses.replace(qnet, projections=projs)
    out = output_population(qnet)
    steps = x.shape[1]
    port = next(i for i in qnet.inputs if i.kind == "spikes")
    res = LoihiEmulator(qnet, profile.numerics).run(
        {port.name: x}, steps + out.shift_steps, record_voltage=(out.name,)
    )
    lo, hi = out.shift_steps, out.shift_steps + steps
    if out.spiking:
        score = res.spikes[out.name][:, lo:hi].sum(axis=1).astype(np.float64)
    else:
        score = res.voltage[out.name][:, lo:hi].mean(axis=1)
    return score.argmax(axis=1)


def _answers(spikes: np.ndarray, n: int, period: int, lo: int, hi: int) -> np.ndarray:
    counts = spikes.reshape(n, period, -1)[:, lo:hi].sum(axis=1)
    return counts.argmax(axis=1)


def learn_online(
    qnet: QuantizedNetwork,
    config: LearningConfig,
    profile,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    opts: LearnOptions | None = None,
    log=None,
) -> LearnResult:
    """Learn online from ``x`` (n, steps, size) with labels ``y``; test on ``x_test``."""
    from snn_deploy.backends.emulator.learning import plastic_emulator

    opts = opts or LearnOptions()
    if opts.signal not in SIGNALS:
        raise ModelError(f"unknown learning signal {opts.signal!r}; accepted: labels, reward")
    kinds = {e.third_factor for e in config.entries}
    wanted = "label" if opts.signal == "labels" else "reward"
    if wanted not in kinds:
        have = ", ".join(sorted(str(k) for k in kinds))
        raise ModelError(
            f"--{opts.signal}: the network's plastic layers take no {wanted} (third factors: "
            f"{have})",
            hint="use the signal its rule was compiled with (readout_delta: --labels, "
            "r_stdp: --reward)",
        )
    if len(x) == 0 or x.shape[1:] != x_test.shape[1:]:
        raise ModelError("learn: no samples to learn from, or train and test shapes differ")
    t0 = time.perf_counter()
    steps = x.shape[1]
    period = sample_period(qnet, config, steps)
    net = plastic_view(qnet, config, period)
    emu = plastic_emulator(net, profile, engine=opts.engine)
    plastic = [e.projection for e in config.entries]
    out = output_population(qnet)
    lo, hi = out.shift_steps, out.shift_steps + steps
    before = float((predict(qnet, profile, x_test) == y_test).mean())
    curve = [{"samples": 0, "test_accuracy": before}]
    rng = np.random.default_rng(opts.seed)
    every = opts.eval_every or len(x)
    recorded: list[dict] = []  # the first verify_lava samples' inputs, as fed
    correct, seen = 0, 0
    baseline = 0.5  # running success rate: the reward is its prediction error
    for epoch in range(opts.epochs):
        order = np.arange(len(x)) if epoch == 0 else rng.permutation(len(x))
        for start in range(0, len(order), every):
            idx = order[start : start + every]
            if opts.signal == "labels":
                stream = sample_stream(qnet, config, x[idx], y[idx])
                res = emu.run(stream, record_spikes=(out.name,))
                answers = _answers(res["spikes"][out.name], len(idx), period, lo, hi)
                _keep(recorded, stream, opts.verify_lava * period)
            else:
                answers = []
                for i in idx:
                    stream = sample_stream(qnet, config, x[i : i + 1], None)
                    first = {k: v[: steps + out.shift_steps] for k, v in stream.items()}
                    res = emu.run(first, record_spikes=(out.name,))
                    a = int(res["spikes"][out.name][lo:hi].sum(axis=0).argmax())
                    rest = {k: v[steps + out.shift_steps :].copy() for k, v in stream.items()}
                    hit = float(a == y[i])
                    value = int(round(opts.reward * (hit - baseline)))
                    baseline += REWARD_BASELINE_RATE * (hit - baseline)
                    for e in config.entries:
                        if e.third_factor == "reward":
                            rest[e.source][:, a] = value
                    emu.run(rest)
                    answers.append(a)
                    _keep(
                        recorded,
                        {k: np.concatenate([first[k], rest[k]]) for k in stream},
                        opts.verify_lava * period,
                    )
                answers = np.array(answers)
            correct += int((answers == y[idx]).sum())
            seen += len(idx)
            weights = {p: emu.weights(p) for p in plastic}
            acc = float((predict(qnet, profile, x_test, weights) == y_test).mean())
            curve.append({"samples": seen, "epoch": epoch + 1, "test_accuracy": acc})
            if log:
                log(f"learned {seen} samples: test accuracy {acc:.3f}")
    weights = {p: emu.weights(p) for p in plastic}
    result = LearnResult(
        weights=weights,
        accuracy_before=before,
        accuracy_after=curve[-1]["test_accuracy"],
        curve=curve,
        online_accuracy=correct / max(seen, 1),
        samples=seen,
        seconds=time.perf_counter() - t0,
    )
    if opts.verify_lava:
        result.lava = verify_with_lava(qnet, config, profile, period, recorded, opts)
    return result


def _keep(recorded: list, stream: dict, limit: int) -> None:
    have = sum(len(next(iter(r.values()))) for r in recorded)
    if have < limit:
        recorded.append({k: v[: limit - have] for k, v in stream.items()})


def verify_with_lava(qnet, config, profile, period: int, recorded: list, opts) -> dict:
    """Run the recorded stream in Lava and in a fresh emulator; every spike of every population
    and every plastic weight of every step must be equal (raises ``VerificationError``)."""
    from snn_deploy.backends.emulator.learning import plastic_emulator
    from snn_deploy.backends.lava.learning_bridge import LavaLearningJob, run_lava_learning

    inputs = {k: np.concatenate([r[k] for r in recorded]) for k in recorded[0]}
    steps = len(next(iter(inputs.values())))
    net = plastic_view(qnet, config, period)
    pops = tuple(p.name for p in net.populations)
    plastic = tuple(c.name for c in net.plastic())
    emu = plastic_emulator(net, profile, engine=opts.engine)
    ref = emu.run(inputs, record_spikes=pops, record_plastic=plastic)
    (lava,) = run_lava_learning(
        [LavaLearningJob(net, inputs, steps)],
        decay_bits=profile.numerics.decay_bits,
        trace_max=profile.learning.trace_max,
    )
    problems = []
    for p in pops:
        if not np.array_equal(ref["spikes"][p], lava.spikes[p]):
            bad = np.argwhere(ref["spikes"][p] != lava.spikes[p])
            problems.append(f"spikes of '{p}' differ first at step {int(bad[0][0]) + 1}")
    for c in plastic:
        a, b = ref["plastic"][c]["weights"], lava.plastic[c]["weights"]
        if not np.array_equal(a, b):
            bad = np.argwhere(a != b)
            problems.append(f"weights of '{c}' differ first at step {int(bad[0][0]) + 1}")
    if problems:
        raise VerificationError(
            "Lava disagrees with the emulator: " + "; ".join(problems),
            hint="this is a bug in snn-deploy; please report it with the artifact",
        )
    spikes = {p: int(ref["spikes"][p].sum()) for p in pops}
    changed = {
        c: int(np.count_nonzero(np.diff(ref["plastic"][c]["weights"], axis=0))) for c in plastic
    }
    return {
        "steps": steps,
        "samples": steps // period,
        "spikes_compared": spikes,
        "weight_changes_compared": changed,
        "equal": True,
        "lava_seconds": lava.timing,
    }


# -- the float reference of the same adaptation --------------------------------------------------


def _float_rule_step(rule, engine, step: int, values: dict, w, t) -> tuple:
    """One learning epoch of ``rule`` in float64: every product ``mantissa * 2**(exponent -
    shift) * dependency * factors`` with the MAC's shift of the engine, no rounding, no
    saturation. ``values``: x1 (n_pre,), y1..y3 (n_post,) as floats."""
    from snn_deploy.learning.engine import product_shift

    new = {}
    for target, prog in rule.programs.items():
        dz = np.zeros_like(w)
        for prod in prog.products:
            if prod.dependency != "u":
                raise ModelError("float reference: only u_k dependencies are supported")
            if step % (1 << (prod.decimation or 0)):
                continue
            widths = sum(engine.factor_width(f.var) for f in prod.factors)
            term = np.full_like(
                w, prod.mantissa * 2.0 ** (prod.exponent - product_shift(widths, engine))
            )
            for f in prod.factors:
                if f.var in ("x1", "x2"):
                    val = values[f.var][None, :]
                elif f.var in ("y1", "y2", "y3"):
                    val = values[f.var][:, None]
                elif f.var == "w":
                    val = w
                elif f.var == "t":
                    val = t
                else:
                    raise ModelError(f"float reference: factor {f.var} not supported")
                val = val + (f.const or 0)
                term = term * (np.sign(val) if f.sgn else val)
            dz = dz + term
        new[target] = dz
    return w + new.get("dw", 0.0), t + new.get("dt", 0.0)


def float_reference(
    qnet: QuantizedNetwork,
    config: LearningConfig,
    profile,
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    epochs: int = 1,
    x_other: np.ndarray | None = None,
    y_other: np.ndarray | None = None,
    seed: int = 0,
) -> dict:
    """The same adaptation in float64: a ``readout_delta`` output layer learns from the same
    stream (same order, same epochs), the same pre spikes (the integer network's, per sample),
    the same LIF equations and the same rule products with real numbers (no rounding, no
    saturation, no stochastic rounding, no truncation). Returns test accuracy before/after and
    the final float weights (in the integer weight units); with ``x_other``, also the accuracy
    on those samples (e.g. the classes learned before) before and after."""
    from snn_deploy.backends.emulator.loihi import LoihiEmulator
    from snn_deploy.learning.engine import engine_of

    (entry,) = config.entries
    if entry.spec.rule != "readout_delta" or entry.population != qnet.outputs[-1]:
        raise ModelError("float reference: one readout_delta layer on the output is supported")
    params = dict(entry.spec.params)
    engine, num = engine_of(profile), profile.numerics
    proj = next(p for p in qnet.projections if p.name == entry.projection)
    pop = output_population(qnet)
    pre = proj.source
    q = pop.params
    keep_u = (num.decay_unity - (q.du + num.current_decay_offset)) / num.decay_unity
    keep_v = (num.decay_unity - (q.dv + num.voltage_decay_offset)) / num.decay_unity
    bias = (q.bias_mant * 2.0**q.bias_exp).astype(np.float64)
    vth = float(q.vth[0] << num.threshold_shift) if pop.spiking else np.inf
    gain = 2.0**proj.params.weight_exp * (1 << num.input_shift)
    steps = x.shape[1]
    lo, hi = pop.shift_steps, pop.shift_steps + steps

    def pre_spikes(data):
        res = LoihiEmulator(qnet, num).run({_port(qnet): data}, steps + pop.shift_steps)
        return res.spikes[pre].astype(np.float64)

    read, shift = next(i for i in entry.neuron.instructions if i.op == "shr").args
    limit = int(params.get("error_limit", 63))
    margin = str(params.get("margin", "true")).lower() == "true"
    rule = entry.rule
    tau = rule.x1.tau
    decay, impulse = np.exp(-1.0 / tau), float(rule.x1.impulse)
    w0 = np.asarray(proj.weight, np.float64)

    period = sample_period(qnet, config, steps)

    def run(w, t, s_pre, labels, clock=0):
        """One sample starting after ``clock`` chip steps; returns (w, t, output counts)."""
        n_post = w.shape[0]
        u = np.zeros(n_post)
        v = np.zeros(n_post)
        x1 = np.zeros(w.shape[1])
        counts = np.zeros(n_post)
        a_in = np.zeros(n_post)
        for k in range(s_pre.shape[0]):
            u = u * keep_u + a_in * gain
            v = v * keep_v + u + bias
            spk = v > vth
            v[spk] = 0.0
            if lo <= k < hi:
                counts += spk
            a_in = w @ s_pre[k]
            x1 = np.minimum(x1 * decay + impulse * s_pre[k], engine.trace_max)
            if labels is None or not (lo <= k < hi):
                continue
            target = np.zeros(n_post)
            target[labels] = entry.target_level
            pred = (u if read == "u" else v) / 2.0**shift
            delta = np.clip(target - pred, -limit, limit)
            if margin:
                delta = np.where(target > 0, np.maximum(delta, 0), np.minimum(delta, 0))
            values = {"x1": x1, "y1": np.full(n_post, 127.0), "y3": delta + 64.0}
            w, t = _float_rule_step(rule, engine, clock + k + 1, values, w, t)
        return w, t, counts

    def accuracy(w, s_all, labels):
        hits = [
            run(w, np.zeros_like(w), s, None)[2].argmax() == lab
            for s, lab in zip(s_all, labels, strict=True)
        ]
        return float(np.mean(hits))

    s_train, s_test = pre_spikes(x), pre_spikes(x_test)
    w, t = w0.copy(), np.zeros_like(w0)
    before = accuracy(w0, s_test, y_test)
    rng = np.random.default_rng(seed)  # the sample order of learn_online with the same seed
    clock = 0  # chip steps so far: u_k dependencies fire on the chip's global step count
    for epoch in range(epochs):
        order = np.arange(len(x)) if epoch == 0 else rng.permutation(len(x))
        for i in order:
            w, t, _ = run(w, t, s_train[i], int(y[i]), clock)
            clock += period
    out = {"accuracy_before": before, "accuracy_after": accuracy(w, s_test, y_test), "weights": w}
    if x_other is not None:
        s_other = pre_spikes(x_other)
        out["other_before"] = accuracy(w0, s_other, y_other)
        out["other_after"] = accuracy(w, s_other, y_other)
    return out


def _port(qnet) -> str:
    return next(i.name for i in qnet.inputs if i.kind == "spikes")
