"""OneCycle and Warmup against their formulas written again, and against PyTorch's
torch.optim.lr_scheduler (OneCycleLR, LinearLR + SequentialLR) on the same settings.

The PyTorch comparisons import torch (in the test extra): without it they fail, not skip.
"""

import math

import numpy as np
import pytest

from chainrule import Dense, Sequential, checkpoint, optimizers, schedules
from chainrule.errors import InputError


def one_cycle_by_hand(step, max_lr, total, pct=0.3, div=25.0, final_div=1e4, cos=True, three=False):
    """OneCycleLR's rate at ``step``, written from its description: phase ends at
    pct * total - 1 (and 2 pct total - 2 with three phases) and total - 1."""
    lo = max_lr / div
    final = lo / final_div
    if three:
        ends = [(pct * total - 1, lo, max_lr), (2 * pct * total - 2, max_lr, lo), (total - 1, lo, final)]
    else:
        ends = [(pct * total - 1, lo, max_lr), (total - 1, max_lr, final)]
    start = 0.0
    for i, (end, a, b) in enumerate(ends):
        if step <= end or i == len(ends) - 1:
            t = (step - start) / (end - start)
            return b + (a - b) * (1 + math.cos(math.pi * t)) / 2 if cos else a + (b - a) * t
        start = end


@pytest.mark.parametrize("three", [False, True])
@pytest.mark.parametrize("cos", [True, False])
def test_one_cycle_is_its_formula(cos, three):
    s = optimizers.OneCycle(0.5, total_steps=100, anneal_strategy="cos" if cos else "linear", three_phase=three)
    for step in range(100):
        assert s(step) == pytest.approx(one_cycle_by_hand(step, 0.5, 100, cos=cos, three=three), rel=1e-12)


def test_one_cycle_by_hand_numbers():
    """Defaults: starts at max_lr / 25, peaks at step 0.3 * 100 - 1 = 29, ends at max_lr / 25e4."""
    s = optimizers.OneCycle(1.0, total_steps=100)
    assert s(0) == pytest.approx(0.04, rel=1e-14)
    assert s(29) == pytest.approx(1.0, rel=1e-14)
    assert s(99) == pytest.approx(0.04 / 1e4, rel=1e-12)
    assert s(14.5) == pytest.approx((0.04 + 1.0) / 2, rel=1e-12)  # halfway up a cosine
    assert s(150) == s(99)  # past the last step: the final rate


def test_warmup_is_its_formula():
    cosine = optimizers.CosineDecay(0.1, decay_steps=50)
    w = optimizers.Warmup(cosine, warmup_steps=10, start_factor=0.2)
    for step in range(10):
        assert w(step) == pytest.approx(0.1 * (0.2 + 0.8 * step / 10), rel=1e-14)
    for step in range(10, 80):
        assert w(step) == cosine(step - 10)
    constant = optimizers.Warmup(0.3, warmup_steps=4)
    assert [constant(t) for t in range(6)] == pytest.approx([0.0, 0.075, 0.15, 0.225, 0.3, 0.3], rel=1e-14)


def test_warmup_drives_an_optimizer_from_rate_zero():
    opt = optimizers.SGD(optimizers.Warmup(1.0, warmup_steps=2))
    p = [np.zeros(1)]
    for _ in range(4):
        opt.step(p, [np.ones(1)])
    np.testing.assert_allclose(p[0], -(0.0 + 0.5 + 1.0 + 1.0))


