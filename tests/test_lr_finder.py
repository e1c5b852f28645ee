"""The learning-rate range test (`lt.lr_finder`) and `lowtf lr-find`."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import lowtf as lt
from conftest import make_classification
from lowtf.errors import ConfigError
from lowtf.lr_finder import suggest


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lrf") / "run"
    x, y = make_classification(600, seed=1)
    model = lt.dnn(784, (32,), 10, seed=0)
    before = [v.numpy().copy() for v in model.variables]
    optimizer = lt.optimizers.SGD(0.5, momentum=0.9)
    result = lt.lr_finder.find_learning_rate(model, (x, y), optimizer=optimizer, start=1e-5,
                                             end=10.0, steps=80, batch_size=50,
                                             run_dir=run_dir, verbose=0)
    return result, run_dir, model, before, optimizer


def test_records_increasing_rates_and_finite_losses(found):
    result = found[0]
    assert len(result.rates) == 80 and result.stop_reason == "80 steps done"
    assert np.all(np.diff(result.rates) > 0)
    assert result.rates[0] == pytest.approx(1e-5) and result.rates[-1] == pytest.approx(10.0)
    assert np.all(np.isfinite(result.losses)) and np.all(np.isfinite(result.raw_losses))
    # The smoothed loss is the bias-corrected moving average of the batch losses.
    average, smoothed = 0.0, []
    for i, loss in enumerate(result.raw_losses, 1):
        average = 0.98 * average + 0.02 * loss
        smoothed.append(average / (1 - 0.98 ** i))
    np.testing.assert_allclose(result.losses, smoothed, rtol=1e-12)
    assert result.losses[-1] < result.losses[0]  # it did train


def test_suggestion_lies_in_the_range(found):
    result = found[0]
    assert 1e-5 < result.suggested < 10.0 and result.suggested in result.rates
    assert result.min_loss_rate in result.rates


def test_callers_model_and_optimizer_are_untouched(found):
    _, _, model, before, optimizer = found
    for value, variable in zip(before, model.variables):
        np.testing.assert_array_equal(value, variable.numpy())
    assert int(optimizer.iterations.numpy()) == 0 and not optimizer.built
    assert optimizer.learning_rate.numpy() == np.float32(0.5)


def test_png_json_and_tensorboard_events(found):
    result, run_dir = found[0], found[1]
    with open(run_dir / "lr_finder.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert result.plot_path == os.path.join(str(run_dir), "lr_finder.png")
    record = json.loads((run_dir / "lr_finder.json").read_text())
    assert record["rates"] == result.rates and record["suggested"] == result.suggested
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()["tensors"]
    for tag in ("lr_finder/loss", "lr_finder/raw_loss", "lr_finder/learning_rate",
                "lr_finder/curve"):
        assert tag in tags, tags
    losses = [(e.step, float(tf.make_ndarray(e.tensor_proto)))
              for e in acc.Tensors("lr_finder/loss")]
    assert [s for s, _ in losses] == list(range(80))
    np.testing.assert_allclose([v for _, v in losses], result.losses, rtol=1e-6)
    rates = [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors("lr_finder/learning_rate")]
    np.testing.assert_allclose(rates, result.rates, rtol=1e-6)


def test_stops_when_the_loss_diverges(tmp_path, capsys):
    x, y = make_classification(400, seed=2)
    result = lt.lr_finder.find_learning_rate(lambda: lt.dnn(784, (32,), 10, seed=0), (x, y),
                                             optimizer="sgd", start=1e-3, end=1e9,
                                             steps=100, run_dir=tmp_path / "lrf")
    assert len(result.rates) < 100, result.stop_reason
    assert "exceeded" in result.stop_reason or "NaN" in result.stop_reason
    assert np.all(np.isfinite(result.losses))
    assert "LR finder:" in capsys.readouterr().out
    # A second run in the same folder replaces the first one's events.
    lt.lr_finder.find_learning_rate(lambda: lt.dnn(784, (32,), 10, seed=0), (x, y),
                                    start=1e-3, end=1.0, steps=10, run_dir=tmp_path / "lrf",
                                    verbose=0)
    assert len([f for f in os.listdir(tmp_path / "lrf") if "tfevents" in f]) == 1


def test_suggest_rule():
    rates = np.logspace(-5, 0, 50)
    losses = 2.0 - np.tanh(np.log10(rates) + 2.5) - 0.0  # falls fastest at 10**-2.5
    losses[-5:] = [1.5, 2, 3, 4, 5]
    steep, lowest = suggest(rates, losses)
    assert steep == pytest.approx(10 ** -2.5, rel=0.3)
    assert lowest == pytest.approx(rates[44])
    assert suggest([0.1, 0.2], [1.0, 0.9]) == (None, 0.2)


@pytest.mark.parametrize("kwargs,message", [
    ({"start": 0}, "start"), ({"start": 1.0, "end": 0.1}, "below end"),
    ({"steps": 1}, "at least 2"), ({"steps": 0}, "steps"), ({"smoothing": 1.0}, "smoothing"),
    ({"diverge": 1.0}, "diverge"), ({"optimizer": "adamax"}, "unknown optimizer"),
])
def test_bad_arguments(kwargs, message):
    x, y = make_classification(100)
    with pytest.raises(ConfigError, match=message):
        lt.lr_finder.find_learning_rate(lambda: lt.dnn(784, (8,), 10), (x, y), verbose=0,
                                        **kwargs)


def test_cli_lr_find(tmp_path, capsys):
    """`lowtf lr-find <experiment>` on a small experiment file with fake IDX data."""
    from fake_data import write_fake_fashion_mnist
    from lowtf.cli import main

    data_dir = write_fake_fashion_mnist(tmp_path / "data", n_train=200, n_test=50)
    experiment = tmp_path / "tiny.py"
    experiment.write_text("import lowtf as lt\nexperiment = lt.Experiment(name='tiny', "
                          "hidden=(16,), optimizer='adam', batch_size=20)\n")
    run_dir = tmp_path / "finder"
    assert main(["lr-find", str(experiment), "--steps", "30", "--start", "1e-4", "--end", "1",
                 "--data-dir", str(data_dir), "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "suggested learning rate" in out
    record = json.loads((run_dir / "lr_finder.json").read_text())
    assert len(record["rates"]) <= 30 and record["rates"][0] == pytest.approx(1e-4)
    assert (run_dir / "lr_finder.png").exists()
    assert main(["lr-find", str(experiment), "--start", "1", "--end", "0.1",
                 "--data-dir", str(data_dir), "--run-dir", str(run_dir)]) == 2
    assert "below end" in capsys.readouterr().err
