"""Rule library: local learning rules written once for the sum-of-products engine.

Each function returns a :class:`LibraryRule`: the :class:`~snn_deploy.learning.rule.LearningRule`
(rule strings, traces, epoch), the post neuron's program that computes its factor (surrogate
derivative, spike trace) and reads its third factor, the routing that third factor needs, and
the equations with their mapping onto the engine (docs/learning.md repeats them).

Conventions (../shared/reference/training.md section 3):

- ``x1`` (and ``x2``) are the presynaptic traces: ``z_bar`` (e-prop), the PSP ``eps * S``
  (SuperSpike, DECOLLE: ``x1 - x2``, a difference of exponentials).
- ``y2`` is written by the neuron program: the surrogate derivative ``psi(v)`` /
  ``sigma'(U)`` in 0..127 (127 = 1.0).
- ``y3`` (R-STDP: ``y2``) carries a signed third factor with an offset: the neuron writes
  ``64 + delta`` (0..127), rules read the factor ``(y3-64)``. Traces are 7-bit unsigned on the
  chip, so a sign needs the offset; ``delta`` is *target minus output* for every supervised rule,
  so weights move by ``+eta * eligibility * delta``.
- The learning signal reaches a neuron as a graded spike into its third-factor input ``a3``
  (Lava ``a_third_factor_in``), from error neurons through feedback synapses.

Integer scalings are powers of two; ``2^-e`` factors are chosen so that a typical update moves a
weight by a fraction of an LSB per step and stochastic rounding keeps it unbiased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from snn_deploy.learning.engine import DEFAULT_LOIHI2, product_shift
from snn_deploy.learning.microcode import NeuronProgram, ins
from snn_deploy.learning.program import Factor, Product, Program
from snn_deploy.learning.rule import LearningRule, PostTrace, Route, TraceSpec

OFFSET = 64  # zero of a signed third factor in a 7-bit trace


@dataclass(frozen=True)
class LibraryRule:
    name: str
    rule: LearningRule
    neuron: NeuronProgram | None  # None: plain LIF; the engine keeps the post traces
    equations: tuple[str, ...]
    mapping: tuple[str, ...]

    @property
    def routes(self) -> tuple[Route, ...]:
        return self.rule.routes


# -- small builders -----------------------------------------------------------------------------


def _p(dep: str, *factors, mant: int = 1, exp: int = 0, k: int | None = None) -> Product:
    fs = tuple(f if isinstance(f, Factor) else Factor(f) for f in factors)
    return Product(dep, mant, exp, fs, k if dep == "u" else None)


def _signed(var: str) -> Factor:
    return Factor(var, -OFFSET)


def decay_keep(tau_steps: float, decay_bits: int = 12) -> int:
    """Multiplier of the ``decay`` op for time constant ``tau``: ``round(2**12 * exp(-1/tau))``."""
    return int(round((1 << decay_bits) * math.exp(-1.0 / tau_steps)))


def spike_trace(dst: str, impulse: int, tau_steps: float) -> list:
    """``dst = clip(round0(dst * exp(-1/tau)) + impulse * s, 0, 127)``: a post spike trace."""
    return [
        ins("decay", dst, dst, decay_keep(tau_steps), note=f"tau {tau_steps:g} steps"),
        ins("mul", "r3", "s", impulse),
        ins("add", dst, dst, "r3"),
        ins("clip", dst, dst, 0, 127),
    ]


def signed_third_factor(dst: str, shift: int) -> list:
    """``dst = clip(64 + ((a3 + 2**(shift-1)) >> shift), 0, 127)``: the delivered signal,
    rounded to nearest (a plain shift floors, which biases every update downwards), offset to
    7 bits."""
    rounding = [ins("add", "r2", "a3", 1 << (shift - 1), note="round to nearest")] if shift else []
    return rounding + [
        ins("shr", "r2", "r2" if shift else "a3", shift),
        ins("add", "r2", "r2", OFFSET),
        ins("clip", dst, "r2", 0, 127),
    ]


def triangle_surrogate(dst: str, shift: int, peak: int = 127) -> list:
    """e-prop's pseudo-derivative ``gamma * max(0, 1 - |v - vth| / vth)`` as
    ``clip(peak - (|v - vth - th| >> shift), 0, 127)``; pick ``2**shift ~ vth / peak``."""
    return [
        ins("sub", "r0", "v", "vth"),
        ins("sub", "r0", "r0", "th"),
        ins("abs", "r0", "r0"),
        ins("shr", "r0", "r0", shift),
        ins("sub", "r0", peak, "r0"),
        ins("clip", dst, "r0", 0, 127),
    ]


def fast_sigmoid_surrogate(dst: str, shift: int) -> list:
    """SuperSpike's ``1 / (1 + |x|)**2`` with ``|x| = |v - vth| / 2**(shift) / 141`` scaled
    to 127, as the maximum of three chords (through x = 0, 0.5, 1.5, 4): no divider needed."""
    return [
        ins("sub", "r0", "v", "vth"),
        ins("abs", "r0", "r0"),
        ins("shr", "r1", "r0", shift),
        ins("sub", "r1", 127, "r1", note="127 - 141 x"),
        ins("shr", "r2", "r0", shift + 2),
        ins("sub", "r2", 74, "r2", note="74 - 36 x"),
        ins("max", "r1", "r1", "r2"),
        ins("shr", "r2", "r0", shift + 4),
        ins("sub", "r2", 29, "r2", note="29 - 9 x"),
        ins("max", "r1", "r1", "r2"),
        ins("clip", dst, "r1", 0, 127),
    ]


def surrogate_shift(vth: int, peak: int = 127, threshold_shift: int = 6) -> int:
    """Shift that maps ``|v - vth| = vth`` to ``peak`` units: ``2**shift ~ (vth << 6) / peak``."""
    return max(0, int(round(math.log2(max(1, (vth << threshold_shift) / peak)))))


def _rule(name: str, programs: list[Program], **kwargs) -> LearningRule:
    return LearningRule(name=name, **{p.target: p for p in programs}, **kwargs)


# -- the library --------------------------------------------------------------------------------


def pair_stdp(
    *,
    a_plus: tuple[int, int] = (1, 0),
    a_minus: tuple[int, int] = (1, 0),
    tau_plus: float = 10.0,
    tau_minus: float = 10.0,
    impulse: float = 16.0,
    t_epoch: int = 4,
    seed: int = 0,
) -> LibraryRule:
    """Pair STDP (Gerstner 1996; Lava ``STDPLoihi``): potentiate by ``x1`` at post spikes,
    depress by ``y1`` at pre spikes. ``a_plus`` / ``a_minus`` are (mantissa, exponent)."""
    dw = Program(
        "dw",
        (
            _p("x0", "y1", mant=-a_minus[0], exp=a_minus[1]),
            _p("y0", "x1", mant=a_plus[0], exp=a_plus[1]),
        ),
    )
    rule = _rule(
        "pair_stdp",
        [dw],
        x1=TraceSpec(impulse, tau_plus),
        y1=TraceSpec(impulse, tau_minus),
        t_epoch=t_epoch,
        rng_seed=seed,
    )
    return LibraryRule(
        "pair_stdp",
        rule,
        None,
        equations=(
            "dw/dt = A+ x_pre(t) S_post(t) - A- y_post(t) S_pre(t)",
            "x_pre, y_post: exponential traces (tau+, tau-) of pre and post spikes",
        ),
        mapping=(
            "pre factor: x1 (impulse, tau+), read at post spikes (dependency y0)",
            "post factor: y1 kept by the engine from back-propagated spikes (two-factor mode)",
            "third factor: none",
        ),
    )


def r_stdp(
    *,
    a_plus: tuple[int, int] = (2, 0),
    a_minus: tuple[int, int] = (2, 0),
    tag_decay_exp: int = -1,
    eta: tuple[int, int] = (1, 0),
    tau_pre: float = 10.0,
    tau_post: float = 10.0,
    impulse: int = 16,
    reward_shift: int = 0,
    seed: int = 0,
) -> LibraryRule:
    """Reward-modulated STDP (Frémaux & Gerstner 2016; Lava ``RewardModulatedSTDP``): STDP
    pairings accumulate in the tag ``t`` (the eligibility trace, decaying by ``2^tag_decay_exp``
    per step) and a reward delivered to the post neuron turns the tag into a weight change."""
    dt = Program(
        "dt",
        (
            _p("x0", "y1", mant=-a_minus[0], exp=a_minus[1]),
            _p("y0", "x1", mant=a_plus[0], exp=a_plus[1]),
            _p("u", "t", mant=-1, exp=tag_decay_exp, k=0),
        ),
    )
    dw = Program("dw", (_p("u", "t", _signed("y2"), mant=eta[0], exp=eta[1], k=0),))
    neuron = NeuronProgram(
        "rstdp_lif",
        tuple(spike_trace("y1", impulse, tau_post) + signed_third_factor("y2", reward_shift)),
        description="y1: post spike trace; y2: 64 + reward delivered to a3",
    )
    rule = _rule(
        "r_stdp",
        [dw, dt],
        x1=TraceSpec(impulse, tau_pre),
        t_epoch=1,
        rng_seed=seed,
        three_factor=True,
        post_traces=(
            PostTrace("y1", "spike_trace", "post spike trace written by the neuron"),
            PostTrace("y2", "reward", "64 + reward (signed third factor)"),
        ),
        routes=(
            Route(
                "reward",
                "the environment (a graded reward source), per neuron or broadcast",
                "graded synapses into a3 (Lava Dense, num_message_bits > 0)",
            ),
        ),
    )
    return LibraryRule(
        "r_stdp",
        rule,
        neuron,
        equations=(
            "de/dt = -e/tau_e + STDP(pre, post)          (eligibility, per synapse)",
            "dw/dt = eta * R(t) * e(t)",
        ),
        mapping=(
            "eligibility e -> tag t: dt = -A- x0*y1 + A+ y0*x1 - 2^k u0*t",
            "pre factor: x1; post factor: y1 written by the neuron program (spike trace)",
            "third factor: reward R -> a3 -> y2 = 64 + R; dw = eta u0*t*(y2-64)",
        ),
    )


def floor_dither(width_shift: int) -> list:
    """``y1`` = 0, 2**s, 0, 2**s, ... while a learning signal is present (``y3 != 64``), else 0.

    The engine's MAC floors after its right shift (``>> s``, ``s = sum of widths + 4 - 15``),
    so a product ``t*(y3-64)`` of either sign loses on average half an accumulator unit per
    evaluation: a bias that drives every weight downwards once the true update is small (the
    rate of e-prop's hidden layer collapses). ``u0*sgn(t)*y1`` with the same widths adds one
    unit every other step wherever ``t > 0``, which cancels it on average."""
    return [
        ins("sub", "r1", 1 << width_shift, "r1", note="toggles 0, 2^s, 0, ..."),
        ins("sub", "r0", "y3", OFFSET),
        ins("sel", "y1", "r0", "r1", 0, note="dither only while a signal is present"),
    ]


def eprop_lif(
    *,
    tau_pre: float = 20.0,
    pre_impulse: float = 16.0,
    surrogate_shift_bits: int = 10,
    elig_scale_exp: int = -6,
    kappa_exp: int = -3,
    eta_exp: int = -7,
    signal_shift: int = 0,
    dither: bool = True,
    seed: int = 0,
) -> LibraryRule:
    """e-prop for LIF neurons (Bellec et al. 2020): eligibility ``e = psi(v) * z_bar``, low-pass
    filtered by the readout's kappa into the tag, times the learning signal ``L_j``.
    ``dither`` adds the product ``u0*sgn(t)*y1`` that cancels the MAC's floor bias
    (:func:`floor_dither`)."""
    dt = Program(
        "dt",
        (
            _p("u", "x1", "y2", exp=elig_scale_exp, k=0),
            _p("u", "t", mant=-1, exp=kappa_exp, k=0),
        ),
    )
    dw_products = [_p("u", "t", _signed("y3"), exp=eta_exp, k=0)]
    post = [
        PostTrace("y2", "psi(v)", "pseudo-derivative, triangle around the threshold"),
        PostTrace("y3", "learning_signal", "64 + L_j"),
    ]
    program = triangle_surrogate("y2", surrogate_shift_bits) + signed_third_factor(
        "y3", signal_shift
    )
    if dither:
        width_shift = product_shift(
            DEFAULT_LOIHI2.factor_width("t") + DEFAULT_LOIHI2.factor_width("y3"), DEFAULT_LOIHI2
        )
        dw_products.append(_p("u", Factor("t", None, True), "y1", exp=eta_exp, k=0))
        post.append(PostTrace("y1", "dither", "0, 2^s, 0, ... while y3 != 64 (floor bias)"))
        program += floor_dither(width_shift)
    dw = Program("dw", tuple(dw_products))
    neuron = NeuronProgram(
        "eprop_lif",
        tuple(program),
        description="y2: psi(v) (triangle); y3: 64 + learning signal from a3"
        + ("; y1: dither against the MAC's floor bias" if dither else ""),
    )
    rule = _rule(
        "eprop_lif",
        [dw, dt],
        x1=TraceSpec(pre_impulse, tau_pre),
        t_epoch=1,
        rng_seed=seed,
        three_factor=True,
        post_traces=tuple(post),
        routes=(
            Route(
                "learning_signal",
                "error neurons: readout neurons computing target - output",
                "feedback synapses B (fixed random or W_out^T; graded Dense) into a3",
            ),
        ),
    )
    return LibraryRule(
        "eprop_lif",
        rule,
        neuron,
        equations=(
            "e_ji(t) = psi_j(t) * z_bar_i(t-1),  z_bar_i = alpha z_bar_i + z_i",
            "e_bar_ji = kappa e_bar_ji + e_ji;  dW_ji = eta * sum_t L_j(t) e_bar_ji(t)",
            "L_j(t) = sum_k B_jk (y*_k(t) - y_k(t))",
        ),
        mapping=(
            "pre factor: x1 = z_bar (impulse, tau_pre)",
            "post factor: y2 = psi(v), written by the neuron program",
            "eligibility filter: tag t, dt = S u0*x1*y2 - 2^kappa_exp u0*t",
            "third factor: L_j -> a3 -> y3 = 64 + L_j; dw = 2^eta_exp u0*t*(y3-64)",
            "floor-bias dither: + 2^eta_exp u0*sgn(t)*y1, y1 = 0, 32, 0, ... (neuron program)",
        ),
    )


def eprop_alif(
    *,
    tau_pre: float = 20.0,
    pre_impulse: float = 16.0,
    surrogate_shift_bits: int = 10,
    rho_exp: int = -6,
    beta_exp: int = -2,
    adapt_tau: float = 64.0,
    adapt_impulse: int = 64,
    adapt_shift: int = 8,
    elig_scale_exp: int = -6,
    kappa_exp: int = -3,
    eta_exp: int = -7,
    signal_shift: int = 0,
    seed: int = 0,
) -> LibraryRule:
    """e-prop for adaptive LIF: the adaptation eligibility ``eps_a`` lives in the second tag
    ``d`` (three words per synapse: w, d, t). The neuron program keeps the adaptation ``a``
    in ``r1`` and raises its threshold by ``th = a << adapt_shift``."""
    dd = Program(
        "dd",
        (
            _p("u", "d", mant=-1, exp=rho_exp, k=0),
            _p("u", "x1", "y2", exp=elig_scale_exp, k=0),
            _p("u", "d", "y2", mant=-1, exp=beta_exp, k=0),
        ),
    )
    dt = Program(
        "dt",
        (
            _p("u", "x1", "y2", exp=elig_scale_exp, k=0),
            _p("u", "d", "y2", mant=-1, exp=beta_exp, k=0),
            _p("u", "t", mant=-1, exp=kappa_exp, k=0),
        ),
    )
    dw = Program("dw", (_p("u", "t", _signed("y3"), exp=eta_exp, k=0),))
    adapt = [
        ins("decay", "r1", "r1", decay_keep(adapt_tau), note=f"a: tau {adapt_tau:g} steps"),
        ins("mul", "r3", "s", adapt_impulse),
        ins("add", "r1", "r1", "r3"),
        ins("shl", "th", "r1", adapt_shift, note="threshold rise beta*a, used next step"),
    ]
    neuron = NeuronProgram(
        "eprop_alif",
        tuple(
            triangle_surrogate("y2", surrogate_shift_bits)
            + adapt
            + signed_third_factor("y3", signal_shift)
        ),
        adaptive=True,
        description="y2: psi(v - A); r1: adaptation a; th: threshold rise; y3: 64 + L_j",
    )
    rule = _rule(
        "eprop_alif",
        [dw, dd, dt],
        x1=TraceSpec(pre_impulse, tau_pre),
        t_epoch=1,
        rng_seed=seed,
        three_factor=True,
        post_traces=(
            PostTrace("y2", "psi(v)", "pseudo-derivative around the adaptive threshold"),
            PostTrace("y3", "learning_signal", "64 + L_j"),
        ),
        routes=eprop_lif().rule.routes,
    )
    return LibraryRule(
        "eprop_alif",
        rule,
        neuron,
        equations=(
            "A_j = vth + beta a_j,  a_j <- rho a_j + z_j",
            "eps_a <- psi z_bar + (rho - psi beta) eps_a;  e = psi (z_bar - beta eps_a)",
            "dW_ji = eta sum_t L_j e_bar_ji",
        ),
        mapping=(
            "eps_a -> tag d: dd = -2^rho_exp u0*d + S u0*x1*y2 - 2^beta_exp u0*d*y2",
            "e_bar -> tag t: dt = S u0*x1*y2 - 2^beta_exp u0*d*y2 - 2^kappa_exp u0*t",
            "d is saturated to 0..255 by the engine: eps_a >= 0 holds while rho >= psi beta",
            "third factor: as e-prop LIF (y3 = 64 + L_j)",
        ),
    )


def superspike(
    *,
    tau_fast: float = 5.0,
    tau_slow: float = 10.0,
    pre_impulse: float = 32.0,
    surrogate_shift_bits: int = 10,
    elig_scale_exp: int = -6,
    alpha_exp: int = -3,
    eta_exp: int = -7,
    signal_shift: int = 0,
    seed: int = 0,
) -> LibraryRule:
    """SuperSpike (Zenke & Ganguli 2018): ``dw = r e_i * alpha * [sigma'(U_i) (eps * S_j)]``;
    the PSP ``eps * S`` is ``x1 - x2`` (two products: a bracket holds one variable), the
    alpha-filtered Hebbian term is the tag, the output error arrives in ``y3``."""
    dt = Program(
        "dt",
        (
            _p("u", "x1", "y2", exp=elig_scale_exp, k=0),
            _p("u", "x2", "y2", mant=-1, exp=elig_scale_exp, k=0),
            _p("u", "t", mant=-1, exp=alpha_exp, k=0),
        ),
    )
    dw = Program("dw", (_p("u", "t", _signed("y3"), exp=eta_exp, k=0),))
    neuron = NeuronProgram(
        "superspike",
        tuple(
            fast_sigmoid_surrogate("y2", surrogate_shift_bits)
            + signed_third_factor("y3", signal_shift)
        ),
        description="y2: fast-sigmoid sigma'(U) (3 chords); y3: 64 + error e_i",
    )
    rule = _rule(
        "superspike",
        [dw, dt],
        x1=TraceSpec(pre_impulse, tau_slow),
        x2=TraceSpec(pre_impulse, tau_fast),
        t_epoch=1,
        rng_seed=seed,
        three_factor=True,
        post_traces=(
            PostTrace("y2", "sigma'(v)", "surrogate derivative (fast sigmoid)"),
            PostTrace("y3", "error", "64 + e_i (output error, or B e for hidden units)"),
        ),
        routes=(
            Route(
                "error",
                "output neurons comparing their activity with the target",
                "feedback synapses (fixed random B or symmetric) into a3",
            ),
        ),
    )
    return LibraryRule(
        "superspike",
        rule,
        neuron,
        equations=(
            "dw_ij/dt = r e_i(t) * alpha * [sigma'(U_i) (eps * S_j)](t)",
            "e_i = alpha * (S*_i - S_i);  sigma'(U) = (1 + |U - theta|)^-2",
        ),
        mapping=(
            "pre factor: eps * S_j = x1 - x2 (tau_slow, tau_fast)",
            "post factor: y2 = sigma'(U) from the neuron program (piecewise linear)",
            "alpha filter of the Hebbian term: tag t, decaying by 2^alpha_exp",
            "third factor: e_i -> a3 -> y3 = 64 + e_i; dw = 2^eta_exp u0*t*(y3-64)",
        ),
    )


def decolle(
    *,
    tau_fast: float = 5.0,
    tau_slow: float = 10.0,
    pre_impulse: float = 32.0,
    surrogate_shift_bits: int = 10,
    eta_exp: int = -5,
    signal_shift: int = 0,
    seed: int = 0,
) -> LibraryRule:
    """DECOLLE (Kaiser, Mostafa & Neftci 2020): each layer has a fixed random readout ``G``
    and a local loss; ``dW_ij = -eta (sum_k G_ki dL/dY_k) sigma'(U_i) P_j`` with no tag: the
    cheapest rule (weight only)."""
    dw = Program(
        "dw",
        (
            _p("u", "x1", "y2", _signed("y3"), exp=eta_exp, k=0),
            _p("u", "x2", "y2", _signed("y3"), mant=-1, exp=eta_exp, k=0),
        ),
    )
    neuron = NeuronProgram(
        "decolle",
        tuple(
            fast_sigmoid_surrogate("y2", surrogate_shift_bits)
            + signed_third_factor("y3", signal_shift)
        ),
        description="y2: sigma'(U); y3: 64 + local error through the fixed readout G",
    )
    rule = _rule(
        "decolle",
        [dw],
        x1=TraceSpec(pre_impulse, tau_slow),
        x2=TraceSpec(pre_impulse, tau_fast),
        t_epoch=1,
        rng_seed=seed,
        three_factor=True,
        post_traces=(
            PostTrace("y2", "sigma'(v)", "surrogate derivative"),
            PostTrace("y3", "local_error", "64 + sum_k G_ki (target_k - Y_k)"),
        ),
        routes=(
            Route(
                "local_error",
                "local readout neurons Y = G S of the same layer, comparing Y with the target",
                "fixed random synapses G^T (graded Dense) back into a3",
            ),
        ),
    )
    return LibraryRule(
        "decolle",
        rule,
        neuron,
        equations=(
            "Y^l = G^l S^l (fixed random readout);  L^l = loss(Y^l, target)",
            "dW_ij = -eta (sum_k G_ki dL/dY_k) sigma'(U_i) P_j,  P = eps * S",
        ),
        mapping=(
            "pre factor: P_j = x1 - x2",
            "post factor: y2 = sigma'(U) from the neuron program",
            "third factor: local error -> a3 -> y3; dw = 2^eta_exp u0*(x1-x2)*y2*(y3-64)",
        ),
    )


def readout_delta(
    *,
    tau_pre: float = 20.0,
    pre_impulse: float = 16.0,
    eta_exp: int = -6,
    centered: bool = False,
    mean_exp: int = -7,
    mantissa: int = 1,
    decimation: int = 0,
    seed: int = 0,
) -> LibraryRule:
    """The output layer of e-prop and DECOLLE: ``dW_kj = eta (y*_k - y_k) z_bar_j`` (a delta
    rule on the presynaptic trace ``x1``); the output neuron computes its own error
    (:func:`error_neuron`, ``y3 = 64 + delta``).

    ``centered``: a delta rule on all-positive spike traces is slow (their common mode
    dominates the curvature). The tag ``t`` then learns the mean of ``x1`` while the error
    neuron's gate ``y1`` is on (127: a full-scale factor keeps the MAC's precision;
    ``dt = 2^m (x1 - t) y1``) and the update uses ``x1 - t``:
    ``dw = eta (x1 - t) delta``. ``t * delta`` is 2 bits wider than ``x1 * delta``, so its
    scale is 2 exponents higher. The MAC's right shift floors, which biases every product by
    half a unit downwards; ``mantissa`` 7 (with exponents 3 lower) makes that bias 7 times
    smaller relative to the update, which matters when two biased products should cancel;
    ``decimation`` k applies the rule every 2**k steps (u_k), which lowers the learning rate
    without shrinking the products (and so without losing precision).
    Pair it with a bias synapse (an always-on source, uncentred)
    that learns the mean output."""
    m, k = mantissa, decimation
    products = [_p("u", "x1", _signed("y3"), mant=m, exp=eta_exp, k=k)]
    progs = []
    post = [PostTrace("y3", "own_error", "64 + (target - output), own computation")]
    if centered:
        products.append(_p("u", "t", _signed("y3"), mant=-m, exp=eta_exp + 2, k=k))
        progs.append(
            Program(
                "dt",
                (
                    _p("u", "x1", "y1", mant=m, exp=mean_exp, k=k),
                    _p("u", "t", "y1", mant=-m, exp=mean_exp + 2, k=k),
                ),
            )
        )
        post.append(PostTrace("y1", "own_error", "127 while a target is delivered (gate)"))
    dw = Program("dw", tuple(products))
    rule = _rule(
        "readout_delta",
        [dw, *progs],
        x1=TraceSpec(pre_impulse, tau_pre),
        t_epoch=1,
        rng_seed=seed,
        three_factor=True,
        post_traces=tuple(post),
        routes=(
            Route("target", "the label source (graded), during the decision window", "into a3"),
        ),
    )
    return LibraryRule(
        "readout_delta",
        rule,
        None,
        equations=(
            "dW_kj = eta sum_t (y*_k(t) - y_k(t)) (z_bar_j(t) - m_j)",
            "m_j: mean of z_bar_j while a target is present (centered), else 0",
        ),
        mapping=(
            "pre factor: x1 = z_bar_j (tau of the readout)",
            "post factor: the output neuron's own error in y3, its target gate in y1",
            "centering: tag t = running mean of x1 under the gate; dw uses (x1 - t)",
        ),
    )


def error_neuron(
    *,
    prediction_shift: int,
    error_limit: int = 63,
    own_shift: int = 0,
    name: str = "error",
    read: str = "v",
    margin: bool = False,
) -> NeuronProgram:
    """Output neuron that computes ``delta = target - (v >> prediction_shift)`` while the
    target input ``a3 = 1 + target`` is on (0 turns the error off), sends ``delta`` on ``aux``
    to feedback synapses and writes ``y3 = 64 + (delta >> own_shift)`` for its own plastic
    input synapses (:func:`readout_delta`). ``read`` "u" predicts from the synaptic current
    instead of the voltage (a spiking readout's voltage is reset by its spikes). ``margin``
    makes the error one-sided, a classifier's hinge: the labelled neuron (target > 0) is pushed
    up only while below its target, the others down only while above 0."""
    if read not in ("v", "u"):
        raise ValueError(f"error_neuron reads v or u, not {read!r}")
    what = "voltage" if read == "v" else "current"
    hinge = (
        [
            ins("gt", "r3", "a3", 1, note="the labelled neuron"),
            ins("max", "r2", "r1", 0),
            ins("min", "r1", "r1", 0),
            ins("sel", "r1", "r3", "r2", "r1", note="hinge: up below target, down above 0"),
        ]
        if margin
        else []
    )
    return NeuronProgram(
        name,
        (
            ins("gt", "r0", "a3", 0, note="decision window: target present"),
            ins("sub", "r1", "a3", 1, note="target level"),
            ins("shr", "r2", read, prediction_shift, note=f"prediction from the readout {what}"),
            ins("sub", "r1", "r1", "r2"),
            ins("clip", "r1", "r1", -error_limit, error_limit),
            *hinge,
            ins("mul", "aux", "r1", "r0", note="delta = target - prediction, 0 outside"),
            ins("shr", "r1", "aux", own_shift),
            ins("add", "r1", "r1", OFFSET),
            ins("clip", "y3", "r1", 0, 127),
            ins("mul", "y1", "r0", 127, note="gate: 127 while a target is delivered"),
        ),
        description="aux: target - prediction while a target is delivered; y3 = 64 + aux >> s;"
        " y1: the gate (127 / 0)",
    )


LIBRARY = {
    "pair_stdp": pair_stdp,
    "r_stdp": r_stdp,
    "eprop_lif": eprop_lif,
    "eprop_alif": eprop_alif,
    "superspike": superspike,
    "decolle": decolle,
    "readout_delta": readout_delta,
}


def library() -> dict[str, LibraryRule]:
    """Every library rule with its default parameters."""
    return {name: make() for name, make in LIBRARY.items()}
