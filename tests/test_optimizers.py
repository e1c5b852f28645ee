"""Tests of lowtf.optimizers, with Keras 3 optimizers as the numerical oracle."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowtf import optimizers
from lowtf.errors import ConfigError
from lowtf.optimizers import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    Optimizer,
    RMSprop,
    get_optimizer,
)

pytestmark = pytest.mark.numerics  # also run with oneDNN switched the other way

STEPS = 20
RTOL = ATOL = 1e-6

CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.5, "epsilon": 1e-5}),
    ("Adagrad", {"initial_accumulator_value": 0.0, "epsilon": 0.1}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"centered": True, "momentum": 0.3, "rho": 0.8}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-4}),
]
CASE_IDS = [f"{name}-{kwargs}" for name, kwargs in CASES]


def make_case(name, kwargs, learning_rate=0.05):
    """Returns (lowtf optimizer, Keras optimizer) with the same hyperparameters."""
    kwargs = dict(kwargs, learning_rate=learning_rate)
    ours = getattr(optimizers, name)(**kwargs)
    return ours, getattr(keras.optimizers, name)(**kwargs)


@pytest.fixture(scope="module")
def data():
    """Initial values of a matrix and a vector, and STEPS random gradients for them."""
    rng = np.random.default_rng(1234)
    initial = [
        rng.normal(size=(5, 3)).astype(np.float32),
        rng.normal(size=(3,)).astype(np.float32),
    ]
    # Scales vary per step so the adaptive optimizers see changing magnitudes.
    gradients = []
    for _ in range(STEPS):
        scale = rng.uniform(0.01, 3.0)
        gradients.append(
            [(rng.normal(size=x.shape) * scale).astype(np.float32) for x in initial]
        )
    return initial, gradients


def new_variables(initial):
    return [tf.Variable(x) for x in initial]


def assert_same(actual, expected, step=None):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(e), rtol=RTOL, atol=ATOL, err_msg=f"step {step}"
        )


# --- numerical agreement with Keras -------------------------------------------


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_matches_keras_every_step(data, name, kwargs):
    initial, gradients = data
    ours, theirs = make_case(name, kwargs)
    ours_vars, keras_vars = new_variables(initial), new_variables(initial)
    for step, grads in enumerate(gradients):
        if step == STEPS // 2:  # a schedule changing the rate mid-run
            ours.learning_rate.assign(0.02)
            theirs.learning_rate.assign(0.02)
        ours.apply([tf.constant(g) for g in grads], ours_vars)
        theirs.apply_gradients(zip([tf.constant(g) for g in grads], keras_vars))
        assert_same(
            [v.numpy() for v in ours_vars], [k.numpy() for k in keras_vars], step
        )
    assert int(ours.iterations.numpy()) == STEPS
    # The weights did move: the comparison is not trivially of initial values.
    assert not np.allclose(ours_vars[0].numpy(), initial[0])


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam"])
def test_defaults_match_keras(name):
    ours = getattr(optimizers, name)().get_config()
    theirs = getattr(keras.optimizers, name)().get_config()
    for key, value in ours.items():
        if key != "name":
            assert theirs[key] == pytest.approx(value), key


# --- tf.function and XLA -------------------------------------------------------


GRAPH_CASES = [
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adagrad", {}),
    ("RMSprop", {"centered": True, "momentum": 0.3, "rho": 0.8}),
    ("Adam", {"amsgrad": True}),
]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize(
    "name,kwargs", GRAPH_CASES, ids=[f"{n}-{k}" for n, k in GRAPH_CASES]
)
def test_tf_function_matches_keras_and_traces_once(data, name, kwargs, jit_compile):
    initial, gradients = data
    ours, theirs = make_case(name, kwargs)
    ours_vars, keras_vars = new_variables(initial), new_variables(initial)
    ours.build(ours_vars)

    @tf.function(jit_compile=jit_compile)
    def step(grads):
        ours.apply(grads, ours_vars)

    for i, grads in enumerate(gradients):
        step([tf.constant(g) for g in grads])
        theirs.apply_gradients(zip([tf.constant(g) for g in grads], keras_vars))
        assert_same([v.numpy() for v in ours_vars], [k.numpy() for k in keras_vars], i)
    assert step.experimental_get_tracing_count() == 1
    assert int(ours.iterations.numpy()) == STEPS


def test_apply_in_tf_function_without_build_raises_clear_error():
    opt = Adam()
    variables = [tf.Variable([1.0, 2.0])]

    @tf.function
    def step():
        opt.apply([tf.constant([0.1, 0.2])], variables)

    expected = r"optimizer\.build\(model\.trainable_variables\)"
    with pytest.raises(ConfigError, match=expected):
        step()
    assert not opt.built


def test_build_inside_tf_function_raises():
    opt = SGD(momentum=0.9)
    variables = [tf.Variable([1.0])]

    @tf.function
    def build():
        opt.build(variables)

    with pytest.raises(ConfigError, match="eagerly"):
        build()
    assert not opt.built


def test_learning_rate_assignment_takes_effect_without_retracing():
    opt = SGD(learning_rate=0.1)
    w = tf.Variable(0.0)
    opt.build([w])

    @tf.function
    def step():
        opt.apply([tf.constant(1.0)], [w])

    step()
    assert w.numpy() == pytest.approx(-0.1)
    opt.learning_rate.assign(0.5)
    step()
    assert w.numpy() == pytest.approx(-0.6)
    opt.learning_rate = 0.25  # the setter assigns into the same variable
    step()
    assert w.numpy() == pytest.approx(-0.85)
    assert isinstance(opt.learning_rate, tf.Variable)
    assert opt.learning_rate.dtype == tf.float32 and not opt.learning_rate.trainable
    assert step.experimental_get_tracing_count() == 1
    with pytest.raises(ConfigError, match="learning_rate"):
        opt.learning_rate = -1.0
    with pytest.raises(ConfigError, match="learning_rate"):
        opt.learning_rate = "fast"
    assert opt.learning_rate.numpy() == 0.25


# --- build and apply contract -----------------------------------------------------


def test_eager_apply_builds_automatically_and_counts_iterations():
    opt = RMSprop(momentum=0.5, centered=True)
    variables = [tf.Variable(tf.ones([2, 2])), tf.Variable(tf.ones([2]))]
    assert not opt.built
    opt.apply([tf.ones([2, 2]), tf.ones([2])], variables)
    assert opt.built
    assert opt.iterations.dtype == tf.int64 and int(opt.iterations.numpy()) == 1
    for name in ("velocity", "momentum", "average_gradient"):
        assert opt.get_slot(variables[1], name).shape == (2,)
    with pytest.raises(ConfigError, match="no slot"):
        opt.get_slot(variables[0], "velocity_hat")


def test_build_is_idempotent_for_same_variables_and_rejects_others():
    opt = Adam()
    variables = [tf.Variable(tf.zeros([3])), tf.Variable(tf.zeros([2, 2]))]
    opt.build(variables)
    slot = opt.get_slot(variables[0], "momentum")
    opt.build(variables)
    opt.build(list(variables))
    assert opt.get_slot(variables[0], "momentum") is slot
    with pytest.raises(ConfigError, match="already built"):
        opt.build([variables[0]])
    with pytest.raises(ConfigError, match="already built"):
        opt.build([tf.Variable(tf.zeros([3])), variables[1]])


@pytest.mark.parametrize(
    "variables,match",
    [
        ([], "no variables"),
        ([tf.constant([1.0])], "tf.Variable"),
        ([tf.Variable([1, 2])], "float"),
    ],
    ids=["empty", "tensor", "int"],
)
def test_build_rejects_bad_variables(variables, match):
    with pytest.raises(ConfigError, match=match):
        SGD().build(variables)


def test_build_rejects_duplicates():
    v = tf.Variable([1.0])
    with pytest.raises(ConfigError, match="more than once"):
        SGD().build([v, v])


def test_apply_validation_errors():
    opt = SGD(momentum=0.9)
    a = tf.Variable([1.0, 2.0], name="kernel")
    b = tf.Variable(3.0, name="bias")
    opt.build([a, b])
    with pytest.raises(ConfigError, match="2 gradients for 1 variables"):
        opt.apply([tf.ones([2]), tf.ones([])], [a])
    with pytest.raises(ConfigError, match="'bias.*' is None"):
        opt.apply([tf.ones([2]), None], [a, b])
    with pytest.raises(ConfigError, match="not passed to optimizer.build"):
        opt.apply([tf.ones([])], [tf.Variable(1.0, name="stranger")])
    with pytest.raises(ConfigError, match="shape"):
        opt.apply([tf.ones([3])], [a])
    assert int(opt.iterations.numpy()) == 0
    assert a.numpy().tolist() == [1.0, 2.0]


def test_subset_of_built_variables_in_any_order():
    initial = [np.arange(3, dtype=np.float32), np.float32(5.0)]
    ours = new_variables(initial)
    reference = new_variables(initial)
    opt, ref_opt = Adam(learning_rate=0.1), Adam(learning_rate=0.1)
    opt.build(ours)
    ref_opt.build(reference)
    opt.apply([tf.constant(2.0), tf.ones([3])], [ours[1], ours[0]])
    ref_opt.apply([tf.ones([3]), tf.constant(2.0)], reference)
    assert_same([v.numpy() for v in ours], [v.numpy() for v in reference])
    opt.apply([tf.constant(1.0)], [ours[1]])
    assert ours[0].numpy() == pytest.approx(reference[0].numpy())


def test_indexed_slices_gradient_equals_dense():
    table = [tf.Variable(tf.ones([4, 2])), tf.Variable(tf.ones([4, 2]))]
    opt_sparse, opt_dense = Adagrad(learning_rate=0.1), Adagrad(learning_rate=0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(table[0], [0, 2, 2]) ** 2)
    (sparse,) = tape.gradient(loss, [table[0]])
    assert isinstance(sparse, tf.IndexedSlices)
    opt_sparse.apply([sparse], [table[0]])
    opt_dense.apply([tf.convert_to_tensor(sparse)], [table[1]])
    assert_same([table[0].numpy()], [table[1].numpy()])


def test_slots_follow_variable_dtype():
    w = tf.Variable(np.ones(3), dtype=tf.float64)
    opt = Adam()
    opt.apply([tf.ones([3], tf.float64)], [w])
    assert opt.get_slot(w, "velocity").dtype == tf.float64
    assert w.dtype == tf.float64 and np.all(w.numpy() < 1.0)


def test_build_under_strategy_scope_creates_distributed_slots():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        w = tf.Variable(tf.zeros([2]))
        opt = SGD(momentum=0.9)
        opt.build([w])
    assert isinstance(opt.get_slot(w, "momentum"), tf.distribute.DistributedValues)


# --- checkpoints ---------------------------------------------------------------


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_checkpoint_round_trip(tmp_path, data, name, kwargs):
    initial, gradients = data
    opt = getattr(optimizers, name)(learning_rate=0.05, **kwargs)
    variables = new_variables(initial)
    opt.build(variables)
    checkpoint = tf.train.Checkpoint(optimizer=opt, vars=variables)

    # Slots are saved before any step.
    path = checkpoint.write(str(tmp_path / "before"))
    keys = [key for key, _ in tf.train.list_variables(path)]
    for index in range(len(variables)):
        for slot in opt.slot_names:
            assert f"optimizer/_slots/{index}/{slot}/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE" in keys
    assert "optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE" in keys

    for grads in gradients[:3]:
        opt.apply([tf.constant(g) for g in grads], variables)
    path = checkpoint.write(str(tmp_path / "after"))

    restored_opt = getattr(optimizers, name)(learning_rate=0.5, **kwargs)
    restored_vars = [tf.Variable(tf.zeros_like(x)) for x in initial]
    restored_opt.build(restored_vars)
    tf.train.Checkpoint(optimizer=restored_opt, vars=restored_vars).read(
        path
    ).assert_consumed()
    assert restored_opt.learning_rate.numpy() == opt.learning_rate.numpy()
    assert int(restored_opt.iterations.numpy()) == 3

    last = [tf.constant(g) for g in gradients[3]]
    opt.apply(last, variables)
    restored_opt.apply(last, restored_vars)
    for v, r in zip(variables, restored_vars):
        np.testing.assert_array_equal(v.numpy(), r.numpy())
        for slot in opt.slot_names:
            np.testing.assert_array_equal(
                opt.get_slot(v, slot).numpy(), restored_opt.get_slot(r, slot).numpy()
            )


# --- configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "factory,messages",
    [
        (lambda: SGD(learning_rate=0), ["learning_rate", "0", "(0.0, inf)"]),
        (lambda: SGD(learning_rate=float("nan")), ["learning_rate", "nan"]),
        (lambda: SGD(learning_rate="0.1"), ["learning_rate", "'0.1'"]),
        (lambda: SGD(learning_rate=True), ["learning_rate", "True"]),
        (lambda: SGD(momentum=1.0), ["momentum", "1.0", "[0.0, 1.0)"]),
        (lambda: SGD(momentum=-0.1), ["momentum", "-0.1", "[0.0, 1.0)"]),
        (lambda: SGD(nesterov=True), ["nesterov", "momentum", "(0, 1)"]),
        (
            lambda: SGD(momentum=0.9, nesterov="yes"),
            ["nesterov", "'yes'", "True or False"],
        ),
        (
            lambda: Adagrad(initial_accumulator_value=-1),
            ["initial_accumulator_value", "-1", "[0.0, inf)"],
        ),
        (lambda: Adagrad(epsilon=0.0), ["epsilon", "0.0", "(0.0, inf)"]),
        (lambda: RMSprop(rho=1.5), ["rho", "1.5", "[0.0, 1.0)"]),
        (lambda: RMSprop(momentum=2), ["momentum", "2", "[0.0, 1.0)"]),
        (lambda: RMSprop(centered=1), ["centered", "1"]),
        (lambda: Adam(beta_1=-0.5), ["beta_1", "-0.5", "[0.0, 1.0)"]),
        (lambda: Adam(beta_2=1.0), ["beta_2", "1.0", "[0.0, 1.0)"]),
        (lambda: Adam(epsilon=-1e-7), ["epsilon", "-1e-07", "(0.0, inf)"]),
        (lambda: Adam(amsgrad=None), ["amsgrad", "None"]),
        (lambda: Adam(name="my adam"), ["name", "'my adam'"]),
    ],
)
def test_hyperparameter_validation(factory, messages):
    with pytest.raises(ConfigError) as error:
        factory()
    for message in messages:
        assert message in str(error.value)


@pytest.mark.parametrize(
    "name,cls,expected",
    [
        ("sgd", SGD, {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}),
        ("gd", SGD, {"momentum": 0.0}),
        ("momentum", SGD, {"momentum": 0.9, "nesterov": False}),
        ("nesterov", SGD, {"momentum": 0.9, "nesterov": True}),
        ("adagrad", Adagrad, {"learning_rate": 0.001, "epsilon": 1e-7}),
        ("rmsprop", RMSprop, {"rho": 0.9, "centered": False}),
        ("Adam", Adam, {"learning_rate": 0.001, "beta_2": 0.999}),
    ],
)
def test_get_optimizer_names(name, cls, expected):
    opt = get_optimizer(name)
    assert type(opt) is cls
    config = opt.get_config()
    for key, value in expected.items():
        assert config[key] == value


def test_get_optimizer_kwargs_instances_and_errors():
    assert OPTIMIZERS == (
        "sgd", "gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "sgdw"
    )
    opt = get_optimizer("momentum", learning_rate=0.1, momentum=0.5)
    config = opt.get_config()
    assert config["momentum"] == 0.5 and config["learning_rate"] == 0.1
    adam = Adam()
    assert get_optimizer(adam) is adam
    assert isinstance(adam, Optimizer)
    with pytest.raises(ConfigError, match="arguments"):
        get_optimizer(adam, learning_rate=0.1)
    with pytest.raises(ConfigError) as error:
        get_optimizer("adamax")
    assert "'adamax'" in str(error.value)
    for name in OPTIMIZERS:
        assert name in str(error.value)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        get_optimizer(None)
    with pytest.raises(ConfigError, match="beta1"):
        get_optimizer("adam", beta1=0.5)


@pytest.mark.parametrize("name,kwargs", CASES, ids=CASE_IDS)
def test_config_round_trip(name, kwargs):
    opt = getattr(optimizers, name)(learning_rate=0.05, **kwargs)
    config = opt.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["name"] == name and config["learning_rate"] == 0.05
    for key, value in kwargs.items():
        assert config[key] == value
    clone = type(opt).from_config(config)
    assert type(clone) is type(opt) and clone.get_config() == config


def test_config_reports_assigned_learning_rate_and_rejects_unknown_keys():
    opt = RMSprop(name="rms")
    opt.learning_rate.assign(0.25)
    config = opt.get_config()
    assert config["learning_rate"] == 0.25 and config["name"] == "rms"
    with pytest.raises(ConfigError, match="beta_1"):
        RMSprop.from_config({**config, "beta_1": 0.9})
