"""BPTT, TBPTT and FPTT: the FPTT regularizer and updates, equivalences, short training runs."""

from __future__ import annotations

import pytest
import torch

from snn_deploy.data.sequences import randman
from snn_deploy.errors import ModelError
from snn_deploy.train.algorithms import (
    FPTT,
    bptt_step,
    chunked_step,
    evaluate,
    fit,
    uniform_cross_entropy,
)
from snn_deploy.train.losses import get_readout
from snn_deploy.train.network import SpikingNetwork
from snn_deploy.train.neurons import LI, LIF


def tensors(seed=0, shape=(3, 4)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, dtype=torch.float64, generator=g) for _ in range(3)]


@pytest.mark.parametrize("form, lam_factor", [("paper", 0.5), ("code", 1.0)])
def test_fptt_regularizer_gradient(form, lam_factor):
    """paper: dR/dW = alpha (W - W_bar) - lam / 2; code (sFPTT): alpha (W - W_bar) - lam."""
    w0, w_bar, lam = tensors()
    w = torch.nn.Parameter(w0.clone())
    fptt = FPTT([w], alpha=0.3, form=form)
    fptt.w_bar[0].copy_(w_bar)
    fptt.lam[0].copy_(lam)
    (grad,) = torch.autograd.grad(fptt.penalty(), w)
    torch.testing.assert_close(grad, 0.3 * (w0 - w_bar) - lam_factor * lam)
    if form == "paper":
        expected = 0.15 * (w0 - w_bar - lam / 0.6).pow(2).sum()
        torch.testing.assert_close(fptt.penalty(), expected)


def test_fptt_state_updates_follow_the_paper():
    """lam <- lam - alpha (W - W_bar); W_bar <- 1/2 (W_bar + W) - lam / (2 alpha) at beta = 1/2."""
    w0, w_bar, lam = tensors(1)
    w = torch.nn.Parameter(w0.clone())
    fptt = FPTT([w], alpha=0.2, beta=0.5)
    assert torch.equal(fptt.w_bar[0], w0) and torch.equal(fptt.lam[0], torch.zeros_like(w0))
    fptt.w_bar[0].copy_(w_bar)
    fptt.lam[0].copy_(lam)
    fptt.update()
    lam_new = lam - 0.2 * (w0 - w_bar)
    torch.testing.assert_close(fptt.lam[0], lam_new)
    torch.testing.assert_close(fptt.w_bar[0], 0.5 * (w_bar + w0) - lam_new / 0.4)
    fptt.load_average()
    torch.testing.assert_close(w.detach(), fptt.w_bar[0])


@pytest.mark.parametrize("form", ["paper", "code"])
def test_fptt_converges_to_the_minimizer_of_a_stationary_loss(form):
    """With the same loss at every step, the fixed point is W = W_bar = argmin, lam = 0."""
    target = torch.tensor([1.5, -2.0, 0.25], dtype=torch.float64)
    w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=0.1)
    fptt = FPTT([w], alpha=0.5, form=form)
    for _ in range(600):
        opt.zero_grad()
        (0.5 * (w - target).pow(2).sum() + fptt.penalty()).backward()
        opt.step()
        fptt.update()
    torch.testing.assert_close(w.detach(), target, atol=1e-6, rtol=0)
    torch.testing.assert_close(fptt.w_bar[0], target, atol=1e-6, rtol=0)
    assert float(fptt.lam[0].abs().max()) < 1e-6


def test_fptt_arguments_are_checked():
    with pytest.raises(ModelError, match="unknown FPTT form 'both'"):
        FPTT([], form="both")
    with pytest.raises(ModelError, match="alpha > 0"):
        FPTT([], alpha=0.0)


def small_net(seed=0):
    torch.manual_seed(seed)
    return SpikingNetwork([LIF(12, 10, beta=0.9, recurrent=True), LI(10, 3, beta=0.8)])


