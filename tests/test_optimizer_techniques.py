"""Gradient clipping and decoupled weight decay (AdamW, SGDW), with Keras 3 as the oracle;
their place in the NaN guard and under tf.distribute."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from lowtf import optimizers
from lowtf.errors import ConfigError
from lowtf.optimizers import SGD, SGDW, Adam, AdamW, get_optimizer, schedules

STEPS = 8


def data(seed=7):
    rng = np.random.default_rng(seed)
    initial = [rng.normal(size=(5, 3)).astype(np.float32),
               rng.normal(size=(3,)).astype(np.float32)]
    # Large and small scales: some steps are clipped, some are not.
    grads = [[(rng.normal(size=x.shape) * scale).astype(np.float32) for x in initial]
             for scale in rng.choice([0.05, 0.5, 5.0, 50.0], size=STEPS)]
    return initial, grads


def run_both(ours, theirs, names=("kernel", "bias"), steps=STEPS):
    """Applies the same gradients with both; checks the weights after every step."""
    initial, grads = data()
    ours_vars = [tf.Variable(x, name=n) for x, n in zip(initial, names)]
    keras_vars = [tf.Variable(x, name=n) for x, n in zip(initial, names)]
    for i, g in enumerate(grads[:steps]):
        ours.apply([tf.constant(x) for x in g], ours_vars)
        theirs.apply_gradients(zip([tf.constant(x) for x in g], keras_vars))
        for a, b in zip(ours_vars, keras_vars):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6,
                                       err_msg=f"step {i}")
    return ours_vars, initial


CLIP_CASES = [
    ("SGD", {"momentum": 0.9}, {"clipnorm": 1.0}),
    ("SGD", {}, {"clipvalue": 0.3}),
    ("SGD", {"momentum": 0.5, "nesterov": True}, {"global_clipnorm": 2.0}),
    ("Adam", {}, {"clipnorm": 0.5}),
    ("Adam", {"amsgrad": True}, {"global_clipnorm": 1.0}),
    ("RMSprop", {"centered": True}, {"clipvalue": 1.0}),
    ("Adagrad", {}, {"global_clipnorm": 0.7}),
]


@pytest.mark.numerics
@pytest.mark.parametrize("name,kwargs,clip", CLIP_CASES,
                         ids=[f"{n}-{k}-{c}" for n, k, c in CLIP_CASES])
def test_clipping_matches_keras(name, kwargs, clip):
    ours = getattr(optimizers, name)(learning_rate=0.05, **kwargs, **clip)
    theirs = getattr(keras.optimizers, name)(learning_rate=0.05, **kwargs, **clip)
    run_both(ours, theirs)
    config = ours.get_config()
    assert {k: config[k] for k in clip} == clip
    assert type(ours).from_config(config).get_config() == config


def test_clipping_does_clip():
    w = tf.Variable([0.0, 0.0])
    SGD(1.0, clipnorm=1.0).apply([tf.constant([30.0, 40.0])], [w])
    np.testing.assert_allclose(w.numpy(), [-0.6, -0.8], rtol=1e-6)
    a, b = tf.Variable([0.0]), tf.Variable([0.0])
    SGD(1.0, global_clipnorm=1.0).apply([tf.constant([3.0]), tf.constant([4.0])], [a, b])
    np.testing.assert_allclose([a.numpy()[0], b.numpy()[0]], [-0.6, -0.8], rtol=1e-6)
    w = tf.Variable([0.0, 0.0])
    SGD(1.0, clipvalue=0.5).apply([tf.constant([3.0, -0.1])], [w])
    np.testing.assert_allclose(w.numpy(), [-0.5, 0.1], rtol=1e-6)
    # No clipping setting: configs are as before (checkpoints of old runs resume).
    assert "clipnorm" not in SGD().get_config()


@pytest.mark.parametrize("kwargs,messages", [
    ({"clipnorm": 1.0, "global_clipnorm": 1.0}, ["at most one", "clipnorm",
                                                 "global_clipnorm"]),
    ({"clipnorm": 1.0, "clipvalue": 1.0}, ["at most one", "clipvalue"]),
    ({"clipnorm": 0}, ["clipnorm", "(0.0, inf)"]),
    ({"clipvalue": -1.0}, ["clipvalue", "-1.0"]),
    ({"global_clipnorm": "2"}, ["global_clipnorm", "'2'"]),
])
def test_clipping_arguments_checked(kwargs, messages):
    with pytest.raises(ConfigError) as error:
        Adam(**kwargs)
    for message in messages:
        assert message in str(error.value)


def test_nonfinite_gradient_with_global_clipnorm_is_refused():
    """An Inf gradient makes the global norm Inf; the scale is NaN and the guard refuses
    the update of every variable (Keras's clip_by_global_norm semantics)."""
    a, b = tf.Variable([1.0]), tf.Variable([2.0])
    opt = AdamW(0.1, global_clipnorm=1.0)
    applied = opt.apply([tf.constant([np.inf]), tf.constant([1.0])], [a, b],
                        if_finite=tf.constant(True))
    assert not bool(applied) and int(opt.iterations.numpy()) == 0
    assert a.numpy()[0] == 1.0 and b.numpy()[0] == 2.0


# --- decoupled weight decay -------------------------------------------------------------


@pytest.mark.numerics
@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.1}, {"amsgrad": True,
                                                                  "weight_decay": 0.05},
                                    {"weight_decay": 0.1, "global_clipnorm": 1.0}])
