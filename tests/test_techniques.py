"""Training techniques of the loop: L2 as a logged term, gradient accumulation, EMA of the
weights, mixed precision, scalars logged from inside the step, evaluation every N steps
and the profiler; each is recorded in the run's configuration."""

import glob
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import lowtf as lt
from conftest import make_classification
from lowtf.checkpoints import CheckpointMismatchError
from lowtf.ema import WeightAverage
from headless_chromium import Chromium, find_chromium
from tensorboard_pages import get_json, keep, serve


def data(n=400, seed=0):
    x, y = make_classification(n + 100, seed=seed)
    return (x[:n], y[:n]), (x[n:], y[n:])


def trainer_for(run_dir=None, optimizer=None, **kw):
    kw.setdefault("xla", True)
    return lt.Trainer(lambda: lt.dnn(784, (16,), 10, seed=0),
                      optimizer=optimizer or lt.optimizers.SGD(0.1), run_dir=run_dir,
                      verbose=0, **kw)


def weights(trainer):
    return [v.numpy() for v in trainer.model.trainable_variables]


def scalars(run_dir, split, tag):
    events = EventAccumulator(str(run_dir / split), size_guidance={"tensors": 0})
    events.Reload()
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}


# ---- gradient accumulation ---------------------------------------------------------------

@pytest.mark.numerics
@pytest.mark.parametrize("resident", [None, False])
def test_accumulating_four_micro_batches_equals_one_big_batch(resident):
    train, _ = data()
    big = trainer_for(optimizer=lt.optimizers.Adam(0.01))
    big.fit(train, epochs=2, batch_size=100, resident=resident)
    small = trainer_for(optimizer=lt.optimizers.Adam(0.01), accumulate=4)
    small.fit(train, epochs=2, batch_size=25, resident=resident)
    assert small.step == big.step == 8  # updates, not micro-batches
    for a, b in zip(weights(small), weights(big)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert small.history["loss"] == pytest.approx(big.history["loss"], rel=1e-5)
    assert small.history["accuracy"] == big.history["accuracy"]


def test_accumulation_of_a_batch_that_does_not_divide_weights_every_example_once():
    from lowtf.techniques import micro_batches
    x, y = tf.range(10), tf.range(10)
    parts = micro_batches(x, y, 4)
    assert [p[0].numpy().tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


# ---- L2 ---------------------------------------------------------------------------------

@pytest.mark.numerics
def test_l2_adds_its_gradient_but_is_logged_apart_from_the_loss():
    train, _ = data()
    x, y = train[0][:50], train[1][:50]
    trainer = trainer_for(l2=0.01, xla=False)
    before = weights(trainer)
    model = lt.dnn(784, (16,), 10, seed=0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x)))
    grads = tape.gradient(loss, model.trainable_variables)
    trainer.fit((x, y), epochs=1, batch_size=50, shuffle=False)
    for w0, g, w1, v in zip(before, grads, weights(trainer), model.trainable_variables):
        decay = 2 * 0.01 * w0 if len(v.shape) == 2 else 0.0  # kernels only, not biases
        np.testing.assert_allclose(w1, w0 - 0.1 * (g.numpy() + decay), rtol=1e-5, atol=1e-7)
    kernels = [w for w in before if w.ndim == 2]
    assert trainer.history["l2_loss"][0] == pytest.approx(
        0.01 * sum(float(np.sum(k.astype(np.float64) ** 2)) for k in kernels), rel=1e-5)
    assert trainer.history["loss"][0] == pytest.approx(float(loss), rel=1e-5)  # data loss only


# ---- EMA ----------------------------------------------------------------------------------

def test_weight_average_follows_keras_use_ema():
    import keras
    w = tf.Variable([1.0, -2.0, 3.0])
    kw = keras.Variable(w.numpy())
    ours = WeightAverage([w], 0.9)
    opt = keras.optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.9)
    opt.build([kw])
    for step in range(5):
        g = tf.constant([0.5, step * 1.0, -1.5])
        w.assign_sub(0.1 * g)
        ours.update()
        opt.apply_gradients([(g, kw)])
    np.testing.assert_allclose(ours.averages[0].numpy(),
                               opt._model_variables_moving_average[0].numpy(), rtol=1e-6)


