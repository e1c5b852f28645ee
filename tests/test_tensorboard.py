"""TensorBoard output of a run, read back with TensorBoard's own event loaders.

TF2 `tf.summary.scalar`/`histogram` are stored as tensor summaries, so values come
from `acc.Tensors(tag)` and `tf.make_ndarray(event.tensor_proto)`.
"""

import collections
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import (event_accumulator, event_file_loader,
                                                 plugin_event_accumulator)
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

import lowtf as lt
from conftest import make_prototype_data

EPOCHS = 3
BATCH = 50
N_TRAIN = 300
STEPS_PER_EPOCH = N_TRAIN // BATCH
TRAIN_SCALARS = ("loss", "accuracy", "learning_rate", "examples_per_second")
VARIABLES = tuple(f"dnn/{layer}/{attr}" for layer in ("hidden1", "hidden2", "outputs")
                  for attr in ("kernel", "bias"))


def make_data(n=400, seed=0):
    return make_prototype_data(n, N_TRAIN, noise=0.3, seed=seed)


def make_trainer(run_dir, **kwargs):
    return lt.Trainer(lt.dnn(784, (32, 16), 10, seed=1), optimizer=lt.optimizers.SGD(0.1),
                      run_dir=run_dir, seed=3, verbose=0, **kwargs)


def load(path):
    """TensorBoard's accumulator over every event file in `path`, keeping everything."""
    acc = event_accumulator.EventAccumulator(
        str(path), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0,
                                  event_accumulator.HISTOGRAMS: 0},
        purge_orphaned_data=False)
    acc.Reload()
    return acc


def values(acc, tag):
    """[(step, numpy value)] of a tensor-summary tag, in file order."""
    return [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]


def event_files(path):
    return sorted(os.path.join(path, f) for f in os.listdir(path) if "tfevents" in f)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tb") / "run"
    train, validation = make_data()
    trainer = make_trainer(run_dir)
    history = trainer.fit(train, validation, epochs=EPOCHS, batch_size=BATCH,
                          hparams={"note": "tb-test"})
    return run_dir, trainer, history