def test_adamw_matches_keras(kwargs):
    ours = AdamW(learning_rate=0.05, **kwargs)
    theirs = keras.optimizers.AdamW(learning_rate=0.05, **kwargs)
    variables, initial = run_both(ours, theirs)
    assert ours.get_config()["weight_decay"] == kwargs.get("weight_decay", 0.004)


@pytest.mark.numerics
@pytest.mark.parametrize("kwargs", [{"weight_decay": 0.1}, {"weight_decay": 0.2,
                                                            "momentum": 0.9},
                                    {"weight_decay": 0.05, "momentum": 0.9,
                                     "nesterov": True, "clipnorm": 1.0}])
def test_sgdw_matches_keras_sgd_with_weight_decay(kwargs):
    """Keras's SGD(weight_decay=...) decays decoupled, like its AdamW."""
    run_both(SGDW(learning_rate=0.05, **kwargs), keras.optimizers.SGD(learning_rate=0.05,
                                                                      **kwargs))


@pytest.mark.numerics
def test_exclude_from_weight_decay_matches_keras():
    ours = AdamW(0.05, weight_decay=0.3, exclude_from_weight_decay=["bias"])
    theirs = keras.optimizers.AdamW(0.05, weight_decay=0.3)
    theirs.exclude_from_weight_decay(var_names=["bias"])
    run_both(ours, theirs)
    assert ours.get_config()["exclude_from_weight_decay"] == ["bias"]


def test_weight_decay_excludes_by_name_and_follows_the_schedule():
    kernel = tf.Variable([1.0, -2.0], name="kernel")
    bias = tf.Variable([1.0, -2.0], name="bias")
    opt = SGDW(schedules.PiecewiseConstant([0], [0.1, 0.5]), weight_decay=0.2,
               exclude_from_weight_decay=("bias",))
    zero = [tf.zeros(2), tf.zeros(2)]
    opt.apply(zero, [kernel, bias])  # lr 0.1: w -= w * 0.2 * 0.1
    np.testing.assert_allclose(kernel.numpy(), [0.98, -1.96], rtol=1e-6)
    np.testing.assert_array_equal(bias.numpy(), [1.0, -2.0])
    opt.apply(zero, [kernel, bias])  # lr 0.5
    np.testing.assert_allclose(kernel.numpy(), [0.98 * 0.9, -1.96 * 0.9], rtol=1e-6)


def test_weight_decay_config_names_and_errors():
    opt = get_optimizer("adamw", learning_rate=0.01, exclude_from_weight_decay=["bias"])
    config = opt.get_config()
    assert type(opt) is AdamW and config["name"] == "AdamW"
    assert json.loads(json.dumps(config)) == config
    assert AdamW.from_config(config).get_config() == config
    sgdw = get_optimizer("sgdw", momentum=0.9)
    assert type(sgdw) is SGDW and sgdw.get_config()["weight_decay"] == 5e-4
    assert SGDW.from_config(sgdw.get_config()).get_config() == sgdw.get_config()
    with pytest.raises(ConfigError, match="weight_decay"):
        AdamW(weight_decay=-0.1)
    with pytest.raises(ConfigError, match="exclude_from_weight_decay"):
        SGDW(exclude_from_weight_decay="bias")
    with pytest.raises(ConfigError, match="weight_decay"):
        Adam.from_config({"learning_rate": 0.1, "weight_decay": 0.1})