def test_evaluation_uses_the_averages_and_training_never_sees_them(tmp_path):
    train, val = data()
    plain = trainer_for()
    plain.fit(train, val, epochs=2, batch_size=50)
    averaged = trainer_for(tmp_path / "run", ema=0.9)
    averaged.fit(train, val, epochs=2, batch_size=50)
    for a, b in zip(weights(plain), weights(averaged)):  # the same training, bit for bit
        np.testing.assert_array_equal(a, b)
    raw = plain.evaluate(val)
    with_ema = averaged.evaluate(val)
    assert with_ema != raw
    with averaged.evaluation_weights():
        held = weights(averaged)
    for a, b in zip(held, [v.numpy() for v in averaged.loop.ema.averages]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(weights(plain), weights(averaged)):  # swapped back exactly
        np.testing.assert_array_equal(a, b)
    assert averaged.history["val_loss"][-1] == pytest.approx(with_ema["loss"])
    # restore loads the averages by default, the weights themselves on request
    model = lambda: lt.dnn(784, (16,), 10, seed=0)  # noqa: E731
    restored = lt.restore(tmp_path / "run", model=model)
    assert restored.evaluate(*val)["loss"] == pytest.approx(with_ema["loss"], rel=1e-6)
    assert lt.restore(tmp_path / "run", model=model, averaged=False).evaluate(*val)["loss"] \
        == pytest.approx(raw["loss"], rel=1e-6)


def test_export_of_a_run_with_ema_serves_the_averaged_weights(tmp_path):
    train, val = data()
    trainer = trainer_for(tmp_path / "run", ema=0.9)
    trainer.fit(train, val, epochs=2, batch_size=50)
    model = lambda: lt.dnn(784, (16,), 10, seed=0)  # noqa: E731
    averaged = lt.restore(tmp_path / "run", model=model)
    raw = lt.restore(tmp_path / "run", model=model, averaged=False)
    path = lt.export_saved_model(averaged, tmp_path / "saved")
    images = val[0][:20]
    loaded = tf.saved_model.load(path)  # held: its variables live as long as it does
    served = loaded.predict_float(tf.constant(images))["logits"].numpy()
    np.testing.assert_allclose(served, averaged.logits(images), atol=1e-5)
    assert np.abs(served - raw.logits(images)).max() > 1e-3  # not the raw weights
    exported = lt.export_saved_model(tmp_path / "run", tmp_path / "saved_from_run")
    loaded_again = tf.saved_model.load(exported)
    again = loaded_again.predict_float(tf.constant(images))["logits"].numpy()
    np.testing.assert_allclose(again, served, atol=1e-6)  # from the run: the averages too


def test_restoring_averages_from_a_run_without_ema_is_a_clear_error(tmp_path):
    train, _ = data()
    trainer_for(tmp_path / "run").fit(train, epochs=1, batch_size=50)
    with pytest.raises(lt.ConfigError, match="no moving averages.*averaged=False"):
        lt.restore(tmp_path / "run", averaged=True)


# ---- mixed precision ----------------------------------------------------------------------

class Bf16Model(tf.Module):
    """Computes in the policy's dtype and returns its logits in it (bf16 in_top_k failed)."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.random.stateless_normal([784, 10], [1, 2]) * 0.05)
        self.b = tf.Variable(tf.zeros([10]))

    def __call__(self, x, training=False):
        x = lt.precision.cast(tf.reshape(x, [-1, 784]))
        return x @ lt.precision.cast(self.w) + lt.precision.cast(self.b)


def test_mixed_bfloat16_computes_low_and_keeps_variables_losses_and_metrics_float32():
    train, val = data()
    trainer = lt.Trainer(Bf16Model, optimizer="adam", precision="mixed_bfloat16", verbose=0,
                         metrics=("accuracy", "top3_accuracy"))
    seen = []
    original = trainer.loop.loss_fn
    trainer.loop.loss_fn = lambda y, out: (seen.append(out.dtype), original(y, out))[1]
    trainer.fit(train, val, epochs=3, batch_size=50)
    assert tf.float32 in seen  # the outputs reach the loss as float32
    assert trainer.history["val_accuracy"][-1] > 0.8
    assert all(v.dtype == tf.float32 for v in trainer.optimizer.variables + trainer.model.variables
               if v.dtype.is_floating)
    with lt.precision.using("mixed_bfloat16"):
        assert trainer.model(tf.zeros([1, 784])).dtype == tf.bfloat16


def test_mixed_float16_without_a_gpu_is_refused_with_the_alternative():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    with pytest.raises(lt.ConfigError, match="needs a GPU.*mixed_bfloat16"):
        trainer_for(precision="mixed_float16")
    with pytest.raises(lt.ConfigError, match="unknown precision"):
        trainer_for(precision="bfloat16")


def test_the_loss_scale_halves_on_overflow_and_grows_after_good_steps():
    from lowtf.techniques import DynamicLossScale
    scale = DynamicLossScale(initial=8.0, growth_interval=2)
    scale.overflowed()
    assert float(scale.scale.numpy()) == 4.0
    scale.applied()
    scale.applied()
    assert float(scale.scale.numpy()) == 8.0 and int(scale.good_steps.numpy()) == 0


# ---- scalars from inside the step --------------------------------------------------------

class Logging(tf.Module):
    def __init__(self):
        super().__init__()
        self.net = lt.dnn(784, (16,), 10, seed=0)

    def __call__(self, x, training=False):
        logits = self.net(x)
        lt.log_scalar("logit_norm", tf.norm(logits, axis=-1))
        return logits


def test_scalars_logged_in_the_step_reach_tensorboard_without_a_retrace(tmp_path):
    train, _ = data()
    trainer = lt.Trainer(Logging, optimizer=lt.optimizers.SGD(0.1), run_dir=tmp_path / "run",
                         verbose=0, xla=True, log_every_steps=2)
    trainer.fit(train, epochs=2, batch_size=50)
    assert trainer.train_traces == 1
    norms = scalars(tmp_path / "run", "train", "logit_norm")
    assert sorted(norms) == [2, 4, 6, 8, 10, 12, 14, 16]  # every 2 steps, and epoch ends
    assert all(np.isfinite(v) and v > 0 for v in norms.values())
    rates = scalars(tmp_path / "run", "train", "learning_rate")
    assert sorted(rates) == sorted(norms) and list(rates.values()) == pytest.approx([0.1] * 8)
    losses = scalars(tmp_path / "run", "train", "loss")
    assert len(losses) == 8
    # Outside the training step it does nothing: evaluation, prediction, a plain call.
    trainer.model(tf.zeros([2, 784]))
    assert trainer.evaluate(train)["loss"] > 0


# ---- evaluation every N steps, the profiler, the configuration --------------------------

def test_evaluation_every_n_steps_writes_validation_points_within_epochs(tmp_path):
    train, val = data()
    trainer = trainer_for(tmp_path / "run")
    trainer.fit(train, val, epochs=2, batch_size=50, eval_every_steps=3)
    points = scalars(tmp_path / "run", "validation", "accuracy")
    assert sorted(points) == [3, 6, 8, 9, 12, 15, 16]  # every 3 steps, and epoch ends
    with pytest.raises(lt.ConfigError, match="needs validation data"):
        trainer_for().fit(train, epochs=1, batch_size=50, eval_every_steps=3)


def test_the_profiler_traces_its_steps_for_the_profile_tab(tmp_path):
    train, _ = data()
    trainer = trainer_for(tmp_path / "run", steps_per_call=8)
    calls = []
    original = trainer.loop.train
    trainer.loop.train = lambda n, it=None: (calls.append(n), original(n, it))[1]
    trainer.fit(train, epochs=1, batch_size=50, actions=[lt.actions.Profile(2, 5)])
    assert calls == [2, 1, 1, 1, 3]  # up to the start, one marked step per call, the rest
    traces = glob.glob(str(tmp_path / "run" / "plugins" / "profile" / "*" / "*.xplane.pb"))
    assert traces and os.path.getsize(traces[0]) > 0
    with pytest.raises(lt.ConfigError, match="stop .* must be after start"):
        lt.actions.Profile(5, 5)
    # TensorBoard's Profile tab (its plugin's own HTTP API) finds the trace and its tools.
    with serve(tmp_path) as url:
        deadline, runs = time.monotonic() + 120, []
        while time.monotonic() < deadline and not runs:
            try:
                assert get_json(url, "/data/plugins_listing")["profile"]["enabled"]
                runs = get_json(url, "/data/plugin/profile/runs")
            except OSError:
                time.sleep(0.5)
        assert len(runs) == 1 and runs[0].startswith("run/"), runs
        tools = get_json(url, "/data/plugin/profile/run_tools", run=runs[0])
        assert {"overview_page", "op_profile"} <= set(tools), tools
        if find_chromium():  # and a real browser shows the tab with our session
            with Chromium(str(tmp_path / "chromium"), 1280, 900) as browser:
                browser.open(f"{url}/#profile")
                text = browser.wait_for_text([runs[0], "Average Step Time"], timeout=120)
                # the step markers: the overview knows the step time
                assert runs[0] in text and "Average Step Time" in text, text[:2000]
                keep(browser.screenshot(str(tmp_path / "profile.png")),
                     "tensorboard_profile.png")


@pytest.mark.parametrize("change", [{"l2": 0.001}, {"accumulate": 2}, {"ema": 0.99},
                                    {"precision": "mixed_bfloat16"}])
def test_resuming_with_another_technique_is_refused_with_the_difference(tmp_path, change):
    train, _ = data()
    trainer_for(tmp_path / "run").fit(train, epochs=1, batch_size=50)
    with pytest.raises(CheckpointMismatchError, match="techniques"):
        trainer_for(tmp_path / "run", **change).fit(train, epochs=2, batch_size=50)


def test_resuming_with_other_plateau_settings_is_refused(tmp_path):
    train, val = data()
    plateau = lambda factor: lt.actions.ReduceLROnPlateau(factor=factor, patience=1)  # noqa: E731
    trainer_for(tmp_path / "run").fit(train, val, epochs=1, batch_size=50,
                                      actions=[plateau(0.5)])
    with pytest.raises(CheckpointMismatchError, match="actions.*0.5.*0.1"):
        trainer_for(tmp_path / "run").fit(train, val, epochs=2, batch_size=50,
                                          actions=[plateau(0.1)])
    history = trainer_for(tmp_path / "run").fit(train, val, epochs=2, batch_size=50,
                                                actions=[plateau(0.5)])
    assert len(history["loss"]) == 2


@pytest.mark.parametrize("bad, message", [({"l2": -1.0}, "l2 must be"),
                                          ({"accumulate": 0}, "accumulate must be"),
                                          ({"ema": 1.0}, "ema must be a decay"),
                                          ({"log_every_steps": 0}, "log_every_steps")])
def test_bad_technique_settings_are_refused(bad, message):
    with pytest.raises(lt.ConfigError, match=message):
        trainer_for(**bad)


def test_a_schedule_shows_on_the_hparams_dashboard_by_its_class():
    from lowtf.run_config import hparams_of
    S = lt.optimizers.schedules
    optimizer = lt.optimizers.SGD(S.Warmup(10, after=S.CosineDecay(0.1, 100)))
    config = {"optimizer": optimizer.get_config(), "batch_size": 50, "seed": 0,
              "model": {"class": "x.Model"}}
    hparams = hparams_of(config, optimizer.learning_rate.numpy(), 3)
    assert hparams["schedule"] == "Warmup" and "learning_rate" not in hparams
    constant = {**config, "optimizer": lt.optimizers.SGD(0.1).get_config()}
    assert hparams_of(constant, 0.1, 3)["learning_rate"] == pytest.approx(0.1)


def test_the_cli_takes_the_techniques_and_refuses_a_bad_profile_range():
    from lowtf.cli import build_parser
    args = build_parser().parse_args(
        ["train", "--ema", "0.99", "--precision", "mixed_bfloat16", "--accumulate", "2",
         "--l2", "0.001", "--eval-every-steps", "5", "--profile", "2:4"])
    assert (args.ema, args.precision, args.accumulate, args.l2, args.eval_every_steps,
            args.profile) == (0.99, "mixed_bfloat16", 2, 0.001, 5, (2, 4))
    result = subprocess.run([sys.executable, "-m", "lowtf.cli", "train", "--profile", "5:2"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "START:STOP" in result.stderr and "5:2" in result.stderr
