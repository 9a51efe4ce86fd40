"""Each optimizer's update written again from its formula, and the schedules."""

import math

import numpy as np
import pytest

from chainrule import Dense, Sequential, kernels, optimizers
from chainrule.errors import InputError


def run(opt, grads_seq, p0):
    p = [p0.copy()]
    for g in grads_seq:
        opt.step(p, [g])
    return p[0]


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 2)), [rng.normal(size=(3, 2)) for _ in range(4)]


def test_sgd_plain(problem):
    p0, gs = problem
    expected = p0 - 0.1 * sum(gs)
    np.testing.assert_allclose(run(optimizers.SGD(0.1), gs, p0), expected, rtol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_and_nesterov(problem, nesterov):
    p0, gs = problem
    p, v = p0.copy(), np.zeros_like(p0)
    for g in gs:
        v = 0.9 * v - 0.1 * g
        p = p + (0.9 * v - 0.1 * g if nesterov else v)
    np.testing.assert_allclose(run(optimizers.SGD(0.1, momentum=0.9, nesterov=nesterov), gs, p0), p, rtol=1e-13)


def test_sgd_weight_decay_is_l2_on_weights_only():
    W, b = np.ones((2, 2)), np.ones(2)
    opt = optimizers.SGD(0.1, weight_decay=0.5)
    opt.step([W, b], [np.zeros((2, 2)), np.zeros(2)])
    np.testing.assert_allclose(W, 1 - 0.1 * 0.5)
    np.testing.assert_array_equal(b, 1.0)


def test_adam(problem):
    p0, gs = problem
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(gs, 1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g ** 2
        p = p - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(run(optimizers.Adam(0.01), gs, p0), p, rtol=1e-12)


def test_adamw_decouples_weight_decay(problem):
    p0, gs = problem
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(gs, 1):
        p = p * (1 - 0.01 * 0.1)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g ** 2
        p = p - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(run(optimizers.AdamW(0.01, weight_decay=0.1), gs, p0), p, rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_rmsprop(problem, momentum):
    p0, gs = problem
    p, s, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for g in gs:
        s = 0.9 * s + 0.1 * g ** 2
        step = g / (np.sqrt(s) + 1e-7)
        v = momentum * v + step
        p = p - 0.01 * (v if momentum else step)
    np.testing.assert_allclose(run(optimizers.RMSprop(0.01, momentum=momentum), gs, p0), p, rtol=1e-12)


def test_schedules():
    step = optimizers.StepDecay(1.0, step_size=10, gamma=0.5)
    assert [step(0), step(9), step(10), step(25)] == [1.0, 1.0, 0.5, 0.25]
    exp = optimizers.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
    assert exp(20) == pytest.approx(0.25)
    cos = optimizers.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert cos(0) == pytest.approx(1.0) and cos(100) == pytest.approx(0.1) and cos(500) == pytest.approx(0.1)
    assert cos(50) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))


def test_schedule_drives_the_learning_rate():
    opt = optimizers.SGD(optimizers.StepDecay(1.0, step_size=1, gamma=0.5))
    p = [np.zeros(1)]
    for _ in range(3):
        opt.step(p, [np.ones(1)])
    np.testing.assert_allclose(p[0], -(1 + 0.5 + 0.25))
    assert opt.iterations == 3


def test_state_dict_round_trip_continues_identically(problem):
    p0, gs = problem
    a = optimizers.Adam(0.01)
    pa = [p0.copy()]
    for g in gs[:2]:
        a.step(pa, [g])
    b = optimizers.Adam(0.01)
    b.load_state_dict(a.state_dict())
    pb = [pa[0].copy()]
    for g in gs[2:]:
        a.step(pa, [g])
        b.step(pb, [g])
    np.testing.assert_array_equal(pa[0], pb[0])


def test_any_real_number_is_a_learning_rate():
    assert optimizers.SGD(1).learning_rate == 1.0
    assert optimizers.SGD(np.float32(0.5)).learning_rate == 0.5


@pytest.mark.parametrize("make, message", [
    (lambda: optimizers.SGD(0), r"learning_rate must be a number in \(0, inf\); received learning_rate=0$"),
    (lambda: optimizers.SGD(-0.1), r"learning_rate must be a number in \(0, inf\); received learning_rate=-0.1"),
    (lambda: optimizers.SGD(float("nan")), r"learning_rate must be a number in \(0, inf\); received learning_rate=nan"),
    (lambda: optimizers.SGD("fast"), r"learning_rate must be a number in \(0, inf\); received learning_rate='fast'"),
    (lambda: optimizers.SGD(0.1, momentum=1.0), r"momentum must be a number in \[0, 1\); received momentum=1.0"),
    (lambda: optimizers.SGD(0.1, momentum=-0.5), r"momentum must be a number in \[0, 1\); received momentum=-0.5"),
    (lambda: optimizers.SGD(0.1, nesterov=True), r"nesterov=True needs momentum > 0"),
    (lambda: optimizers.Adam(beta_1=1.0), r"beta_1 must be a number in \[0, 1\); received beta_1=1.0"),
    (lambda: optimizers.get("lbfgs"), r"optimizer must be one of \['adam', 'adamw', 'rmsprop', 'sgd'\] or an Optimizer; received optimizer='lbfgs'"),
])
def test_bad_settings(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_clip_norm_scales_the_global_gradient_norm():
    p = [np.zeros(2), np.zeros(1)]
    g = [np.array([3.0, 0.0]), np.array([4.0])]  # global norm 5
    optimizers.SGD(1.0, clip_norm=1.0).step(p, g)
    np.testing.assert_allclose(p[0], [-0.6, 0.0])
    np.testing.assert_allclose(p[1], [-0.8])
    q = [np.zeros(2), np.zeros(1)]
    optimizers.SGD(1.0, clip_norm=10.0).step(q, g)  # under the limit: unchanged
    np.testing.assert_allclose(q[0], [-3.0, 0.0])
    np.testing.assert_array_equal(g[0], [3.0, 0.0])  # the gradients themselves are not modified
    with pytest.raises(InputError, match=r"clip_norm must be a number in \(0, inf\); received clip_norm=0$"):
        optimizers.Adam(clip_norm=0)


@pytest.mark.parametrize("name", sorted(optimizers.OPTIMIZERS))
def test_config_round_trips_through_the_constructor(name):
    opt = optimizers.OPTIMIZERS[name](clip_norm=2.0)
    again = type(opt)(**opt.config())
    assert again.config() == opt.config()


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install chainrule[fast])")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1), lambda: optimizers.SGD(0.1, momentum=0.9),
                                  lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                                  lambda: optimizers.Adam(0.01), lambda: optimizers.AdamW(0.01)],
                         ids=["plain", "momentum", "nesterov", "adam", "adamw"])
