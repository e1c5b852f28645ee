"""The trainer: a traced step loop inside, a readable Python epoch loop outside.

Inside (`tf.function`, traced once per run): `steps` training steps per call, each a
`tf.GradientTape` forward/backward pass and an optimizer update. Outside (Python):
epochs, validation, TensorBoard, checkpoints, early stopping, the console.
Everything stateful (weights, optimizer slots, metrics, the data position) is a
`tf.Variable` created once, at construction, under the trainer's strategy scope.
"""

import dataclasses
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import tensorflow as tf

from lowtf import checkpoints as ckpt
from lowtf import history as run_history
from lowtf import pictures
from lowtf.distribute import (PEER_LOST_ERRORS, is_chief, remove_worker_directory,
                               worker_directory)
from lowtf.errors import (CheckpointError, ConfigError, DataError, NonFiniteLossError,
                          WorkerLostError, add_context, check_count)
from lowtf.feeds import ArrayFeed, DatasetFeed, array_batches, replica_batches
from lowtf.inference import Predictor
from lowtf.inputs import (check_element_spec, check_features, check_labels, explain_input_error,
                          to_model_input)
from lowtf.losses import class_label_mode, get_loss, takes_class_ids
from lowtf.memory import release_free_memory
from lowtf.models import call_model
from lowtf.evaluation import make_metrics, update_metrics
from lowtf.monitor import EarlyStopping, Monitor
from lowtf.optimizers import get_optimizer
from lowtf.progress import ProgressBar
from lowtf.storage import WriteError, ensure_writable, writing
from lowtf.summaries import RunWriter

# Configuration keys that may change when a run resumes.
RESUMABLE_KEYS = frozenset({"epochs"})


def _stopping_config(early_stopping):
    """The early-stopping settings a resumed run must keep (None: no early stopping).

    `restore_best` is left out: it changes what the model holds after training, not
    how the run trains.
    """
    if not isinstance(early_stopping, Monitor):
        return None
    settings = dataclasses.asdict(early_stopping)
    settings.pop("restore_best", None)
    return settings


class RunState(tf.Module):
    """Checkpointed loop state: where the run is, its best score, and its config."""

    def __init__(self):
        super().__init__(name="state")
        var = lambda value, dtype, name: tf.Variable(  # noqa: E731
            value, dtype=dtype, trainable=False, name=name)
        self.step = var(0, tf.int64, "step")          # training steps applied so far
        self.epoch = var(0, tf.int64, "epoch")        # epochs completed
        self.position = var(0, tf.int64, "position")  # steps done in the current epoch
        self.bad_step = var(0, tf.int64, "bad_step")  # step whose loss was not finite
        self.best = var(math.nan, tf.float32, "best")
        self.wait = var(0, tf.int64, "wait")          # epochs without improvement
        self.skipped = var(0, tf.int64, "skipped")    # non-finite steps skipped (skip mode)
        self.config = var("{}", tf.string, "config")


