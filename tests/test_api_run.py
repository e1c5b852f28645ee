"""A run made from the Python API is as complete as one from the CLI.

The README's snippet (`lt.load_dataset` splits into `Trainer.fit`, then `evaluate` on the
test split) gives a run with its class names and dataset, the evaluation figures,
per-step training curves (the gradient norm among them), the test results in
`results.json` and `<run>/test`, and an export that answers with class names.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import lowtf as lt
from fake_data import write_fake_fashion_mnist

IMAGE_TAGS = {"samples", "confident_mistakes", "confusion_matrix"}
EVERY = 4
LR = 0.05


def tensors(path):
    acc = event_accumulator.EventAccumulator(str(path), size_guidance={
        event_accumulator.TENSORS: 0})
    acc.Reload()
    return {tag: [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


class WeightsAround(lt.actions.Action):
    """Keeps the weights after every step (calls of one step each)."""

    def __init__(self):
        super().__init__(every_steps=1, name="weights_around")
        self.weights = {}

    def on_steps(self, run, logs):
        self.weights[run.step] = [v.numpy().copy() for v in run.model.trainable_variables]


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("api_run")
    data = lt.load_dataset("fashion_mnist", data_dir=write_fake_fashion_mnist(work / "data"),
                           raw=True)
    run_dir = work / "my_run"
    trainer = lt.Trainer(lt.dnn(784, (32,), 10, seed=4), optimizer=lt.optimizers.SGD(LR),
                         run_dir=run_dir, verbose=0, log_every_steps=EVERY, xla=False)
    weights = WeightsAround()
    history = trainer.fit(data.train, data.validation, epochs=2, batch_size=50,
                          actions=[weights])
    test = trainer.evaluate(data.test)
    return data, trainer, run_dir, history, test, weights


def test_load_dataset_splits_carry_their_name_classes_and_dataset(api_run):
    data = api_run[0]
    assert [s.name for s in (data.train, data.validation, data.test)] == \
        ["train", "validation", "test"]
    assert data.test.class_names == data.class_names and data.test.dataset == "fashion_mnist"
    assert repr(data.test).startswith("Split(test, images=uint8[300, 28, 28]")


def test_the_run_records_the_class_names_and_dataset(api_run, tmp_path):
    data, trainer, run_dir = api_run[:3]
    assert trainer.metadata == {"class_names": list(data.class_names),
                                "dataset": "fashion_mnist"}
    predictor = lt.restore(run_dir)
    assert predictor.class_names == data.class_names
    exported = lt.export_saved_model(run_dir, tmp_path / "export")
    served = tf.saved_model.load(str(exported))
    out = served.signatures["serving_default"](tf.constant(data.test.images[:3]))
    assert [n.decode() for n in out["class_names"].numpy()] == \
        [data.class_names[i] for i in out["class_ids"].numpy()]


def test_metadata_given_to_the_trainer_wins(tmp_path, api_run):
    data = api_run[0]
    trainer = lt.Trainer(lt.dnn(784, (8,), 10, seed=1), run_dir=tmp_path, verbose=0,
                         metadata={"class_names": list("abcdefghij")})
    trainer.fit(data.train, epochs=1, batch_size=100)
    assert trainer.metadata["class_names"] == list("abcdefghij")
    assert trainer.metadata["dataset"] == "fashion_mnist"


def test_figures_are_on_by_default_with_validation_arrays(api_run):
    run_dir, history = api_run[2], api_run[3]
    validation = tensors(run_dir / "validation")
    assert IMAGE_TAGS <= set(validation)
    drawn = [s for s, _ in validation["samples"]]
    assert drawn[0] == history["step"][0] and drawn[-1] == history["step"][-1]
    assert set(drawn) <= set(history["step"]) and len(set(drawn)) == len(drawn)


@pytest.mark.parametrize("max_share, drawn", [(None, [12, 24, 36, 48]), (1e-4, [12, 48])])
def test_figures_take_at_most_their_share_of_the_time(tmp_path, api_run, max_share, drawn):
    """With a tiny share only the first evaluation and the last (at the end, with its own
    probabilities and step) are drawn; None draws every one."""
    data = api_run[0]
    images = lt.actions.ValidationImages(data.validation.images, data.validation.labels,
                                         max_share=max_share)
    trainer = lt.Trainer(lt.dnn(784, (8,), 10, seed=1), run_dir=tmp_path, verbose=0,
                         image_summaries=False)
    trainer.fit(data.train, data.validation, epochs=4, batch_size=50, actions=[images])
    written = tensors(tmp_path / "validation")
    assert [s for s, _ in written["confusion_matrix"]] == drawn
    last = written["confusion_matrix"][-1][1]  # drawn from the last epoch's predictions
    predicted = trainer.predict(data.validation.images).argmax(axis=1)
    expected = lt.figures.to_image(lt.figures.confusion_matrix_figure(
        data.validation.labels, predicted, data.class_names, n_classes=10))
    assert tf.io.decode_png(last[2]).numpy().shape == expected.shape
    np.testing.assert_array_equal(tf.io.decode_png(last[2]).numpy(), expected)


def test_a_bad_share_is_refused():
    with pytest.raises(lt.ConfigError, match="max_share"):
        lt.actions.ValidationImages(np.zeros((2, 784)), np.zeros(2), max_share=0)


def test_evaluate_on_the_test_split_writes_results_and_test_curves(api_run):
    _, trainer, run_dir, history, test, _ = api_run
    with open(run_dir / "results.json") as f:
        results = json.load(f)
    assert results["test"] == pytest.approx(test)
    assert results["epochs"] == 2 and results["step"] == history["step"][-1]
    assert results["checkpoint"] == trainer.storage.last_good  # what was evaluated
    written = tensors(run_dir / "test")
    assert float(written["accuracy"][0][1]) == pytest.approx(test["accuracy"])
    assert IMAGE_TAGS <= set(written)


def test_evaluate_on_arrays_records_nothing(tmp_path, api_run):
    data = api_run[0]
    trainer = lt.Trainer(lt.dnn(784, (8,), 10, seed=1), run_dir=tmp_path, verbose=0)
    trainer.fit(data.train, epochs=1, batch_size=100)
    trainer.evaluate((data.test.images, data.test.labels))
    trainer.evaluate(data.validation)
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "test").exists()


def test_training_curves_have_a_point_every_n_steps(api_run):
    _, trainer, run_dir, history, _, _ = api_run
    train = tensors(run_dir / "train")
    last = history["step"][-1]
    every_n = list(range(EVERY, last + 1, EVERY))
    for tag in ("loss", "accuracy", "learning_rate", "gradient_norm"):
        steps = sorted({s for s, _ in train[tag]})
        assert set(every_n) <= set(steps), tag
        assert set(steps) - set(every_n) <= set(history["step"]), tag  # + epoch ends
    rates = [float(v) for s, v in train["examples_per_second"]]
    assert len(rates) >= len(every_n) - 1 and all(r > 0 for r in rates)
    assert [float(v) for _, v in train["learning_rate"]] == pytest.approx([LR] * len(
        train["learning_rate"]))


def test_the_gradient_norm_is_that_of_the_update_at_its_step(api_run):
    """Plain SGD moves the weights by lr * gradient: the norm written at step s is
    |w_s - w_{s-1}| / lr."""
    _, _, run_dir, _, _, weights = api_run
    written = {s: float(v) for s, v in tensors(run_dir / "train")["gradient_norm"]}
    assert len(written) == 24 // EVERY  # 600 examples, batches of 50, 2 epochs
    for step, norm in written.items():
        before, after = weights.weights[step - 1], weights.weights[step]
        moved = np.sqrt(sum(np.sum((a.astype(np.float64) - b) ** 2)
                            for a, b in zip(after, before)))
        assert norm == pytest.approx(moved / LR, rel=1e-3), step


def test_the_gradient_norm_compiles_with_xla(tmp_path, api_run):
    data, _, run_dir = api_run[:3]
    trainer = lt.Trainer(lt.dnn(784, (32,), 10, seed=4), optimizer=lt.optimizers.SGD(LR),
                         run_dir=tmp_path, verbose=0, log_every_steps=EVERY, xla=True)
    trainer.fit(data.train, data.validation, epochs=1, batch_size=50)
    assert trainer.loop.xla["xla"] and trainer.train_traces == 1
    compiled = {s: float(v) for s, v in tensors(tmp_path / "train")["gradient_norm"]}
    plain = {s: float(v) for s, v in tensors(run_dir / "train")["gradient_norm"]}
    assert sorted(compiled) == [4, 8, 12]
    assert [compiled[s] for s in sorted(compiled)] == pytest.approx(
        [plain[s] for s in sorted(compiled)], rel=1e-4)


def test_a_run_begun_without_class_names_resumes_with_them(tmp_path, api_run):
    """Metadata is a fact for restoring, not a training setting: a run begun on arrays
    (or before splits carried their names) resumes when fed the splits, and records them."""
    data = api_run[0]

    def trainer():
        return lt.Trainer(lt.dnn(784, (8,), 10, seed=1), run_dir=tmp_path, verbose=0)

    trainer().fit((data.train.images, data.train.labels), epochs=1, batch_size=100)
    assert lt.restore(tmp_path).class_names is None
    history = trainer().fit(data.train, epochs=2, batch_size=100)
    assert history["epoch"] == [1, 2]
    assert lt.restore(tmp_path).class_names == data.class_names