@pytest.mark.parametrize("schedule", [
    optimizers.OneCycle(0.2, total_steps=30, pct_start=0.25, anneal_strategy="linear", div_factor=10,
                        final_div_factor=100, three_phase=True),
    optimizers.Warmup(optimizers.OneCycle(0.2, total_steps=30), warmup_steps=5, start_factor=0.1),
    optimizers.Warmup(optimizers.CosineDecay(0.1, decay_steps=20), warmup_steps=3),
    optimizers.Warmup(0.05, warmup_steps=7),
], ids=["onecycle", "warmup-onecycle", "warmup-cosine", "warmup-constant"])
def test_schedules_round_trip_through_config_and_checkpoints(schedule, tmp_path):
    again = schedules.Schedule.from_config(schedule.config())
    assert [again(t) for t in range(40)] == [schedule(t) for t in range(40)]
    assert repr(again) == repr(schedule)
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = Sequential([Dense(3, 2, "softmax")], seed=0)
    opt = optimizers.SGD(schedule)
    model.fit(X, np.arange(20) % 2, epochs=2, batch_size=5, optimizer=opt, checkpoint=tmp_path / "c.npz")
    saved = checkpoint.optimizer_from(checkpoint.read_checkpoint(tmp_path / "c.npz")[0])
    assert [saved.learning_rate(t) for t in range(40)] == [schedule(t) for t in range(40)]


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(optimizers.Warmup(optimizers.OneCycle(0.2, total_steps=12), warmup_steps=4),
                           momentum=0.9),
    lambda: optimizers.AdamW(optimizers.Warmup(0.01, warmup_steps=5, start_factor=0.1), clip_norm=1.0),
], ids=["sgd-warmup-onecycle", "adamw-warmup"])
def test_a_run_with_a_schedule_resumes_bit_for_bit(make, tmp_path):
    """Two epochs, saved; resumed with the optimizer the checkpoint describes (as chainrule
    train --resume builds it) up to four: the weights of four epochs in one go."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)

    def network():
        return Sequential([Dense(3, 6, "relu"), Dense(6, 2, "softmax")], seed=0)

    straight = network()
    straight.fit(X, y, epochs=4, batch_size=10, optimizer=make())
    network().fit(X, y, epochs=2, batch_size=10, optimizer=make(), checkpoint=tmp_path / "c.npz")
    resumed = network()
    optimizer = checkpoint.optimizer_from(checkpoint.read_checkpoint(tmp_path / "c.npz")[0])
    resumed.fit(X, y, epochs=4, batch_size=10, optimizer=optimizer, resume=tmp_path / "c.npz")
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert a.tobytes() == b.tobytes()


def test_optimizers_reexport_the_schedules():
    for name in ("Schedule", "StepDecay", "ExponentialDecay", "CosineDecay", "OneCycle", "Warmup"):
        assert getattr(optimizers, name) is getattr(schedules, name)


@pytest.mark.parametrize("make, message", [
    (lambda: optimizers.OneCycle(0, 10), r"max_lr must be a positive number; received max_lr=0$"),
    (lambda: optimizers.OneCycle(0.1, 0), r"total_steps must be a positive integer; received total_steps=0$"),
    (lambda: optimizers.OneCycle(0.1, 10, pct_start=1.5),
     r"pct_start must be a number in \[0, 1\]; received pct_start=1.5$"),
    (lambda: optimizers.OneCycle(0.1, 10, anneal_strategy="cosine"),
     r"anneal_strategy must be one of \['cos', 'linear'\]; received anneal_strategy='cosine'$"),
    (lambda: optimizers.OneCycle(0.1, 10, div_factor=-1),
     r"div_factor must be a positive number; received div_factor=-1$"),
    (lambda: optimizers.OneCycle(0.1, 10, three_phase="yes"),
     r"three_phase must be True or False; received three_phase='yes'$"),
    (lambda: optimizers.Warmup(lambda step: 0.1, 10),
     r"learning_rate must be a positive number or a Schedule; received learning_rate=<function"),
    (lambda: optimizers.Warmup(0.0, 10), r"learning_rate must be a positive number or a Schedule; "
                                         r"received learning_rate=0.0$"),
    (lambda: optimizers.Warmup(0.1, 0), r"warmup_steps must be a positive integer; received warmup_steps=0$"),
    (lambda: optimizers.Warmup(0.1, 5, start_factor=2),
     r"start_factor must be a number in \[0, 1\]; received start_factor=2$"),
])
def test_bad_settings(make, message):
    with pytest.raises(InputError, match=message):
        make()


# --- PyTorch as a second reference ---------------------------------------------------------

def torch_rates(make_scheduler, steps, lr):
    """The rate PyTorch's optimizer uses at each of ``steps`` steps, the scheduler stepped
    after every optimizer step as PyTorch's documentation does it."""
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("settings", [
    {},
    {"pct_start": 0.25, "anneal_strategy": "linear"},
    {"three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
    {"three_phase": True, "anneal_strategy": "linear", "pct_start": 0.4},
], ids=["defaults", "linear", "three-phase", "three-phase-linear"])
@pytest.mark.parametrize("total", [1, 7, 100])
def test_one_cycle_equals_pytorch(settings, total):
    ours = optimizers.OneCycle(0.3, total_steps=total, **settings)
    theirs = torch_rates(lambda sched, opt: sched.OneCycleLR(opt, max_lr=0.3, total_steps=total,
                                                             cycle_momentum=False, **settings), total, 0.3)
    np.testing.assert_allclose([ours(t) for t in range(total)], theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("start_factor", [1 / 3, 0.1, 1.0])
def test_warmup_equals_pytorch_linear_then_sequential(start_factor):
    cos = optimizers.CosineDecay(0.1, decay_steps=20)
    ours = optimizers.Warmup(cos, warmup_steps=6, start_factor=start_factor)

    def warm_then_cosine(sched, opt):
        warm = sched.LinearLR(opt, start_factor=start_factor, end_factor=1.0, total_iters=6)
        return sched.SequentialLR(opt, [warm, sched.CosineAnnealingLR(opt, T_max=20)], milestones=[6])

    np.testing.assert_allclose([ours(t) for t in range(26)], torch_rates(warm_then_cosine, 26, 0.1),
                               rtol=1e-12, atol=1e-17)
    constant = optimizers.Warmup(0.1, warmup_steps=6, start_factor=start_factor)
    linear = torch_rates(lambda sched, opt: sched.LinearLR(opt, start_factor=start_factor, total_iters=6), 12, 0.1)
    np.testing.assert_allclose([constant(t) for t in range(12)], linear, rtol=1e-12)
