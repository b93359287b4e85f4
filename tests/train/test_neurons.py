"""Every neuron layer: forward against numpy of its docstring equations, gradients against
finite differences of the smooth relaxation, fused kernel against the autograd loop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from train_reference import layer_params, numpy_layer, random_spikes

from snn_deploy.errors import ModelError
from snn_deploy.train import kernels
from snn_deploy.train.kernels import project_events, project_input
from snn_deploy.train.neurons import ALIF, IF, LI, LIF, LTC, CubaLIF

T, B, N_IN, N_OUT = 30, 4, 6, 5


def make(kind, *, recurrent=False, reset="zero", v_reset=0.0, bias=True, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)

    def rand(lo, hi):
        return lo + (hi - lo) * torch.rand(N_OUT, generator=g)

    common = dict(bias=bias, **kw)
    if kind != "li":
        common.update(recurrent=recurrent, reset=reset, v_reset=v_reset)
    if kind == "lif":
        layer = LIF(N_IN, N_OUT, beta=rand(0.5, 0.95), threshold=rand(0.5, 1.5), **common)
    elif kind == "cuba_lif":
        layer = CubaLIF(
            N_IN,
            N_OUT,
            alpha=rand(0, 0.9),
            beta=rand(0.5, 0.95),
            threshold=rand(0.5, 1.5),
            **common,
        )
    elif kind == "if":
        layer = IF(N_IN, N_OUT, threshold=rand(1.0, 2.0), **common)
    elif kind == "alif":
        layer = ALIF(
            N_IN,
            N_OUT,
            beta=rand(0.5, 0.95),
            rho=rand(0.8, 0.99),
            adapt=rand(0.1, 1.0),
            threshold=rand(0.5, 1.5),
            **common,
        )
    elif kind == "ltc":
        layer = LTC(N_IN, N_OUT, **common)
    else:
        layer = LI(N_IN, N_OUT, alpha=rand(0, 0.8), beta=rand(0.5, 0.95), **common)
    layer = layer.double()
    with torch.no_grad():
        layer.fc.weight.copy_(2.5 * torch.randn(N_OUT, N_IN, generator=g) / N_IN**0.5)
        if layer.rec is not None:
            layer.rec.weight.copy_(torch.randn(N_OUT, N_OUT, generator=g) / N_OUT**0.5)
        if layer.bias is not None:
            layer.bias.copy_(0.1 * torch.randn(N_OUT, generator=g))
    return layer


KINDS = ["lif", "cuba_lif", "if", "alif", "ltc", "li"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("reset, v_reset", [("zero", 0.0), ("zero", -0.2), ("subtract", 0.0)])
def test_forward_equals_numpy_of_the_docstring_equations(kind, recurrent, reset, v_reset):
    if kind == "li" and (recurrent or reset != "zero" or v_reset):
        pytest.skip("LI has no recurrence and no reset")
    layer = make(kind, recurrent=recurrent, reset=reset, v_reset=v_reset)
    x = random_spikes(T, B, N_IN, seed=1, p=0.4)
    with torch.no_grad():
        out = layer(x)
        tr = layer.trace(x)
    ref_out, ref_v = numpy_layer(kind, x.numpy(), layer_params(layer), reset, v_reset)
    if kind == "li":
        np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-12, atol=1e-12)
    else:
        diff = np.argwhere(out.numpy() != ref_out)
        assert diff.size == 0, f"{len(diff)} spikes differ, first [t, b, n] {diff[:5].tolist()}"
        assert 0.02 < ref_out.mean() < 0.8, "neurons should fire, not saturate"
    np.testing.assert_allclose(tr.voltage.numpy(), ref_v, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_gradients_equal_finite_differences_of_the_smooth_relaxation(kind, reset):
    """With sigmoid(k x) for the step and the reset path kept, every layer is smooth and
    autograd (or the fused kernel's hand-written backward) must agree with finite differences."""
    if kind == "li" and reset == "subtract":
        pytest.skip("LI has no reset")
    recurrent = kind != "li"
    kw = {} if kind == "li" else dict(surrogate="sigmoid_relaxation", surrogate_scale=2.0)
    layer = make(kind, recurrent=recurrent, reset=reset, v_reset=0.1 * (reset == "zero"), **kw)
    if kind != "li":
        layer.detach_reset = False
    x = torch.rand(6, 2, N_IN, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    x.requires_grad_()
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in layer.named_parameters()]

    def run(x, *ps):
        return torch.func.functional_call(layer, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-6)


CONFIGS = list(
    itertools.product(
        ["lif", "cuba_lif", "if"],
        [False, True],  # recurrent
        [("zero", 0.0), ("zero", 0.3), ("subtract", 0.0)],
        [True, False],  # detach_reset
        ["fast_sigmoid", "arctan", "sigmoid_relaxation"],
    )
)


@pytest.mark.parametrize("kind, recurrent, reset_v, detach, surrogate", CONFIGS)
def test_fused_kernel_equals_the_autograd_loop(kind, recurrent, reset_v, detach, surrogate):
    reset, v_reset = reset_v
    results = {}
    for impl in ("fused", "autograd"):
        layer = make(
            kind,
            recurrent=recurrent,
            reset=reset,
            v_reset=v_reset,
            surrogate=surrogate,
            surrogate_scale=3.0,
            detach_reset=detach,
            impl=impl,
        )
        x = random_spikes(T, B, N_IN, seed=2, p=0.4).requires_grad_()
        out = layer(x)
        weights = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
        grads = torch.autograd.grad((out * weights).sum(), [x, *layer.parameters()])
        with torch.no_grad():
            tr = layer.trace(x)
        results[impl] = (out.detach(), grads, tr)
    (out_f, g_f, tr_f), (out_a, g_a, tr_a) = results["fused"], results["autograd"]
    assert torch.equal(out_f, out_a), "spikes differ"
    assert torch.equal(tr_f.voltage, tr_a.voltage) and torch.equal(tr_f.current, tr_a.current)
    for gf, ga in zip(g_f, g_a, strict=True):
        torch.testing.assert_close(gf, ga, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_fused_leaky_integrator_equals_the_autograd_loop(alpha):
    results = {}
    for impl in ("fused", "autograd"):
        layer = LI(N_IN, N_OUT, alpha=alpha, beta=0.9, bias=True, impl=impl).double()
        torch.manual_seed(0)
        with torch.no_grad():
            layer.fc.weight.normal_()
            layer.bias.normal_()
        x = torch.randn(T, B, N_IN, dtype=torch.float64, requires_grad=True)
        out = layer(x)
        results[impl] = (
            out.detach(),
            torch.autograd.grad(out.pow(2).sum(), [x, *layer.parameters()]),
        )
    assert torch.equal(results["fused"][0], results["autograd"][0])
    for gf, ga in zip(results["fused"][1], results["autograd"][1], strict=True):
        torch.testing.assert_close(gf, ga, rtol=1e-10, atol=1e-10)


def test_state_carries_over_between_chunks():
    """Running two chunks with the returned state equals one run over both."""
    for kind in KINDS:
        layer = make(kind, recurrent=kind != "li")
        x = random_spikes(T, B, N_IN, seed=4, p=0.4)
        with torch.no_grad():
            whole = layer(x)
            a, state = layer.run(x[:11])
            b, _ = layer.run(x[11:], state)
        assert torch.equal(torch.cat([a, b]), whole), kind


def test_fused_kernel_falls_back_when_constants_need_gradients():
    layer = make("cuba_lif")
    alpha = layer.alpha.clone().requires_grad_()
    x = random_spikes(T, B, N_IN, seed=5, p=0.4)
    out = torch.func.functional_call(layer, {"alpha": alpha}, (x,))
    (g,) = torch.autograd.grad(out.sum(), alpha, allow_unused=True)
    assert g is not None
    fused = make("cuba_lif", impl="fused")
    with pytest.raises(ModelError, match="use impl='autograd'"):
        torch.func.functional_call(fused, {"alpha": alpha}, (x,))


def test_event_projection_equals_the_dense_product():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(32, 200, dtype=torch.float64, generator=g, requires_grad=True)
    for values in ("binary", "graded"):
        x = (torch.rand(7, 5, 200, generator=g, dtype=torch.float64) < 0.05).double()
        if values == "graded":
            x = x * torch.rand(x.shape, generator=g, dtype=torch.float64) * 3
        out = project_events(x, w)
        assert out is not None and out.shape == (7, 5, 32)
        ref = x @ w.t()
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        up = torch.randn(out.shape, dtype=torch.float64, generator=g)
        (gw,) = torch.autograd.grad(out, w, up)
        (gw_ref,) = torch.autograd.grad(ref, w, up)
        torch.testing.assert_close(gw, gw_ref, rtol=1e-12, atol=1e-12)


def test_event_projection_declines_when_it_does_not_pay():
    w = torch.randn(32, 200)
    dense = torch.ones(3, 2, 200)
    assert project_events(dense, w) is None
    assert project_events(torch.zeros(3, 2, 200, requires_grad=True), w) is None
    assert project_events(torch.zeros(3, 2, 20), torch.randn(4, 20)) is None
    empty = project_events(torch.zeros(3, 2, 200), w)
    assert empty is not None and torch.equal(empty, torch.zeros(3, 2, 32))


def test_input_projection_is_chosen_by_a_measurement_made_once_per_kind_of_input(
    monkeypatch, tmp_path
):
    """``"auto"`` times both kernels on the first wide sparse input of a kind and reuses the
    decision; narrow or dense inputs are never timed (the events cannot pay there)."""
    monkeypatch.setattr(kernels, "_CHOICES", {})
    monkeypatch.setenv(kernels.CHOICE_CACHE_ENV, str(tmp_path))
    calls = []
    measure = kernels._measure_projections

    def counted(x, weight, need_grad):
        choice = measure(x, weight, need_grad)
        calls.append(choice)
        return choice

    monkeypatch.setattr(kernels, "_measure_projections", counted)
    g = torch.Generator().manual_seed(1)
    w = torch.randn(16, 300, dtype=torch.float64, generator=g, requires_grad=True)
    x = (torch.rand(9, 4, 300, generator=g, dtype=torch.float64) < 0.05).double()
    for _ in range(2):
        out = project_input(x, w)
        torch.testing.assert_close(out, x @ w.t(), rtol=1e-12, atol=1e-12)
    assert len(calls) == 1 and calls[0].kernel in ("events", "dense")
    assert calls[0].events_ms > 0 and calls[0].dense_ms > 0
    assert calls[0].kernel == ("events" if calls[0].events_ms < calls[0].dense_ms else "dense")
    ((key, choice),) = kernels.projection_choices().items()
    assert choice == calls[0] and key[1:3] == (300, 16) and key[-1] is True
    with torch.no_grad():  # forward only is another kind of input: measured on its own
        project_input(x, w)
    assert len(calls) == 2 and len(kernels.projection_choices()) == 2
    project_input(torch.ones(9, 4, 300, dtype=torch.float64), w)
    project_input(x[..., :100], w[:, :100])
    assert len(calls) == 2


def test_a_measured_choice_is_kept_for_later_processes_on_the_machine(monkeypatch, tmp_path):
    """A new process (an empty in-memory cache) takes the kernel recorded on disk, even where its
    own timing would choose the other: the same training on one machine runs the same kernel."""
    monkeypatch.setenv(kernels.CHOICE_CACHE_ENV, str(tmp_path))
    g = torch.Generator().manual_seed(3)
    w = torch.randn(16, 300, dtype=torch.float64, generator=g, requires_grad=True)
    x = (torch.rand(9, 4, 300, generator=g, dtype=torch.float64) < 0.05).double()
    monkeypatch.setattr(kernels, "_CHOICES", {})
    monkeypatch.setattr(
        kernels, "_measure_projections", lambda *a: kernels.ProjectionChoice("events", 1.0, 2.0)
    )
    project_input(x, w)
    assert len(list(tmp_path.glob("projection-choices-*.json"))) == 1
    monkeypatch.setattr(kernels, "_CHOICES", {})
    monkeypatch.setattr(
        kernels, "_measure_projections", lambda *a: kernels.ProjectionChoice("dense", 2.0, 1.0)
    )
    out = project_input(x, w)
    torch.testing.assert_close(out, x @ w.t(), rtol=1e-12, atol=1e-12)
    ((_, choice),) = kernels.projection_choices().items()
    assert choice == kernels.ProjectionChoice("events", 1.0, 2.0)
    (tmp_path / next(tmp_path.glob("projection-choices-*.json")).name).write_text("{not json")
    monkeypatch.setattr(kernels, "_CHOICES", {})
    project_input(x, w)  # a damaged cache file is measured again and rewritten
    ((_, choice),) = kernels.projection_choices().items()
    assert choice.kernel == "dense"


def test_input_projection_modes_force_a_kernel(monkeypatch):
    monkeypatch.setattr(kernels, "_CHOICES", {})
    g = torch.Generator().manual_seed(2)
    w = torch.randn(8, 20, dtype=torch.float64, generator=g)
    x = (torch.rand(5, 3, 20, generator=g, dtype=torch.float64) < 0.5).double()
    assert torch.equal(project_input(x, w, False), torch.nn.functional.linear(x, w))
    events = project_input(x, w, True)  # narrow and dense: "auto" would not even try
    torch.testing.assert_close(events, x @ w.t(), rtol=1e-12, atol=1e-12)
    assert kernels.projection_choices() == {}
    with pytest.raises(ModelError, match="event_input must be 'auto', True or False, got 'yes'"):
        LIF(3, 4, event_input="yes")


def test_construction_errors():
    with pytest.raises(ModelError, match="unknown reset mode 'soft'"):
        LIF(3, 4, reset="soft")
    with pytest.raises(ModelError, match="unknown surrogate 'nope'"):
        LIF(3, 4, surrogate="nope")
    with pytest.raises(ModelError, match="ALIF has no fused kernel"):
        ALIF(3, 4, impl="fused")
    with pytest.raises(ModelError, match="non-spiking readout and cannot be recurrent"):
        LI(3, 4, recurrent=True)
    with pytest.raises(ModelError, match=r"LIF expects input \[T, B, 3\], got \(2, 3\)"):
        LIF(3, 4)(torch.zeros(2, 3))
    assert LIF(3, 4, surrogate="arctan").surrogate_scale == 2.0
    assert set(LIF(3, 4, recurrent=True).state_dict()) == {
        "fc.weight",
        "rec.weight",
        "beta",
        "threshold",
    }


def test_ltc_gate_biases_set_the_rest_time_constants():
    assert not LTC(3, 4).tau_m.bias.any() and not LTC(3, 4).tau_adp.bias.any()  # sFPTT's zeros
    layer = LTC(3, 4, tau_m_bias=-1.5, tau_adp_bias=2.0)
    assert torch.equal(layer.tau_m.bias, torch.full((4,), -1.5))
    assert torch.equal(layer.tau_adp.bias, torch.full((4,), 2.0))
    torch.manual_seed(7)
    spread = LTC(3, 500, tau_m_bias=(-4.0, 0.0), tau_adp_bias=(0.0, 4.0))
    b_m, b_a = spread.tau_m.bias.detach(), spread.tau_adp.bias.detach()
    assert -4.0 <= float(b_m.min()) < -3.9 and -0.1 < float(b_m.max()) <= 0.0
    assert 0.0 <= float(b_a.min()) < 0.1 and 3.9 < float(b_a.max()) <= 4.0
    # time constants at rest: membrane 1 / sigmoid(b_m), adaptation 1 / (1 - sigmoid(b_a))
    tau_mem = 1.0 / torch.sigmoid(b_m)
    tau_adp = 1.0 / (1.0 - torch.sigmoid(b_a))
    for tau in (tau_mem, tau_adp):
        assert 2.0 <= float(tau.min()) < 2.2 and 50.0 < float(tau.max()) <= 1.0 + np.exp(4.0)
    torch.manual_seed(7)
    again = LTC(3, 500, tau_m_bias=(-4.0, 0.0), tau_adp_bias=(0.0, 4.0))
    assert torch.equal(again.tau_m.bias, spread.tau_m.bias)


@pytest.mark.parametrize(
    "value, message",
    [
        ((0.0, -1.0), r"tau_m_bias needs finite low <= high, got \(0.0, -1.0\)"),
        ((0.0, float("inf")), "tau_m_bias needs finite low <= high"),
        (float("nan"), "tau_m_bias must be finite, got nan"),
        ("-4,0", "tau_m_bias must be a number or a pair"),
        ((1.0, 2.0, 3.0), "tau_m_bias must be a number or a pair"),
    ],
)
def test_ltc_gate_bias_errors(value, message):
    with pytest.raises(ModelError, match=message):
        LTC(3, 4, tau_m_bias=value)