def test_history_steps_are_global_steps(run):
    _, trainer, history = run
    assert history["step"] == [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    assert history["epoch"] == list(range(1, EPOCHS + 1))
    assert int(trainer.state.step.numpy()) == STEPS_PER_EPOCH * EPOCHS


@pytest.mark.parametrize("tag", TRAIN_SCALARS)
def test_train_scalars_one_per_epoch_equal_history(run, tag):
    run_dir, _, history = run
    acc = load(run_dir / "train")
    assert tag in acc.Tags()["tensors"]
    points = values(acc, tag)
    assert [s for s, _ in points] == history["step"]
    for (_, v), expected in zip(points, history[tag]):
        assert v.shape == ()
        assert float(v) == pytest.approx(expected, rel=1e-6)


def test_train_scalar_values_are_sane(run):
    run_dir, _, _ = run
    acc = load(run_dir / "train")
    assert all(float(v) == pytest.approx(0.1) for _, v in values(acc, "learning_rate"))
    assert all(float(v) > 0 for _, v in values(acc, "examples_per_second"))
    assert all(0.0 <= float(v) <= 1.0 for _, v in values(acc, "accuracy"))
    losses = [float(v) for _, v in values(acc, "loss")]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


@pytest.mark.parametrize("tag", ("loss", "accuracy"))
def test_validation_scalars_equal_history(run, tag):
    run_dir, _, history = run
    acc = load(run_dir / "validation")
    points = values(acc, tag)
    assert [s for s, _ in points] == history["step"]
    assert [float(v) for _, v in points] == pytest.approx(history[f"val_{tag}"], rel=1e-6)


def test_validation_holds_only_validation_curves(run):
    run_dir, _, _ = run
    acc = load(run_dir / "validation")
    # the curves, and the figures of each evaluation (on by default with array data)
    assert set(acc.Tags()["tensors"]) == {"loss", "accuracy", "samples", "confident_mistakes",
                                          "confusion_matrix"}
    assert not acc.Tags()["graph"]


@pytest.mark.parametrize("name", VARIABLES)
def test_weight_histograms_per_epoch(run, name):
    run_dir, trainer, history = run
    acc = load(run_dir / "train")
    assert name in acc.Tags()["tensors"]
    points = values(acc, name)
    assert [s for s, _ in points] == history["step"]
    variable = {v.name.split(":")[0]: v for v in trainer.model.trainable_variables}[name]
    weights = variable.numpy()
    for _, buckets in points:
        assert buckets.ndim == 2 and buckets.shape[1] == 3  # [left, right, count]
        assert buckets[:, 2].sum() == pytest.approx(weights.size)
    # The last histogram is of the final weights: its range is theirs.
    last = points[-1][1]
    assert last[0, 0] == pytest.approx(weights.min(), abs=1e-6)
    assert last[-1, 1] == pytest.approx(weights.max(), abs=1e-6)


@pytest.mark.parametrize("name", VARIABLES)
def test_gradient_histograms_per_epoch(run, name):
    run_dir, trainer, history = run
    acc = load(run_dir / "train")
    tag = "gradients/" + name
    assert tag in acc.Tags()["tensors"]
    points = values(acc, tag)
    assert [s for s, _ in points] == history["step"]
    size = int(np.prod(trainer.model.get_weights()[name].shape))
    for _, buckets in points:
        assert buckets[:, 2].sum() == pytest.approx(size)
        assert np.isfinite(buckets).all()
    if name.endswith("kernel"):  # a gradient, not a copy of the weights
        weights = values(acc, name)[-1][1]
        assert not np.allclose(points[-1][1][:, :2], weights[:, :2])


def test_graph_is_written(run):
    run_dir, _, _ = run
    acc = load(run_dir / "train")
    assert acc.Tags()["graph"]
    graph = acc.Graph()
    assert len(graph.node) > 0 or len(graph.library.function) > 0


def _hparams(run_dir):
    acc = load(run_dir)
    contents = acc.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in contents
    return [plugin_data_pb2.HParamsPluginData.FromString(c) for c in contents.values()]


def test_run_root_has_hparams_with_optimizer_and_batch_size(run):
    run_dir, trainer, _ = run
    starts = [d.session_start_info for d in _hparams(run_dir) if d.HasField("session_start_info")]
    assert len(starts) == 1
    hparams = starts[0].hparams
    assert hparams["optimizer"].string_value == trainer.optimizer.get_config()["name"] == "SGD"
    assert hparams["batch_size"].number_value == BATCH
    assert hparams["learning_rate"].number_value == pytest.approx(0.1)
    assert hparams["epochs"].number_value == EPOCHS
    assert hparams["layers"].string_value == "32-16"
    assert hparams["note"].string_value == "tb-test"  # fit(hparams=...) is merged in


def test_run_root_holds_no_curves(run):
    run_dir, _, _ = run
    tags = load(run_dir).Tags()
    assert set(tags["tensors"]) <= {"_hparams_/session_start_info",
                                    "_hparams_/session_end_info"}


def test_every_run_is_an_hparams_session_named_after_its_folder(run):
    run_dir, trainer, history = run
    data = _hparams(run_dir)
    start = next(d.session_start_info for d in data if d.HasField("session_start_info"))
    assert start.group_name == "run"  # the run's folder, not a hash of its values
    hparams = start.hparams
    assert hparams["precision"].string_value == "float32"
    assert hparams["l2"].number_value == 0 and hparams["ema"].number_value == 0
    assert hparams["accumulate"].number_value == 1 and hparams["seed"].number_value == 3
    assert hparams["patience"].string_value == "none"
    end = next(d.session_end_info for d in data if d.HasField("session_end_info"))
    assert end.status == api_pb2.STATUS_SUCCESS
    acc = load(run_dir / "summary")
    summary = {tag: values(acc, tag) for tag in acc.Tags()["tensors"]}
    assert summary["best_val_accuracy"] == [(trainer.step, pytest.approx(
        max(history["val_accuracy"])))]
    assert summary["best_val_loss"][0][1] == pytest.approx(min(history["val_loss"]))
    assert summary["finished"] == [(trainer.step, 1.0)]
    assert summary["epochs_trained"] == [(trainer.step, EPOCHS)]


def test_a_failed_fit_ends_its_session_as_failed(tmp_path):
    train, _ = make_data()
    trainer = lt.Trainer(lt.dnn(784, (8,), 10, seed=1), run_dir=tmp_path / "bad", verbose=0)

    def broken(run, logs):
        raise RuntimeError("the user's own action failed")

    with pytest.raises(RuntimeError, match="own action failed"):
        trainer.fit(train, epochs=2, batch_size=BATCH, actions=[broken])
    end = next(d.session_end_info for d in _hparams(tmp_path / "bad")
               if d.HasField("session_end_info"))
    assert end.status == api_pb2.STATUS_FAILURE
    acc = load(tmp_path / "bad" / "summary")
    assert [float(v) for _, v in values(acc, "finished")] == [0.0]


def _all_steps(split_dir):
    """{tag: [steps]} over every event file of a split, read file by file."""
    steps = collections.defaultdict(list)
    for path in event_files(split_dir):
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                if value.tag != "__run_graph__":  # the graph (step 0), counted apart
                    steps[value.tag].append(event.step)
    return steps


def test_resumed_run_has_no_duplicate_steps(tmp_path):
    run_dir = tmp_path / "run"
    train, validation = make_data()
    first = make_trainer(run_dir).fit(train, validation, epochs=2, batch_size=BATCH)
    assert first["step"] == [6, 12]
    second = make_trainer(run_dir)
    history = second.fit(train, validation, epochs=4, batch_size=BATCH)
    assert history["step"] == [6, 12, 18, 24]

    for split in ("train", "validation"):
        split_dir = run_dir / split
        assert len(event_files(split_dir)) >= 2, "each Trainer writes its own event file"
        steps = _all_steps(split_dir)
        assert steps, split
        for tag, tag_steps in steps.items():
            duplicated = [s for s, n in collections.Counter(tag_steps).items() if n > 1]
            assert not duplicated, f"{split}/{tag}: steps {duplicated} written twice"
            assert sorted(tag_steps) == [6, 12, 18, 24], f"{split}/{tag}: {tag_steps}"
        # TensorBoard's accumulator sees one point per epoch, equal to the merged history.
        acc = load(split_dir)
        key = "loss" if split == "train" else "val_loss"
        points = values(acc, "loss")
        assert [s for s, _ in points] == [6, 12, 18, 24]
        assert [float(v) for _, v in points] == pytest.approx(history[key], rel=1e-6)
        plugin_acc = plugin_event_accumulator.EventAccumulator(
            str(split_dir), size_guidance={plugin_event_accumulator.TENSORS: 0})
        plugin_acc.Reload()
        assert [e.step for e in plugin_acc.Tensors("loss")] == [6, 12, 18, 24]

    # The graph and hparams are written once, by the run's first Trainer.
    assert len(_all_steps(run_dir).get("_hparams_/session_start_info", [])) == 1
    graphs = sum(1 for path in event_files(run_dir / "train")
                 for e in event_file_loader.EventFileLoader(path).Load()
                 if e.HasField("graph_def"))
    assert graphs == 1


def test_resume_after_corrupt_checkpoint_shows_each_step_once(tmp_path):
    """The latest checkpoint (step 18) is damaged, so the run resumes from step 12 and
    trains epoch 3 again. TensorBoard (its plugin loader, which drops data orphaned by a
    restart) must then show one point per step, the new ones, not both epoch-3 curves."""
    run_dir = tmp_path / "run"
    train, validation = make_data()
    make_trainer(run_dir).fit(train, validation, epochs=3, batch_size=BATCH)
    data_file = run_dir / "checkpoints" / "ckpt-18.data-00000-of-00001"
    damaged = bytearray(data_file.read_bytes())
    for i in range(0, len(damaged), 97):
        damaged[i] ^= 0xFF
    data_file.write_bytes(bytes(damaged))
    with pytest.warns(UserWarning, match="ckpt-12"):
        history = make_trainer(run_dir).fit(train, validation, epochs=4, batch_size=BATCH)
    assert history["step"] == [6, 12, 18, 24]

    for split, key in (("train", "loss"), ("validation", "val_loss")):
        acc = plugin_event_accumulator.EventAccumulator(
            str(run_dir / split), size_guidance={plugin_event_accumulator.TENSORS: 0})
        acc.Reload()
        points = [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors("loss")]
        assert [s for s, _ in points] == [6, 12, 18, 24], f"{split}: {points}"
        assert [v for _, v in points] == pytest.approx(history[key], rel=1e-6)


def test_per_step_points_form_one_curve_across_a_resume(tmp_path):
    """Points every 4 steps; the latest checkpoint (step 18) is damaged, so the run
    resumes from step 12: TensorBoard shows each step once, the points after 12 from the
    attempt that went on, so the per-step curve continues where the run resumed."""
    run_dir = tmp_path / "run"
    train, validation = make_data()
    make_trainer(run_dir, log_every_steps=4).fit(train, validation, epochs=3, batch_size=BATCH)
    data_file = run_dir / "checkpoints" / "ckpt-18.data-00000-of-00001"
    data_file.write_bytes(b"\x00" * len(data_file.read_bytes()))
    resumed = make_trainer(run_dir, log_every_steps=4)
    with pytest.warns(UserWarning, match="ckpt-12"):
        resumed.fit(train, validation, epochs=4, batch_size=BATCH)
    straight_dir = tmp_path / "straight"
    make_trainer(straight_dir, log_every_steps=4).fit(train, validation, epochs=4,
                                                      batch_size=BATCH)

    def points(folder, tag):
        acc = plugin_event_accumulator.EventAccumulator(
            str(folder / "train"), size_guidance={plugin_event_accumulator.TENSORS: 0})
        acc.Reload()
        return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]

    for tag, steps in (("loss", [4, 6, 8, 12, 16, 18, 20, 24]),
                       ("gradient_norm", [4, 8, 12, 16, 20, 24])):
        shown, straight = points(run_dir, tag), points(straight_dir, tag)
        assert [s for s, _ in shown] == steps == [s for s, _ in straight], tag
        # the resumed run equals one never interrupted (the running metrics resumed too)
        assert [v for _, v in shown] == pytest.approx([v for _, v in straight], rel=1e-5), tag