def test_tbptt_with_one_chunk_is_bptt():
    x = (torch.rand(16, 8, 12, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    readout = get_readout("max_membrane")
    nets = [small_net(), small_net()]
    opts = [torch.optim.SGD(n.parameters(), lr=0.5) for n in nets]
    loss_a, _ = bptt_step(nets[0], opts[0], x, y, readout)
    loss_b, _ = chunked_step(nets[1], opts[1], x, y, readout, chunk_steps=16)
    assert loss_a == pytest.approx(loss_b)
    for pa, pb in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(nets[0].layers[0].fc.weight, small_net().layers[0].fc.weight)


def test_chunks_update_once_each_and_detach_the_state():
    net = small_net()
    x = (torch.rand(16, 4, 12, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    steps = []
    original = opt.step
    opt.step = lambda: (steps.append(1), original())
    chunked_step(net, opt, x, torch.tensor([0, 1, 2, 0]), get_readout("count"), chunk_steps=5)
    assert len(steps) == 4  # 16 steps in chunks of 5, 5, 5, 1


def test_uniform_cross_entropy_is_the_mean_negative_log_probability():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    p = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
    expected = -torch.log(p).sum(dim=1) / 3
    torch.testing.assert_close(uniform_cross_entropy(logits), expected)
    assert float(uniform_cross_entropy(logits)[1]) == pytest.approx(
        float(torch.log(torch.tensor(3.0)))
    )


def oracle_loss(x, y, readout, chunk_steps, oracle_weight, chunk_loss="end"):
    """``chunked_step``'s loss at learning rate 0 (the weights never move, so every chunk sees
    the network it would see in a single pass)."""
    net = small_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    loss, _ = chunked_step(
        net, opt, x, y, readout, chunk_steps, oracle_weight=oracle_weight, chunk_loss=chunk_loss
    )
    return loss


def test_oracle_term_scores_early_chunks_against_the_uniform_distribution():
    """Chunk k of K pays (1 - (k + 1) / K) * w * CE(uniform, p); the last chunk pays nothing."""
    x = (torch.rand(12, 6, 12, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    readout = get_readout("last_membrane")
    with torch.no_grad():
        first = readout.logits(small_net().run(x[:4]).output)  # logits after chunk 0 of 3
        second = readout.logits(small_net().run(x[:8]).output)  # after chunk 1
    extra = (
        2 / 3 * uniform_cross_entropy(first).mean() + 1 / 3 * uniform_cross_entropy(second).mean()
    )
    base = oracle_loss(x, y, readout, 4, 0.0)
    assert oracle_loss(x, y, readout, 4, 0.25) == pytest.approx(base + 0.25 * float(extra) / 3)
    # One chunk: no early chunk, so the update is exactly the one without the term.
    nets = [small_net(), small_net()]
    for net, w in zip(nets, (0.0, 0.7), strict=True):
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        chunked_step(net, opt, x, y, readout, 12, oracle_weight=w)
    for pa, pb in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(pa, pb)
    # Two chunks: the first chunk's update sees the term.
    nets = [small_net(), small_net()]
    for net, w in zip(nets, (0.0, 0.7), strict=True):
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        chunked_step(net, opt, x, y, readout, 6, oracle_weight=w)
    assert not torch.equal(nets[0].layers[0].fc.weight, nets[1].layers[0].fc.weight)


def test_oracle_term_every_step_weights_each_step():
    """With ``chunk_loss="every_step"``: step t pays (1 - (t + 1) / T) * w * CE(uniform, p_t)."""
    x = (torch.rand(6, 5, 12, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    y = torch.tensor([0, 1, 2, 0, 1])
    readout = get_readout("count")
    with torch.no_grad():
        per_step, _ = readout.stream_steps(None, small_net().run(x).output)
    early = (1 - torch.arange(1, 7, dtype=per_step.dtype) / 6)[:, None]
    u = (early * uniform_cross_entropy(per_step)).mean(dim=1)  # [T]: per-step batch means
    extra = (u[:3].mean() + u[3:].mean()) / 2  # two chunks of 3 steps, averaged over chunks
    base = oracle_loss(x, y, readout, 3, 0.0, "every_step")
    got = oracle_loss(x, y, readout, 3, 0.5, "every_step")
    assert got == pytest.approx(base + 0.5 * float(extra))


@pytest.fixture(scope="module")
def task():
    return randman(num_classes=4, num_units=20, num_steps=20, samples_per_class=40, seed=0)


@pytest.mark.parametrize("algorithm", ["bptt", "tbptt", "fptt"])
def test_every_algorithm_learns_a_small_spike_timing_task(task, algorithm):
    torch.manual_seed(0)
    net = SpikingNetwork([LIF(20, 24, beta=0.9, recurrent=True), LI(24, 4, beta=0.9)])
    before, _ = evaluate(net, task.x_test, task.y_test, "max_membrane")
    records = []
    fit(
        net,
        task.x_train,
        task.y_train,
        algorithm=algorithm,
        readout="max_membrane",
        epochs=12,
        lr=1e-2,
        batch_size=16,
        seed=0,
        chunk_steps=5,
        x_val=task.x_test,
        y_val=task.y_test,
        on_epoch=records.append,
    )
    assert [r["epoch"] for r in records] == list(range(1, 13))
    assert records[-1]["train_accuracy"] > 0.5, records[-1]
    assert records[-1]["val_accuracy"] > max(0.4, before), records[-1]


def test_fit_is_deterministic_and_checks_its_arguments(task):
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = SpikingNetwork([LIF(20, 8, beta=0.9), LI(8, 4, beta=0.9)])
        fit(
            net,
            task.x_train,
            task.y_train,
            algorithm="fptt",
            readout="last_membrane",
            epochs=1,
            lr=1e-2,
            batch_size=32,
            seed=3,
            chunk_steps=7,
            on_epoch=lambda r: None,
        )
        runs.append(net.state_dict())
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k
    net = small_net()
    args = dict(epochs=1, lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(ModelError, match="unknown algorithm 'rtrl'"):
        fit(net, task.x_train, task.y_train, algorithm="rtrl", **args)
    with pytest.raises(ModelError, match="fptt needs chunk_steps >= 1"):
        fit(net, task.x_train, task.y_train, algorithm="fptt", **args)
    with pytest.raises(ModelError, match=r"y_train must have shape \(128,\), got \(127,\)"):
        fit(net, task.x_train, task.y_train[:-1], **args)
    with pytest.raises(ModelError, match="oracle_weight applies to the chunks of tbptt and fptt"):
        fit(net, task.x_train, task.y_train, oracle_weight=0.1, **args)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ModelError, match="oracle_weight must be a finite number >= 0"):
            fit(
                net,
                task.x_train,
                task.y_train,
                algorithm="fptt",
                chunk_steps=4,
                oracle_weight=bad,
                **args,
            )


def saved_bytes_per_backward(algorithm: str, steps: int) -> int:
    """Largest total of the tensors autograd saves for one backward pass (distinct tensors, by
    their own bytes: a saved chunk of the input is a view of the whole input)."""
    torch.manual_seed(0)
    net = SpikingNetwork([LIF(40, 32, beta=0.9, recurrent=True), LI(32, 4, beta=0.9)])
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = (torch.rand(steps, 8, 40, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    seen, sizes = set(), [0]

    def pack(t):
        key = (t.data_ptr(), t.numel() * t.element_size())
        if key not in seen:
            seen.add(key)
            sizes[-1] += key[1]
        return t

    def step_then_count(original=opt.step):
        original()
        seen.clear()
        sizes.append(0)

    opt.step = step_then_count
    readout = get_readout("last_membrane")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if algorithm == "bptt":
            bptt_step(net, opt, x, y, readout)
        else:
            chunked_step(net, opt, x, y, readout, 5, fptt=FPTT(net.parameters()))
    return max(sizes)


def test_fptt_activation_memory_is_flat_in_t_and_bptt_grows():
    """benchmarks/fptt_memory.py measures peak RSS at T = 100..1000; here the same autograd
    figure on a small network: FPTT saves one chunk, BPTT the whole sequence."""
    bptt = [saved_bytes_per_backward("bptt", t) for t in (20, 80)]
    fptt = [saved_bytes_per_backward("fptt", t) for t in (20, 80)]
    assert fptt[0] > 0 and fptt[1] == fptt[0], fptt
    assert bptt[1] > 3 * bptt[0], bptt