def test_weight_decay_overflow_is_refused():
    """The decayed value is among the new values the NaN guard checks: a decay that
    overflows float32 refuses the update (a plain SGD step would be finite here)."""
    w = tf.Variable([np.float32(3e38)])
    opt = SGDW(1.0, weight_decay=3.0)  # w - w * 3.0: w * 3.0 overflows to inf
    assert not bool(opt.apply([tf.zeros(1)], [w], if_finite=tf.constant(True)))
    assert int(opt.iterations.numpy()) == 0 and w.numpy()[0] == np.float32(3e38)
    assert bool(SGD(1.0).apply([tf.zeros(1)], [w], if_finite=tf.constant(True)))


@pytest.mark.numerics
def test_clipping_decay_and_schedule_compile_with_xla_and_match_eager():
    initial, grads = data()
    made = [AdamW(schedules.Warmup(3, after=schedules.CosineDecay(0.05, 10)), weight_decay=0.1,
                  global_clipnorm=1.0, exclude_from_weight_decay=["bias"]) for _ in range(2)]
    variables = [[tf.Variable(x, name=n) for x, n in zip(initial, ("kernel", "bias"))]
                 for _ in range(2)]
    made[1].build(variables[1])
    step = tf.function(lambda g: made[1].apply(g, variables[1], if_finite=tf.constant(True)),
                       jit_compile=True)
    for g in grads:
        made[0].apply([tf.constant(x) for x in g], variables[0])
        assert bool(step([tf.constant(x) for x in g]))
    assert step.experimental_get_tracing_count() == 1
    for a, b in zip(*variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    assert made[0].learning_rate.numpy() == pytest.approx(made[1].learning_rate.numpy())


# --- under tf.distribute: the all-reduced gradients, the global norm once --------------

DISTRIBUTED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from lowtf.optimizers import AdamW, SGD, schedules

    rng = np.random.default_rng(0)
    initial = [rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)]
    # per-replica gradients: replica r gets grads[r]; the update uses their sum
    grads = [[(rng.normal(size=x.shape) * 10).astype(np.float32) for x in initial]
             for _ in range(2)]

    def make(strategy):
        with strategy.scope():
            variables = [tf.Variable(x, name=n) for x, n in zip(initial, ("kernel", "bias"))]
            opts = [AdamW(schedules.ExponentialDecay(0.05, 2, 0.5), weight_decay=0.1,
                          global_clipnorm=1.0,
                          exclude_from_weight_decay=["bias"]),
                    SGD(0.05, momentum=0.9, clipnorm=0.5)]
            for opt in opts:
                opt.build(variables)
        return variables, opts

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    variables, opts = make(mirrored)
    per_replica = [tf.constant(np.stack([grads[0][i], grads[1][i]])) for i in range(2)]

    @tf.function
    def step(opt):
        def replica_fn(*stacked):
            ctx = tf.distribute.get_replica_context()
            mine = [s[ctx.replica_id_in_sync_group] for s in stacked]
            summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, mine)
            return ctx.merge_call(lambda strategy, g: opt.apply(
                g, variables, if_finite=tf.constant(True)), args=(summed,))
        return mirrored.run(replica_fn, args=tuple(per_replica))

    single_vars, single_opts = make(tf.distribute.get_strategy())
    summed = [tf.constant(grads[0][i] + grads[1][i]) for i in range(2)]
    for k in range(3):
        for opt, single in zip(opts, single_opts):
            step(opt)
            single.apply(summed, single_vars)
    diffs = [float(np.max(np.abs(np.asarray(c) - s.numpy())))
             for v, s in zip(variables, single_vars)
             for c in mirrored.experimental_local_results(v)]
    diffs.append(abs(float(opts[0].learning_rate.numpy())
                     - float(single_opts[0].learning_rate.numpy())))
    print(json.dumps({"diffs": diffs, "replicas": mirrored.num_replicas_in_sync,
                      "iterations": [int(o.iterations.numpy()) for o in opts]}))
""")


@pytest.mark.numerics
def test_clipping_and_decay_under_mirrored_strategy_equal_one_device():
    result = subprocess.run([sys.executable, "-c", DISTRIBUTED], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["iterations"] == [3, 3]
    assert max(report["diffs"]) < 1e-6, report