def test_compiled_updates_equal_the_numpy_formulas_bit_for_bit(make, dtype, monkeypatch):
    rng = np.random.default_rng(0)
    p0 = [rng.normal(size=(5, 4)).astype(dtype), rng.normal(size=4).astype(dtype)]
    grads = [[rng.normal(size=p.shape).astype(dtype) for p in p0] for _ in range(5)]

    def run_all():
        opt, params = make(), [p.copy() for p in p0]
        for g in grads:
            opt.step(params, g)
        return params

    compiled = run_all()
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    plain = run_all()
    for a, b in zip(compiled, plain, strict=True):
        assert a.dtype == dtype
        assert a.tobytes() == b.tobytes()


def test_schedules_round_trip_through_config():
    for schedule in (optimizers.StepDecay(0.5, step_size=3, gamma=0.5),
                     optimizers.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9),
                     optimizers.CosineDecay(0.1, decay_steps=100, alpha=0.01)):
        opt = optimizers.SGD(schedule, momentum=0.9)
        again = optimizers.SGD(**opt.config())
        assert [again.learning_rate(t) for t in range(0, 200, 7)] == [schedule(t) for t in range(0, 200, 7)]
    with pytest.raises(InputError, match=r"schedule must be one of \['CosineDecay', 'ExponentialDecay', "
                                         r"'OneCycle', 'StepDecay', 'Warmup'\]; received 'Linear'"):
        optimizers.SGD({"schedule": "Linear"})


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.1), lambda: optimizers.SGD(0.1, momentum=0.9),
                                  lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                  lambda: optimizers.Adam(0.01), lambda: optimizers.RMSprop(0.01),
                                  lambda: optimizers.RMSprop(0.01, momentum=0.5),
                                  lambda: optimizers.SGD(0.1, momentum=0.9, weight_decay=0.01)],
                         ids=["plain", "momentum", "nesterov", "adam", "rmsprop", "rmsprop-momentum", "decay"])