class Trainer:
    """Trains, evaluates and checkpoints a model with a loop you can read.

    Args:
        model: a `lowtf.Network`, or a zero-argument function building one (called
            under the strategy scope).
        loss: a name from `lowtf.losses.LOSSES` or `fn(labels, outputs) -> [batch]`.
        optimizer: a `lowtf` optimizer or its name (`sgd` is gradient descent, lr 0.01).
        metrics: names or `Metric`s, e.g. `("accuracy", "top5_accuracy")`.
        run_dir: where TensorBoard logs and checkpoints go; None keeps nothing on disk.
        seed: keys the per-epoch shuffle.
        xla: compile the resident-data loop with XLA; None tries and falls back.
        steps_per_call: training steps per traced call; None picks ~1/20 of an epoch.
        eval_batch_size: batch size for evaluation and prediction.
        max_to_keep: how many recent checkpoints to keep (the best is kept apart).
        histograms: write weight and gradient histograms every epoch.
        verbose: 0 silent, 1 a line per epoch plus a progress bar on a terminal.
        strategy: a `tf.distribute.Strategy`; None is the default strategy.
        metadata: JSON-serialisable facts stored with the checkpoint, e.g.
            `{"dataset": "fashion_mnist", "class_names": [...]}` for inference.
        image_summaries: with array validation data, write images of every evaluation to
            `<run>/validation`: sample inputs with their labels, the most confidently
            wrong images and the confusion matrix (`lowtf.pictures`).
    """

    def __init__(self, model, loss="sparse_softmax_cross_entropy", optimizer="sgd",
                 metrics=("accuracy",), run_dir=None, seed=0, xla=None, steps_per_call=None,
                 eval_batch_size=1000, max_to_keep=3, histograms=True, verbose=1,
                 strategy=None, metadata=None, image_summaries=False):
        self.metadata = dict(metadata or {})
        self.strategy = strategy or tf.distribute.get_strategy()
        self.loss_name, self.loss_fn = get_loss(loss)
        self.run_dir = None if run_dir is None else os.fspath(run_dir)
        self.seed, self.xla, self.verbose = int(seed), xla, verbose
        self.steps_per_call, self.eval_batch_size = steps_per_call, int(eval_batch_size)
        self.histograms = histograms
        self.image_summaries, self._picture_data = image_summaries, None
        self.train_traces = 0
        self.replicas = self.strategy.num_replicas_in_sync
        self.chief = is_chief(self.strategy)
        with self.strategy.scope():
            self.model = model() if callable(model) and not isinstance(model, tf.Module) \
                else model
            if tf.distribute.has_strategy() and not all(
                    isinstance(v, tf.distribute.DistributedValues)
                    for v in self.model.trainable_variables):
                raise ConfigError("the model's variables were created outside the strategy "
                                  "scope; pass a function that builds the model "
                                  "(e.g. model=lambda: lt.dnn(...)) so the trainer builds it "
                                  "inside strategy.scope()")
            self.optimizer = get_optimizer(optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.train_metrics = make_metrics(metrics)
        # Loop state is host-side bookkeeping, updated in cross-replica context only.
        self.state = RunState()
        # Evaluation and prediction run on one device, reading the (mirrored) weights.
        self.predictor = Predictor(self.model, self.metadata.get("class_names"),
                                   loss=self.loss_fn, metrics=metrics,
                                   batch_size=self.eval_batch_size)
        self.evaluator = self.predictor.evaluator
        self._class_labels = class_label_mode(loss)
        self.n_classes = self.model.n_outputs if self._class_labels is not False else None
        # The running training metrics are saved too: a run resumed mid-epoch then reports
        # the same epoch loss and accuracy as one that was never interrupted.
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                              state=self.state, metrics=self.train_metrics)
        self.keeper = self.writer = self._restore_keeper = None
        if self.run_dir is not None:
            real_dir = ckpt.checkpoint_dir(self.run_dir)
            if self.chief:
                ensure_writable(self.run_dir, "logs")
                ensure_writable(real_dir, "checkpoints")
                self.writer = RunWriter(self.run_dir)
            # Every worker restores from the chief's checkpoints and saves (saving is
            # collective); only the chief's copies are kept.
            self._save_dir = worker_directory(real_dir, self.strategy)
            self.keeper = ckpt.CheckpointKeeper(self.checkpoint, self._save_dir,
                                                self.state.step, max_to_keep=max_to_keep)
            self._restore_keeper = self.keeper if self.chief else ckpt.CheckpointKeeper(
                self.checkpoint, real_dir, self.state.step, max_to_keep=max_to_keep)
        self.history = {}
        self._started = self._started_from_checkpoint = False
        self._train_fn = self._feed = self._feed_key = None
        self._skip_nonfinite = False

    # ---- traced functions ---------------------------------------------------------
    def _replica_step(self, x, y):
        """One training step on one replica's share of the global batch.

        Gradients and the loss are summed over replicas (each is already divided by the
        global batch size), so every replica sees the same values and takes the same
        decision: apply the update, or refuse it because the loss, a gradient or a new
        weight or slot value is not finite. How a kernel treats NaN (a fused oneDNN
        matmul+ReLU can turn a NaN input into a finite loss) cannot sneak a NaN into the
        weights: the optimizer checks the values it is about to write. The metrics count
        only applied steps. Returns whether the loop goes on (False: stop at this step).
        """
        x = to_model_input(x, self.model.n_inputs)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = call_model(self.model, x, training=True)
            per_example = self.loss_fn(y, outputs)
            loss = tf.nn.compute_average_loss(per_example)
        grads = tape.gradient(loss, variables)
        ctx = tf.distribute.get_replica_context()
        if ctx.num_replicas_in_sync > 1:
            grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            loss = ctx.all_reduce(tf.distribute.ReduceOp.SUM, loss)
        applied, go_on = ctx.merge_call(self._apply_update,
                                        args=(tf.math.is_finite(loss), grads))

        @tf.autograph.experimental.do_not_convert
        def count():
            update_metrics(self.train_metrics, y, outputs, per_example)
            return tf.constant(True)

        tf.cond(applied, count, lambda: tf.constant(False))
        return go_on

    @tf.autograph.experimental.do_not_convert
    def _apply_update(self, strategy, finite_loss, grads):
        """Cross-replica: the update and the step count, or a record of the refused step.

        Returns `(applied, go_on)`: whether the update was applied, and whether the loop
        goes on (a refused step stops it unless non-finite steps are skipped)."""
        finite_loss = strategy.experimental_local_results(finite_loss)[0]
        applied = self.optimizer.apply(grads, self.model.trainable_variables,
                                       if_finite=finite_loss)

        def update():
            self.state.step.assign_add(1)
            self.state.position.assign_add(1)
            return tf.constant(True)

        def skip():
            if self._skip_nonfinite:  # drop this batch, count it and go on
                self.state.skipped.assign_add(1)
                self.state.position.assign_add(1)
                return tf.constant(True)
            self.state.bad_step.assign(self.state.step + 1)
            return tf.constant(False)

        return applied, tf.cond(applied, update, skip)

    def _resident_replica_step(self, position):
        ctx = tf.distribute.get_replica_context()
        x, y = self._feed.batch(position, ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync)
        return self._replica_step(x, y)

    def _applied(self, per_replica):
        return self.strategy.experimental_local_results(per_replica)[0]

    def _resident_loop(self, steps):
        self.train_traces += 1
        # `while i < steps`, not `for _ in tf.range(steps)`: AutoGraph gives a tf.range loop
        # `maximum_iterations=steps`, which XLA takes as a compile-time constant, so every
        # new `steps` (an epoch's shorter last call, a resume mid-epoch) compiled it again.
        i = tf.constant(0)
        while i < steps:
            applied = self.strategy.run(self._resident_replica_step,
                                        args=(self.state.position.read_value(),))
            if not self._applied(applied):
                break
            i += 1

    def _dataset_loop(self, iterator, steps):
        self.train_traces += 1
        for _ in tf.range(steps):
            batch = iterator.get_next_as_optional()
            if not batch.has_value():
                break
            applied = self.strategy.run(self._replica_step, args=batch.get_value())
            if not self._applied(applied):
                break

    @tf.function
    def _gradients(self, x, y):
        x = to_model_input(x, self.model.n_inputs)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(self.loss_fn(y, call_model(self.model, x, training=True)))
        return tape.gradient(loss, self.model.trainable_variables)

    # ---- data ---------------------------------------------------------------------
    def _check_arrays(self, data, what):
        if hasattr(data, "images") and hasattr(data, "labels"):  # a lowtf Split
            data = (data.images, data.labels)
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise DataError(f"{what} data must be an (x, y) pair of arrays or a tf.data.Dataset "
                            f"of (x, y) batches, got {type(data).__name__}")
        x = check_features(data[0], self.model.n_inputs, f"{what} features")
        labels = np.asarray(data[1])
        as_classes = takes_class_ids(self._class_labels, labels)
        y = check_labels(labels, len(x), self.n_classes if as_classes else None,
                         f"{what} labels")
        return x, y

    def _make_feed(self, train, batch_size, shuffle, resident):
        if isinstance(train, tf.data.Dataset) or callable(train):
            if resident:
                raise ConfigError("resident=True needs (x, y) arrays, not a tf.data pipeline")
            return DatasetFeed(train, n_inputs=self.model.n_inputs,
                               class_labels=self._class_labels)
        x, y = self._check_arrays(train, "training")
        if batch_size % self.replicas:
            raise ConfigError(f"batch_size {batch_size} is the global batch and must divide "
                              f"evenly over the {self.replicas} replicas; use a multiple of "
                              f"{self.replicas}")
        if resident is False:
            if self.replicas > 1:
                feed = DatasetFeed(lambda epoch: replica_batches(
                    x, y, batch_size, self.seed, epoch, shuffle), per_replica=True)
            else:
                feed = DatasetFeed(lambda epoch: array_batches(
                    x, y, batch_size, self.seed, epoch, shuffle, drop_remainder=True))
            feed.batch_size = batch_size
            return feed
        return ArrayFeed(x, y, batch_size, seed=self.seed, shuffle=shuffle)

    def eval_data(self, data):
        """Checked `(x, y)` arrays as tensors, evaluated in-graph; Datasets pass through."""
        if isinstance(data, tf.data.Dataset):
            check_element_spec(data.element_spec, self.model.n_inputs, self._class_labels,
                               "the evaluation dataset")
            return data
        x, y = self._check_arrays(data, "evaluation")
        return tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    # ---- the outer loop -----------------------------------------------------------
    def fit(self, train, validation=None, epochs=1, batch_size=50, early_stopping=None,
            shuffle=True, resident=None, resume=True, save_every_steps=None, hparams=None,
            skip_nonfinite=False, trial_id=None):
        """Trains for `epochs` (resuming from the run's latest checkpoint) and returns the history.

        Args:
            train: `(x, y)` arrays, a `tf.data.Dataset` of `(x, y)` batches, or
                `fn(epoch) -> Dataset`.
            validation: `(x, y)` arrays or a Dataset of batches; evaluated every epoch.
            batch_size: examples per step for array data.
            early_stopping: a `lowtf.EarlyStopping`, or None to train every epoch. Part
                of the run's configuration: a resumed run must use the same settings.
            resident: keep array data as tensors and gather batches in the graph (the
                fast path); None uses it for arrays, False forces a tf.data pipeline.
            resume: continue from the latest checkpoint in `run_dir`; with False an
                existing checkpoint is an error (nothing is overwritten).
            save_every_steps: also checkpoint within epochs, at every global step that is
                a multiple of this (the same steps however often the run was resumed).
            hparams: extra values for the HParams dashboard (they override the
                trainer's own, e.g. a sweep's exact learning rate).
            trial_id: the run's HParams session group (default: a hash of the values).
            skip_nonfinite: skip a step whose update is refused as NaN/Inf (it is not applied,
                its batch is dropped) instead of stopping; the count so far is logged as
                `skipped_steps`. An epoch that skips more than half of its steps fails
                the run (NonFiniteLossError): that is not training any more.

        Returns:
            `{metric: [value per epoch]}`, e.g. `history["val_accuracy"]`.

        Raises:
            NonFiniteLossError: the loss, a gradient or a new weight became NaN/Inf (with
                `skip_nonfinite`: in more than half of an epoch's steps); that update was
                not applied, the step is named and the last good checkpoint is kept.
        """
        check_count("epochs", epochs)
        check_count("batch_size", batch_size)
        check_count("save_every_steps", save_every_steps, optional=True)
        # The same arrays and settings as the last fit reuse its feed and traced (and
        # compiled) loop: calling fit again, e.g. epoch by epoch, costs no retrace.
        sources = tuple(train) if isinstance(train, (tuple, list)) else (train,)
        feed_key = (sources, batch_size, shuffle, resident,  # holds the sources: ids stay theirs
                    bool(skip_nonfinite))  # read when the loop is traced
        reuse = self._train_fn is not None and self._feed_key is not None and \
            len(sources) == len(self._feed_key[0]) and \
            all(a is b for a, b in zip(sources, self._feed_key[0])) and \
            feed_key[1:] == self._feed_key[1:]
        if not reuse:
            self._feed = self._make_feed(train, batch_size, shuffle, resident)
            self._feed_key = feed_key
        feed = self._feed
        val_data = None if validation is None else self.eval_data(validation)
        self._picture_data = self._pictures_of(val_data)
        monitor = early_stopping or Monitor("val_accuracy" if val_data is not None else "loss")
        config = self._config(batch_size, shuffle, early_stopping)
        first_fit = not self._started
        resumed = self._restore_or_start(config, resume)
        if self.writer:
            with self._writing_logs():
                self.writer.session_start(int(self.state.step.numpy()) + 1, (
                    "train",) if val_data is None else ("train", "validation"))
        self._skip_nonfinite = bool(skip_nonfinite)
        if not reuse:
            self._build_train_fn(feed)
        steps_per_call = self.steps_per_call or max(1, (feed.steps_per_epoch or 2000) // 20)
        if self.writer and first_fit and not resumed:
            with self._writing_logs():
                self.writer.graph(self._concrete_train_fn(feed).graph)
                self.writer.hparams({**self._hparams(config, epochs), **(hparams or {})},
                                    trial_id=trial_id)
        if float(self.state.best.numpy()) != float(self.state.best.numpy()):  # NaN: unset
            self.state.best.assign(monitor.worst)
        self.state.bad_step.assign(0)
        start = time.perf_counter()
        failed = True
        try:
            while int(self.state.epoch.numpy()) < epochs:
                if isinstance(early_stopping, EarlyStopping) and \
                        int(self.state.wait.numpy()) >= early_stopping.patience:
                    break
                logs = self._train_epoch(feed, steps_per_call, epochs, save_every_steps)
                release_free_memory()  # the first epoch's XLA compilation, mostly
                if val_data is not None:
                    val = self.evaluator(val_data, self.n_classes)
                    logs.update({f"val_{k}": v for k, v in val.items()})
                stop = self._end_epoch(logs, monitor, early_stopping)
                if stop:
                    break
            failed = False
        except PEER_LOST_ERRORS as e:
            if self.replicas == 1:
                raise
            raise WorkerLostError(
                f"a worker of the cluster was lost near step {int(self.state.step.numpy())} "
                f"({str(e).strip().splitlines()[0][:300]}); the last checkpoint the chief "
                f"completed is {self._last_good_checkpoint}."
                " Restart every worker with the same command: training resumes from it, on "
                "any number of workers") from None
        except tf.errors.InvalidArgumentError as e:
            step = int(self.state.step.numpy()) + 1
            explained = explain_input_error(e, self.model.n_inputs, self.n_classes)
            if explained is None:  # the user's model, loss, metric or pipeline: theirs
                raise add_context(e, f"lowtf: raised while training step {step} (epoch "
                                     f"{int(self.state.epoch.numpy()) + 1})")
            raise DataError(f"training stopped at step {step}: {explained}") from None
        finally:
            if self.writer:
                try:
                    with self._writing_logs():
                        self.writer.flush()
                except WriteError:
                    if not failed:  # else the error that stopped the run is the one to report
                        raise
        if isinstance(early_stopping, EarlyStopping) and early_stopping.restore_best \
                and self._restore_keeper and self._restore_keeper.best:
            # The best checkpoint, or (reported) the latest when the best is damaged.
            tf.train.Checkpoint(model=self.model).restore(
                self._restore_keeper.final()).expect_partial()
        if self.verbose:
            print(f"Trained {int(self.state.epoch.numpy())} epochs, "
                  f"{int(self.state.step.numpy())} steps in {time.perf_counter() - start:.1f}s",
                  file=sys.stdout)
        return self.history

    @property
    def final_checkpoint(self):
        """The checkpoint that holds the run's model: the best one, else the latest
        (a damaged one is reported and skipped, see `CheckpointKeeper.final`)."""
        return self._restore_keeper.final() if self._restore_keeper else None

    def _config(self, batch_size, shuffle, early_stopping=None):
        """What a resumed run must share with its checkpoint (see RESUMABLE_KEYS)."""
        return {"model": self.model.config, "loss": self.loss_name,
                "optimizer": self.optimizer.get_config(),
                "metrics": [m for m in self.train_metrics if m != "loss"],
                "batch_size": batch_size, "seed": self.seed, "shuffle": shuffle,
                "metadata": self.metadata, "early_stopping": _stopping_config(early_stopping)}

    def _hparams(self, config, epochs):
        layers = config["model"]["layers"]
        return {"optimizer": config["optimizer"].get("name", "?"),
                "learning_rate": float(self.optimizer.learning_rate.numpy()),
                "batch_size": config["batch_size"], "epochs": epochs,
                "layers": "-".join(str(l[1]) for l in layers[:-1]) or "none",
                "activation": layers[0][2], "seed": self.seed}

    def _restore_or_start(self, config, resume):
        """Restores the latest checkpoint on the first `fit`; returns whether it did.

        Later `fit` calls on the same trainer continue from memory, so changes made
        between them (a new learning rate, say) are kept.
        """
        if self.keeper is None or self._started:
            self._started = True
            self.state.config.assign(json.dumps(config, sort_keys=True))
            return self._started_from_checkpoint
        self._started = True
        if self.chief:
            self.keeper.lock()  # one process per run directory
        if self._restore_keeper.latest and not resume:
            raise CheckpointError(
                f"{self.run_dir} already holds checkpoints (latest {self._restore_keeper.latest}) and "
                "resume=False; pick a new run directory or delete that one yourself — lowtf "
                "never overwrites a good checkpoint")
        prefix = (self._restore_keeper.restore_latest(
            self.model, check=lambda p: self._check_config(p, config))
            if self._restore_keeper.latest else None)
        self._started_from_checkpoint = prefix is not None
        if prefix is None:
            self.state.config.assign(json.dumps(config, sort_keys=True))
            return False
        self.history = self._load_history()
        if self.verbose:
            print(f"Resuming from {prefix}: epoch {int(self.state.epoch.numpy())}, "
                  f"step {int(self.state.step.numpy())}")
        return True

    @staticmethod
    def _check_config(prefix, config):
        """Refuses (before anything is restored) a checkpoint of another configuration."""
        stored = ckpt.read_config(prefix)
        diff = {k: (stored.get(k), config.get(k)) for k in set(stored) | set(config)
                if k not in RESUMABLE_KEYS and stored.get(k) != config.get(k)}
        if diff:
            lines = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
            raise ckpt.CheckpointMismatchError(
                f"cannot resume {prefix} with a different configuration ({lines}); "
                "use the checkpoint's settings or a new run directory")

    @property
    def _last_good_checkpoint(self):
        """The checkpoint a write error names as safe (None: none yet)."""
        return self._restore_keeper.last_complete() if self._restore_keeper else None

    def _writing_logs(self):
        return writing("the TensorBoard logs", self.run_dir, self._last_good_checkpoint)

    def _build_train_fn(self, feed):
        self._xla_unproven = False
        if feed.resident:
            # Collectives between replicas do not compile with XLA on CPU: off by default.
            use_xla = self.xla is True or (self.xla is None and self.replicas == 1)
            self._train_fn = self._resident_train_fn(jit_compile=use_xla)
            # xla=None: the first call compiles, and an op without an XLA kernel makes it
            # fail before any step runs; _call_train_fn then falls back to plain graphs.
            self._xla_unproven = use_xla and self.xla is None
        else:
            self._train_fn = tf.function(self._dataset_loop)

    def _resident_train_fn(self, jit_compile):
        """The resident loop as a `tf.function` of its step count (an int32 scalar)."""
        return tf.function(self._resident_loop, input_signature=[tf.TensorSpec([], tf.int32)],
                           jit_compile=jit_compile)

    def _call_train_fn(self, *args):
        if not self._xla_unproven:
            return self._train_fn(*args)
        try:
            result = self._train_fn(*args)
        except tf.errors.InvalidArgumentError as e:
            if "compile" not in str(e):
                raise
            warnings.warn(f"XLA cannot compile this training step ({str(e).splitlines()[0]}); "
                          "running it without XLA", stacklevel=4)
            self._train_fn = self._resident_train_fn(jit_compile=False)
            result = self._train_fn(*args)
        self._xla_unproven = False
        return result

    def _concrete_train_fn(self, feed):
        if feed.resident:
            return self._train_fn.get_concrete_function(tf.constant(1))
        return self._train_fn.get_concrete_function(self._iterator(feed, 0, 0), tf.constant(1))

    def _iterator(self, feed, epoch, position):
        """An iterator over the epoch's batches from `position` on, split over replicas."""
        if self.replicas == 1:
            return feed.iterator(epoch, position)
        if feed.per_replica:
            return iter(self.strategy.distribute_datasets_from_function(
                lambda context: feed.make_dataset(epoch)(context).skip(position)))
        return iter(self.strategy.experimental_distribute_dataset(
            feed.make_dataset(epoch).skip(position)))

    def _train_epoch(self, feed, steps_per_call, epochs, save_every_steps):
        epoch = int(self.state.epoch.numpy())
        position = int(self.state.position.numpy())
        if position == 0:  # mid-epoch, the metrics restored from the checkpoint go on
            for metric in self.train_metrics.values():
                metric.reset_state()
        skipped_before = self._skipped_before(epoch, position)
        total = feed.steps_per_epoch
        bar = ProgressBar(total, f"Epoch {epoch + 1}/{epochs} ",
                          enabled=None if self.verbose else False)
        if feed.resident:
            feed.start_epoch(epoch)
        else:
            iterator = self._iterator(feed, epoch, position)
        start, steps_done, last_save = time.perf_counter(), 0, int(self.state.step.numpy())
        step = last_save
        while total is None or position < total:
            n = steps_per_call if total is None else min(steps_per_call, total - position)
            if save_every_steps and self.keeper:  # end this call at the next multiple
                n = min(n, save_every_steps - step % save_every_steps)
            if feed.resident:
                self._call_train_fn(tf.constant(n, tf.int32))
            else:
                self._train_fn(iterator, tf.constant(n, tf.int32))
            new_position = int(self.state.position.numpy())
            steps_done += new_position - position
            self._check_finite()
            if total:  # stop as soon as more than half of the epoch is skipped
                self._check_skipped(epoch, skipped_before, total)
            if new_position - position < n:  # the dataset ran out: end of the epoch
                break
            position = new_position
            bar.update(position, loss=float(self.train_metrics["loss"].result()))
            step = int(self.state.step.numpy())
            # Steps that are multiples of save_every_steps get a checkpoint wherever the
            # run was (re)started; at the epoch's end _end_epoch saves instead.
            if save_every_steps and self.keeper and (total is None or position < total) \
                    and step // save_every_steps > last_save // save_every_steps:
                self._save(self.keeper.save)
                last_save = step
        bar.close()
        if steps_done == 0 and int(self.state.position.numpy()) == 0:
            raise DataError(f"the training data yielded no batches in epoch {epoch + 1}; "
                            "check the dataset (or what fn(epoch) returns) is not empty")
        self._check_skipped(epoch, skipped_before, total or int(self.state.position.numpy()))
        elapsed = time.perf_counter() - start
        self.state.epoch.assign_add(1)
        self.state.position.assign(0)
        logs = {k: float(m.result()) for k, m in self.train_metrics.items()}
        batch = getattr(feed, "batch_size", None)
        logs["learning_rate"] = float(self.optimizer.learning_rate.numpy())
        logs["epoch_time"] = elapsed
        if batch:
            logs["examples_per_second"] = steps_done * batch / max(elapsed, 1e-9)
        if self._skip_nonfinite:
            logs["skipped_steps"] = int(self.state.skipped.numpy())
        return logs

    def _save(self, save):
        """Saves; a non-chief worker's copy goes to a temporary folder, removed at once."""
        prefix = save()
        if not self.chief:
            remove_worker_directory(self._save_dir, self.strategy)
        return prefix

    def _check_finite(self):
        bad = int(self.state.bad_step.numpy())
        if bad:
            raise self._nonfinite_error(
                f"the training loss, a gradient or an updated weight became NaN or Inf at "
                f"step {bad} (epoch {int(self.state.epoch.numpy()) + 1}); that update was "
                "not applied and training stopped", step=bad)

    def _nonfinite_error(self, what, step=None):
        """A NonFiniteLossError: `what` happened, the last good checkpoint, the usual fixes."""
        kept = self._last_good_checkpoint
        return NonFiniteLossError(
            f"{what}. Last good checkpoint: {kept or 'none written yet'}. Lower the learning "
            "rate, or check the inputs for NaN/Inf and extreme values", step=step)

    def _skipped_before(self, epoch, position):
        """The count of skipped steps when this epoch began.

        Resumed mid-epoch, it is the count the history recorded at the previous epoch's
        end; where that is unknown, the count now (only later skips are counted).
        """
        now = int(self.state.skipped.numpy())
        if position == 0 or not self._skip_nonfinite:
            return now
        if epoch == 0:
            return 0
        recorded = self.history.get("skipped_steps", [])
        return recorded[epoch - 1] if len(recorded) >= epoch else now

    def _check_skipped(self, epoch, skipped_before, steps):
        """Raises NonFiniteLossError once more than half of an epoch's `steps` were skipped.

        `skip_nonfinite` is for a rare bad batch; a run that skips most of its steps
        is not training, and calling it a success would keep its result.
        """
        skipped = int(self.state.skipped.numpy()) - skipped_before
        if not self._skip_nonfinite or 2 * skipped <= steps:
            return
        raise self._nonfinite_error(
            f"skipped {skipped} of the {steps} steps of epoch {epoch + 1} ({skipped / steps:.0%}"
            ") because their loss, a gradient or an updated weight was NaN or Inf; a run "
            "that skips more than half of an epoch's steps has failed, and training stopped")

    def _end_epoch(self, logs, monitor, early_stopping):
        """Records the epoch (history, TensorBoard, checkpoints); returns True to stop."""
        step, epoch = int(self.state.step.numpy()), int(self.state.epoch.numpy())
        value = monitor.value(logs)
        # A model whose loss is NaN/Inf is never the best, whatever the monitored value.
        improved = monitor.improved(value, float(self.state.best.numpy())) and all(
            math.isfinite(v) for k, v in logs.items() if k.endswith("loss"))
        if improved:
            self.state.best.assign(value)
            self.state.wait.assign(0)
        else:
            self.state.wait.assign_add(1)
        logs.update(epoch=epoch, step=step)
        for key, value_ in logs.items():
            self.history.setdefault(key, []).append(value_)
        saved = ""
        if self.keeper:
            # The latest checkpoint goes last: it commits the epoch. Killed before it,
            # the run resumes from the previous checkpoint and writes all of these again
            # (TensorBoard drops the abandoned points, history.json is cut to the epoch).
            if self.writer:
                with self._writing_logs():
                    self._write_summaries(step, logs)
            if self.chief:
                self._save_history()
            if improved:
                self._save(self.keeper.save_best)
            saved = os.path.basename(self._save(self.keeper.save)) + (", best" if improved else "")
        stop = isinstance(early_stopping, EarlyStopping) and \
            int(self.state.wait.numpy()) >= early_stopping.patience
        if self.verbose and self.chief:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items()
                              if k not in ("epoch", "step", "epoch_time", "examples_per_second",
                                           "learning_rate", "skipped_steps"))
            rate = logs.get("examples_per_second")
            skipped = logs.get("skipped_steps")
            print(f"Epoch {epoch}  step {step}  {shown}  {logs['epoch_time']:.1f}s"
                  + (f"  {rate:,.0f} ex/s" if rate else "")
                  + (f"  {skipped} non-finite step(s) skipped so far" if skipped else "")
                  + (f"  [saved {saved}]" if saved else "")
                  + (f"  early stop: no {monitor.monitor} gain in "
                     f"{early_stopping.patience} epochs" if stop else ""), flush=True)
        return stop

    def _write_summaries(self, step, logs):
        train = {k: v for k, v in logs.items()
                 if not k.startswith("val_") and k not in ("epoch", "step")}
        self.writer.scalars("train", step, train)
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if val:
            self.writer.scalars("validation", step, val)
        if self.histograms:
            variables = self.model.trainable_variables
            x, y = self._feed.probe_batch()
            grads = self._gradients(x, y)
            self.writer.histograms("train", step, {v.name.split(":")[0]: v for v in variables})
            self.writer.histograms("train", step, {"gradients/" + v.name.split(":")[0]: g
                                                   for v, g in zip(variables, grads)})
        if self._picture_data is not None:
            x, y = self._picture_data
            pictures.write_evaluation_images(self.writer.writer("validation"), step, x, y,
                                             self.predictor.probabilities(x),
                                             self.metadata.get("class_names"))
        self.writer.flush()

    def _pictures_of(self, val_data, limit=10000):
        """The validation arrays that image summaries show (None: no pictures).

        `val_data` is what `eval_data` made of the validation data: checked tensors
        for arrays (pictures need them), a Dataset otherwise (no pictures).
        """
        if not (self.image_summaries and self.writer and self.n_classes) \
                or val_data is None or isinstance(val_data, tf.data.Dataset):
            return None
        x, y = val_data
        return x[:limit].numpy(), y[:limit].numpy()

    def _save_history(self):
        run_history.write(self.run_dir, self.history, self._last_good_checkpoint)

    def _load_history(self):
        """The history of the restored checkpoint's epochs (later ones are cut off).

        A history.json that is missing, damaged or short of epochs is rebuilt from the
        TensorBoard logs, with a warning; if they cannot rebuild it, the run is refused.
        """
        epochs, step = int(self.state.epoch.numpy()), int(self.state.step.numpy())
        history, problem = run_history.load(self.run_dir)
        if history is not None and len(history.get("epoch", [])) < epochs:
            problem = f"holds {len(history.get('epoch', []))} of the run's {epochs} epochs"
        if not problem or epochs == 0:
            return {k: v[:epochs] for k, v in (history or {}).items()}
        path = run_history.path(self.run_dir)
        try:
            history = run_history.rebuild(self.run_dir, epochs, step)
        except ConfigError as e:
            raise CheckpointError(
                f"{path} {problem}, and it cannot be rebuilt: {e}. Put back a copy of "
                "history.json, or train into a new run directory") from None
        warnings.warn(f"{path} {problem}; rebuilt its {epochs} epochs from the TensorBoard "
                      f"logs in {self.run_dir} (train/, validation/)", stacklevel=4)
        if self.chief:
            run_history.write(self.run_dir, history, self._last_good_checkpoint)
        return history

    # ---- evaluation and prediction -------------------------------------------------
    def evaluate(self, data):
        """Loss and metrics over `(x, y)` arrays or a Dataset of batches, e.g. `{"accuracy": 0.88}`."""
        return self.evaluator(self.eval_data(data), self.n_classes)

    def predict(self, x):
        """The model's outputs (logits for classifiers) for `x`, in batches, as a numpy array."""
        return self.predictor.logits(x)
