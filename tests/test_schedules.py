"""Learning-rate schedules (`lt.optimizers.schedules`), with Keras 3's schedules as the
oracle, and optimizers driven by a schedule."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowtf import optimizers
from lowtf.errors import ConfigError
from lowtf.optimizers import SGD, Adam, get_optimizer, schedules as S

KS = keras.optimizers.schedules
STEPS = np.array(sorted(set(range(0, 130)) | {199, 200, 201, 999, 1000, 1001, 5000, 123456}),
                 dtype=np.int64)

# (ours, Keras's): the same schedule.
PAIRS = [
    (S.PiecewiseConstant([10, 50, 100], [0.1, 0.05, 0.01, 0.001]),
     KS.PiecewiseConstantDecay([10, 50, 100], [0.1, 0.05, 0.01, 0.001])),
    (S.PiecewiseConstant([0], [0.3, 0.2]), KS.PiecewiseConstantDecay([0], [0.3, 0.2])),
    (S.ExponentialDecay(0.1, 30, 0.5), KS.ExponentialDecay(0.1, 30, 0.5)),
    (S.ExponentialDecay(0.1, 30, 0.5, staircase=True),
     KS.ExponentialDecay(0.1, 30, 0.5, staircase=True)),
    (S.ExponentialDecay(0.02, 7, 1.1), KS.ExponentialDecay(0.02, 7, 1.1)),
    (S.InverseTimeDecay(0.1, 20, 0.5), KS.InverseTimeDecay(0.1, 20, 0.5)),
    (S.InverseTimeDecay(0.1, 20, 0.5, staircase=True),
     KS.InverseTimeDecay(0.1, 20, 0.5, staircase=True)),
    (S.CosineDecay(0.1, 100), KS.CosineDecay(0.1, 100)),
    (S.CosineDecay(0.1, 100, alpha=0.1), KS.CosineDecay(0.1, 100, alpha=0.1)),
    (S.CosineDecayRestarts(0.1, 20), KS.CosineDecayRestarts(0.1, 20)),
    (S.CosineDecayRestarts(0.1, 20, t_mul=1.0, m_mul=0.5, alpha=0.1),
     KS.CosineDecayRestarts(0.1, 20, t_mul=1.0, m_mul=0.5, alpha=0.1)),
    (S.CosineDecayRestarts(0.05, 13, t_mul=1.5, m_mul=0.8, alpha=0.2),
     KS.CosineDecayRestarts(0.05, 13, t_mul=1.5, m_mul=0.8, alpha=0.2)),
    # Keras's CosineDecay warmup is our Warmup into a CosineDecay.
    (S.Warmup(20, after=S.CosineDecay(0.1, 100, alpha=0.05)),
     KS.CosineDecay(0.0, 100, alpha=0.05, warmup_target=0.1, warmup_steps=20)),
    (S.Warmup(20, after=S.CosineDecay(0.1, 100), initial=0.01),
     KS.CosineDecay(0.01, 100, warmup_target=0.1, warmup_steps=20)),
]
PAIR_IDS = [repr(ours) for ours, _ in PAIRS]


def keras_rates(schedule, steps):
    return np.array([float(schedule(tf.constant(int(s), tf.int64))) for s in steps])


@pytest.mark.numerics
@pytest.mark.parametrize("ours,theirs", PAIRS, ids=PAIR_IDS)
def test_matches_keras_over_many_steps(ours, theirs):
    rates = ours(tf.constant(STEPS))  # vectorised: the ops are elementwise
    assert rates.dtype == tf.float32
    np.testing.assert_allclose(rates.numpy(), keras_rates(theirs, STEPS), rtol=2e-6,
                               atol=1e-9)
    # One step at a time (a scalar, as the optimizer calls it) gives the same.
    for step in (0, 1, 10, 11, 20, 100, 101):
        assert float(ours(tf.constant(step, tf.int64))) == pytest.approx(
            float(rates.numpy()[list(STEPS).index(step)]), rel=1e-6)  # SIMD cos


def test_warmup_into_constant_and_any_schedule():
    warm = S.Warmup(10, after=0.5, initial=0.1)
    assert isinstance(warm.after, S.Constant)
    rates = warm(tf.range(0, 15, dtype=tf.int64)).numpy()
    expected = [0.1 + 0.4 * s / 10 for s in range(10)] + [0.5] * 5
    np.testing.assert_allclose(rates, expected, rtol=1e-6)
    # The schedule after warmup sees step - warmup_steps.
    after = S.ExponentialDecay(0.2, 5, 0.5)
    warm = S.Warmup(4, after=after)
    np.testing.assert_allclose(warm(tf.constant([0, 2, 4, 9], tf.int64)).numpy(),
                               [0.0, 0.1, 0.2, float(after(5))], rtol=1e-6)


def test_exponential_ramp():
    ramp = S.ExponentialRamp(1e-6, 1.0, 100)
    rates = ramp(tf.range(0, 120, dtype=tf.int64)).numpy()
    assert rates[0] == pytest.approx(1e-6) and rates[100] == pytest.approx(1.0, rel=1e-6)
    assert np.all(np.diff(rates[:101]) > 0) and np.all(rates[100:] == rates[100])
    ratios = rates[1:101] / rates[:100]  # a constant factor per step
    np.testing.assert_allclose(ratios, 10 ** (6 / 100), rtol=1e-4)


@pytest.mark.parametrize("ours", [p[0] for p in PAIRS] + [S.Constant(0.3),
                                                          S.ExponentialRamp(1e-5, 2.0, 50)],
                         ids=PAIR_IDS + ["Constant", "ExponentialRamp"])
def test_config_round_trip(ours):
    config = ours.get_config()
    assert json.loads(json.dumps(config)) == config and config["class"] == type(ours).__name__
    clone = S.from_config(config)
    assert clone == ours and type(clone).from_config(config) == ours
    steps = tf.constant([0, 5, 50, 500], tf.int64)
    np.testing.assert_array_equal(clone(steps).numpy(), ours(steps).numpy())


@pytest.mark.numerics
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_traced_once_and_xla_compilable(jit_compile):
    schedule = S.Warmup(5, after=S.CosineDecayRestarts(0.1, 7, t_mul=2.0, m_mul=0.9))
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function(jit_compile=jit_compile)
    def rate():
        value = schedule(step)
        step.assign_add(1)
        return value

    got = [float(rate()) for _ in range(40)]
    assert rate.experimental_get_tracing_count() == 1
    # 1 + cos(x) near x = pi: kernels (scalar, vectorised, XLA) differ in the last bits.
    np.testing.assert_allclose(got, schedule(tf.range(40, dtype=tf.int64)).numpy(),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("factory,messages", [
    (lambda: S.PiecewiseConstant([10, 5], [1.0, 0.5, 0.1]), ["increase strictly"]),
    (lambda: S.PiecewiseConstant([10], [1.0]), ["len(boundaries) + 1"]),
    (lambda: S.PiecewiseConstant([], [1.0]), ["non-empty"]),
    (lambda: S.PiecewiseConstant([1.5], [1.0, 0.5]), ["boundaries", "int"]),
    (lambda: S.ExponentialDecay(0.1, 0, 0.5), ["decay_steps", "int >= 1"]),
    (lambda: S.ExponentialDecay(0.1, 10, -0.5), ["decay_rate", "-0.5"]),
    (lambda: S.ExponentialDecay(0.1, 10, 0.5, staircase="no"), ["staircase"]),
    (lambda: S.CosineDecay(0, 10), ["learning_rate", "0"]),
    (lambda: S.CosineDecay(0.1, 10, alpha=1.5), ["alpha", "1.5"]),
    (lambda: S.CosineDecayRestarts(0.1, 10, t_mul=0.5), ["t_mul", "0.5"]),
    (lambda: S.Warmup(0, after=0.1), ["warmup_steps"]),
    (lambda: S.Warmup(10, after="cosine"), ["after", "schedule"]),
    (lambda: S.Warmup(10, after=0.1, initial=-1), ["initial", "-1"]),
    (lambda: S.ExponentialRamp(0, 1, 10), ["start"]),
    (lambda: S.from_config({"class": "Linear"}), ["unknown schedule", "Linear",
                                                  "CosineDecay"]),
    (lambda: S.from_config({"name": "CosineDecay"}), ["'class'"]),
    (lambda: S.from_config({"class": "CosineDecay", "initial_learning_rate": 0.1,
                            "decay_steps": 10, "warmup": 3}), ["warmup"]),
])
def test_bad_arguments(factory, messages):
    with pytest.raises(ConfigError) as error:
        factory()
    for message in messages:
        assert message in str(error.value)


# --- optimizers with a schedule -------------------------------------------------------


def gradients(n=12, seed=3):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)]
            for _ in range(n)]


INITIAL = [np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3),
           np.array([0.5, -0.2, 0.1], np.float32)]


@pytest.mark.numerics
@pytest.mark.parametrize("name,kwargs", [("SGD", {"momentum": 0.9}), ("Adam", {}),
                                         ("RMSprop", {}), ("Adagrad", {})])
@pytest.mark.parametrize("jit_compile", [None, True], ids=["eager", "xla"])
def test_optimizer_with_schedule_matches_keras(name, kwargs, jit_compile):
    ours_schedule = S.PiecewiseConstant([3, 7], [0.1, 0.05, 0.01])
    keras_schedule = KS.PiecewiseConstantDecay([3, 7], [0.1, 0.05, 0.01])
    ours = getattr(optimizers, name)(learning_rate=ours_schedule, **kwargs)
    theirs = getattr(keras.optimizers, name)(learning_rate=keras_schedule, **kwargs)
    ours_vars = [tf.Variable(x) for x in INITIAL]
    keras_vars = [tf.Variable(x) for x in INITIAL]
    ours.build(ours_vars)
    apply = ours.apply
    if jit_compile:
        apply = tf.function(lambda g: ours.apply(g, ours_vars), jit_compile=True)
    for i, grads in enumerate(gradients()):
        expected_rate = float(ours_schedule(i))
        if jit_compile:
            apply([tf.constant(g) for g in grads])
        else:
            apply([tf.constant(g) for g in grads], ours_vars)
        theirs.apply_gradients(zip([tf.constant(g) for g in grads], keras_vars))
        for a, b in zip(ours_vars, keras_vars):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
        # learning_rate reads the rate of the last update.
        assert float(ours.learning_rate.numpy()) == pytest.approx(expected_rate)
    if jit_compile:
        assert apply.experimental_get_tracing_count() == 1


def test_learning_rate_before_any_update_is_the_first_rate():
    opt = SGD(S.Warmup(10, after=0.1, initial=0.01))
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.01)
    assert opt.next_learning_rate() == pytest.approx(0.01)


def test_scale_learning_rate_with_schedule_and_constant(tmp_path):
    schedule = S.ExponentialDecay(0.1, 10, 0.5)
    opt = SGD(schedule)
    w = tf.Variable([1.0, 2.0])
    opt.apply([tf.ones(2)], [w])
    assert opt.scale_learning_rate(0.5) == pytest.approx(float(schedule(1)) * 0.5)
    assert float(opt.learning_rate_scale.numpy()) == 0.5
    before = w.numpy()
    opt.apply([tf.ones(2)], [w])
    np.testing.assert_allclose(w.numpy(), before - float(schedule(1)) * 0.5, rtol=1e-6)
    assert float(opt.learning_rate.numpy()) == pytest.approx(float(schedule(1)) * 0.5)
    # The scale is checkpointed state; the config records the schedule as built.
    assert opt.get_config()["learning_rate"] == schedule.get_config()
    path = tf.train.Checkpoint(optimizer=opt, w=w).write(str(tmp_path / "ckpt"))
    keys = [k for k, _ in tf.train.list_variables(path)]
    assert "optimizer/_learning_rate_scale/.ATTRIBUTES/VARIABLE_VALUE" in keys
    clone = SGD.from_config(opt.get_config())
    assert clone.schedule == schedule
    clone_w = tf.Variable([0.0, 0.0])
    clone.build([clone_w])
    tf.train.Checkpoint(optimizer=clone, w=clone_w).read(path).assert_consumed()
    assert float(clone.learning_rate_scale.numpy()) == 0.5
    assert clone.next_learning_rate() == opt.next_learning_rate()

    # A constant rate is assigned; such an optimizer has no scale variable (its
    # checkpoint keys are as before).
    constant = Adam(0.01)
    assert constant.learning_rate_scale is None
    assert constant.scale_learning_rate(0.1) == pytest.approx(0.001)
    assert float(constant.learning_rate.numpy()) == pytest.approx(0.001)
    with pytest.raises(ConfigError, match="factor"):
        constant.scale_learning_rate(0)


def test_setting_a_scheduled_rate_is_refused():
    opt = SGD(S.CosineDecay(0.1, 100))
    with pytest.raises(ConfigError, match="scale_learning_rate"):
        opt.learning_rate = 0.5


def test_refused_update_changes_nothing_with_a_schedule():
    opt = Adam(S.ExponentialDecay(0.1, 2, 0.5))
    w = tf.Variable([1.0, 2.0])
    for _ in range(3):
        opt.apply([tf.ones(2)], [w])
    state = (w.numpy(), opt.get_slot(w, "momentum").numpy(), opt.learning_rate.numpy())

    @tf.function
    def step(grad, ok):
        return opt.apply([grad], [w], if_finite=ok)

    assert not bool(step(tf.constant([np.nan, 1.0]), tf.constant(True)))
    assert not bool(step(tf.ones(2), tf.constant(False)))
    assert int(opt.iterations.numpy()) == 3
    np.testing.assert_array_equal(w.numpy(), state[0])
    np.testing.assert_array_equal(opt.get_slot(w, "momentum").numpy(), state[1])
    assert opt.learning_rate.numpy() == state[2]
    assert bool(step(tf.ones(2), tf.constant(True)))
    assert int(opt.iterations.numpy()) == 4
    assert float(opt.learning_rate.numpy()) == pytest.approx(0.1 * 0.5 ** 1.5)


def test_schedule_through_get_optimizer_and_config_dict():
    schedule = S.Warmup(5, after=S.CosineDecay(0.1, 50))
    opt = get_optimizer("adamw", learning_rate=schedule)
    config = opt.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["learning_rate"]["class"] == "Warmup"
    assert config["learning_rate"]["after"]["class"] == "CosineDecay"
    clone = type(opt).from_config(config)
    assert clone.get_config() == config and clone.schedule == schedule
    # A schedule config dict is accepted where a schedule is.
    assert SGD(learning_rate=schedule.get_config()).schedule == schedule
    with pytest.raises(ConfigError) as error:
        SGD(learning_rate="cosine")
    assert "schedule" in str(error.value) and "'cosine'" in str(error.value)


def test_rates_are_float32_and_finite_for_huge_steps():
    for schedule in (S.CosineDecayRestarts(0.1, 10), S.ExponentialDecay(0.1, 10, 0.5),
                     S.Warmup(10, after=S.CosineDecay(0.1, 10))):
        rate = schedule(tf.constant(2**40, tf.int64))
        assert rate.dtype == tf.float32 and math.isfinite(float(rate))