def test_one_update_over_the_whole_buffer_equals_one_per_array(make, compiled, monkeypatch):
    """A Sequential keeps W1, b1, W2, ... as views of one buffer (and the gradients in
    another); the step then runs once over the buffers: the same numbers, bit for bit,
    as the step array by array on separate copies, state included."""
    if compiled and not kernels.AVAILABLE:
        pytest.skip("numba is not installed (pip install chainrule[fast])")
    monkeypatch.setattr(kernels, "AVAILABLE", compiled)
    model = Sequential([Dense(6, 5, "relu"), Dense(5, 4, "tanh"), Dense(4, 3, "softmax")], seed=0)
    params, grads = model.parameters(), model.gradients()
    P = optimizers._whole_buffer(params)
    assert P is not None and P.size == model.n_parameters() and optimizers._whole_buffer(grads) is not None
    assert all(p.base is P for p in params)
    separate = [p.copy() for p in params]
    separate_grads = [g.copy() for g in grads]
    assert optimizers._whole_buffer(separate) is None
    whole_opt, array_opt = make(), make()
    rng = np.random.default_rng(1)
    for _ in range(4):
        for g, h in zip(grads, separate_grads, strict=True):
            g[...] = h[...] = rng.normal(size=g.shape)
        whole_opt.step(params, grads)
        array_opt.step(separate, separate_grads)
    for p, q in zip(params, separate, strict=True):
        assert p.tobytes() == q.tobytes()
    state, other = whole_opt.state_dict(), array_opt.state_dict()
    assert state["state"].keys() == other["state"].keys()
    for name in state["state"]:
        for a, b in zip(state["state"][name], other["state"][name], strict=True):
            assert a.shape == b.shape and a.tobytes() == b.tobytes()


def test_whole_buffer_update_survives_a_state_reload_and_new_arrays():
    """load_state_dict hands in separate arrays: the next step packs them again, values
    kept; a step on other arrays (another model) does not touch the first one's."""
    model = Sequential([Dense(3, 4, "relu"), Dense(4, 2, "softmax")], seed=0)
    other = Sequential([Dense(3, 4, "relu"), Dense(4, 2, "softmax")], seed=1)
    opt = optimizers.SGD(0.1, momentum=0.9)
    for g in model.gradients():
        g[...] = 1.0
    opt.step(model.parameters(), model.gradients())
    velocity = [v.copy() for v in opt.state["velocity"]]
    opt.load_state_dict(opt.state_dict())
    before = [p.copy() for p in model.parameters()]
    opt.step(model.parameters(), model.gradients())
    for p, b, v in zip(model.parameters(), before, velocity, strict=True):
        np.testing.assert_array_equal(p, b + (np.float32(0.9) * v - np.float32(0.1)))
    assert optimizers._whole_buffer(opt.state["velocity"]) is not None
    kept = [p.copy() for p in model.parameters()]
    opt.step(other.parameters(), other.gradients())  # other's gradients are zero
    for p, k in zip(model.parameters(), kept, strict=True):
        np.testing.assert_array_equal(p, k)
