"""The controller: a readable Python epoch loop around the traced step loop.

`Trainer.fit` decides what runs when: epochs of `StepLoop.train(n)` calls (`lowtf.loop`),
validation, when to stop. Everything else happens in actions (`lowtf.actions`):
checkpoints, early stopping, TensorBoard, images, history.json, the console, and the
user's own. The trainer is the `run` every action gets: it exposes the step, epoch,
model, optimizer, history and writer, and `stop(reason)`.
"""

import contextlib
import json
import math
import os
import time

import tensorflow as tf

from lowtf import actions as lt_actions
from lowtf import run_results
from lowtf.actions.base import action_states, call_hooks, run_actions_for
from lowtf import history as run_history
from lowtf.distribute import PEER_LOST_ERRORS, is_chief
from lowtf.errors import DataError, WorkerLostError, add_context, check_count
from lowtf.inference import Predictor
from lowtf.inputs import explain_input_error
from lowtf.loop import StepLoop
from lowtf.losses import class_label_mode, get_loss
from lowtf.memory import release_free_memory
from lowtf.models import build_model, description, input_width
from lowtf.monitor import Monitor
from lowtf.optimizers import get_optimizer
from lowtf.nonfinite import NonFiniteWatch
from lowtf.resume import load_history, restore_latest
from lowtf.run_config import configuration, hparams_of
from lowtf.run_data import RunData
from lowtf.run_storage import RunStorage
from lowtf.techniques import Techniques


class Trainer:
    """Trains, evaluates and checkpoints a model with a loop you can read.

    Args:
        model: a `lowtf.Network` or any model (`lowtf.models`: a `tf.Module` called as
            `model(x, training=...)`), or a zero-argument function building one (called
            under the strategy scope; an importable one, or one in an experiment file, is
            recorded so `lt.restore(run_dir)` can rebuild the model).
        loss: a name from `lowtf.losses.LOSSES` or `fn(labels, outputs) -> [batch]`.
        optimizer: a `lowtf` optimizer or its name (`sgd` is gradient descent, lr 0.01).
        metrics: names or `Metric`s, e.g. `("accuracy", "top5_accuracy")`.
        run_dir: where TensorBoard logs and checkpoints go; None keeps nothing on disk.
        seed: keys the per-epoch shuffle.
        xla: compile the resident-data loop with XLA (True), not (False), or None: time
            the first steps both ways and keep the faster (`lowtf.xla_choice`).
        steps_per_call: training steps per traced call; None picks ~1/20 of an epoch.
        eval_batch_size: batch size for evaluation and prediction.
        max_to_keep: how many recent checkpoints to keep (the best is kept apart).
        histograms: write weight and gradient histograms every epoch.
        verbose: 0 silent, 1 a line per epoch plus a progress bar on a terminal.
        strategy: a `tf.distribute.Strategy`; None is the default strategy.
        metadata: JSON-serialisable facts stored with the checkpoint, e.g.
            `{"dataset": "fashion_mnist", "class_names": [...]}` for inference.
        image_summaries: with array validation data, write figures of the evaluations to
            `<run>/validation`, taking at most 10% of the run's time, the first and the
            last always (`lowtf.actions.ValidationImages`); on by default.
        l2: factor of an L2 penalty on the kernels, logged apart as `l2_loss`.
        accumulate: micro-batches per update: each update sums the gradients of
            `accumulate` batches of `batch_size` (`lowtf.techniques`).
        ema: decay of a moving average of the weights (e.g. 0.999) that evaluation, the
            best checkpoint, `restore` and export use (`lowtf.ema`); None: none.
        precision: `float32`, `mixed_bfloat16` or `mixed_float16` (`lowtf.precision`);
            evaluation and prediction compute in float32.
        log_every_steps: every this many steps, write the running training metrics, the
            learning rate, the gradients' global norm, examples/second and the step's own
            scalars (`lt.log_scalar`) to TensorBoard's `train` curves (None: per epoch only).
    """

    def __init__(self, model, loss="sparse_softmax_cross_entropy", optimizer="sgd",
                 metrics=("accuracy",), run_dir=None, seed=0, xla=None, steps_per_call=None,
                 eval_batch_size=1000, max_to_keep=3, histograms=True, verbose=1,
                 strategy=None, metadata=None, image_summaries=True, l2=0.0, accumulate=1,
                 ema=None, precision=None, log_every_steps=100):
        self.metadata = dict(metadata or {})
        self.strategy = strategy or tf.distribute.get_strategy()
        self.loss_name, loss_fn = get_loss(loss)
        self.run_dir = None if run_dir is None else os.fspath(run_dir)
        self.seed, self.xla, self.verbose = int(seed), xla, verbose
        self.steps_per_call, self.eval_batch_size = steps_per_call, int(eval_batch_size)
        self.histograms, self.image_summaries = histograms, image_summaries
        self.techniques = Techniques(l2=l2, accumulate=accumulate, ema=ema,
                                     precision=precision)
        self.log_every_steps = check_count("log_every_steps", log_every_steps, optional=True)
        self.replicas = self.strategy.num_replicas_in_sync
        self.chief = is_chief(self.strategy)
        with self.strategy.scope():
            self.model, self.builder = build_model(model)
            self.optimizer = get_optimizer(optimizer)
            self.optimizer.build(self.model.trainable_variables)
        # The settings the run was built with: what an action or the user changes later
        # (a lower learning rate) is state in the checkpoint, not a new configuration.
        self._optimizer_config = self.optimizer.get_config()
        self.loop = StepLoop(self.model, loss_fn, self.optimizer, metrics, self.strategy,
                             self.techniques)
        self.state, self.train_metrics = self.loop.state, self.loop.metrics
        self.nonfinite = NonFiniteWatch(self.state, lambda: self._last_good_checkpoint)
        self.data = RunData(self.model, class_label_mode(loss), self.replicas, self.seed)
        # Evaluation and prediction run on one device, reading the (mirrored) weights.
        self.predictor = Predictor(self.model, self.metadata.get("class_names"),
                                   loss=loss_fn, metrics=metrics,
                                   batch_size=self.eval_batch_size)
        self.evaluator = self.predictor.evaluator
        # The running training metrics are saved too: a run resumed mid-epoch then reports
        # the same epoch loss and accuracy as one that was never interrupted.
        extra = {name: getattr(self.loop, name) for name in ("ema", "loss_scale")
                 if getattr(self.loop, name)}
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                              state=self.state, metrics=self.train_metrics,
                                              **extra)
        self.storage = RunStorage(self.checkpoint, self.run_dir, self.strategy,
                                  self.state.step, max_to_keep, self.chief)
        self.keeper, self.writer = self.storage.keeper, self.storage.writer
        # on every worker (the same traced step everywhere), though only the chief writes
        self.loop.log_every = self.log_every_steps if self.run_dir else None
        self.history = {}
        self._started = self._started_from_checkpoint = False
        self._feed_key = None
        self.fresh = self.improved = self.at_epoch_end = self.validating = False
        self.stop_reason = self.last_saved = None
        self._stopping = False
        self.weights_checkpoint = None  # the checkpoint whose weights are in memory

    # ---- what actions see ----------------------------------------------------------
    n_classes = property(lambda self: self.data.n_classes)
    input_spec = property(lambda self: self.data.input_spec)
    step = property(lambda self: int(self.state.step.numpy()))
    epoch = property(lambda self: int(self.state.epoch.numpy()))
    position = property(lambda self: int(self.state.position.numpy()))
    train_traces = property(lambda self: self.loop.traces)

    def stop(self, reason=None):
        """Asks the controller to stop after the current epoch (or before the next)."""
        self._stopping, self.stop_reason = True, reason

    def save_checkpoint(self, best=False):
        """Saves the latest (or the best) checkpoint; returns its file name."""
        self.last_saved = self.storage.save(best)
        return self.last_saved

    def save_history(self):
        run_history.write(self.run_dir, self.history, self.storage.last_good)

    def restore_best(self):
        """Loads the best checkpoint's weights (or, reported, the latest when it is damaged)."""
        self.storage.restore_best(model=self.model, **(
            {"ema": self.loop.ema} if self.loop.ema else {}))
        self.weights_checkpoint = self.final_checkpoint

    def evaluation_weights(self):
        """A context in which the model holds the weights evaluation uses: the moving
        averages with `ema`, else the weights themselves."""
        return self.loop.ema.swapped() if self.loop.ema else contextlib.nullcontext()

    def writing_logs(self):
        """A context for TensorBoard writes: a failure names the last good checkpoint."""
        return self.storage.writing_logs()

    # ---- the outer loop -----------------------------------------------------------
    def fit(self, train, validation=None, epochs=1, batch_size=50, early_stopping=None,
            shuffle=True, resident=None, resume=True, save_every_steps=None, hparams=None,
            skip_nonfinite=False, trial_id=None, actions=(), eval_every_steps=None):
        """Trains for `epochs` (resuming from the run's latest checkpoint) and returns the history.

        Args:
            train: `(x, y)` arrays, a `tf.data.Dataset` of `(x, y)` batches, or
                `fn(epoch) -> Dataset`.
            validation: `(x, y)` arrays or a Dataset of batches; evaluated every epoch.
            batch_size: examples per step for array data.
            early_stopping: a `lowtf.actions.EarlyStopping` (or a `lowtf.actions.Monitor`: what the best
                checkpoint is), or None to train every epoch. Part of the run's
                configuration: a resumed run must use the same settings.
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
            actions: your own actions (`lowtf.actions.Action`s or functions
                `fn(run, logs)` called every epoch); they run before the built-in ones.
            eval_every_steps: also evaluate the validation data every this many steps
                (`lowtf.actions.EvaluateEvery`; TensorBoard and the console show it).

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
        feed = self._feed_for(train, batch_size, shuffle, resident, skip_nonfinite)
        self._note_dataset(train)
        check_count("eval_every_steps", eval_every_steps, optional=True)
        val_data = None if validation is None else self.data.evaluation(validation)
        self.validating, self.validation_data = val_data is not None, val_data
        monitor = early_stopping or Monitor("val_accuracy" if val_data is not None else "loss")
        config = configuration(
            model=description(self.model), loss=self.loss_name, inputs=self.input_spec,
            builder=self.builder, optimizer=self._optimizer_config,
            metrics=[m for m in self.train_metrics if m not in ("loss", "l2_loss")],
            batch_size=batch_size, seed=self.seed, shuffle=shuffle, metadata=self.metadata,
            early_stopping=early_stopping, techniques=self.techniques.config())
        run_actions = self._actions(actions, early_stopping, save_every_steps, eval_every_steps,
                                    val_data,
                                    {**hparams_of(config, self.optimizer.learning_rate.numpy(), epochs),
                                     **(hparams or {})},
                                    trial_id, epochs)
        config["actions"] = {a.name: a.settings() for a in run_actions
                             if a.settings() is not None and a is not early_stopping}
        self.checkpoint.actions = action_states(run_actions)
        self._stateful_actions = [a.name for a in run_actions if a.variables]
        first_fit = not self._started
        resumed = self._restore_or_start(config, resume)
        self.fresh = first_fit and not resumed
        if math.isnan(float(self.state.best.numpy())):  # unset
            self.state.best.assign(monitor.worst)
        self.state.bad_step.assign(0)
        self._stopping, self.stop_reason = False, None
        failed = True
        try:
            self._call(run_actions, "on_start")
            steps_per_call = self.steps_per_call or max(1, (feed.steps_per_epoch or 2000) // 20)
            while self.epoch < epochs and not self._stopping:
                logs = self._train_epoch(feed, steps_per_call, run_actions)
                release_free_memory()  # the first epoch's XLA compilation, mostly
                if val_data is not None:
                    val = {f"val_{k}": v for k, v in self.validate(val_data).items()}
                    self._call(run_actions, "on_evaluation", val)
                    logs.update(val)
                self._end_epoch(logs, monitor, run_actions)
            failed = False
            self.weights_checkpoint = self.storage.last_good
        except PEER_LOST_ERRORS as e:
            if self.replicas == 1:
                raise
            raise WorkerLostError(
                f"a worker of the cluster was lost near step {self.step} "
                f"({str(e).strip().splitlines()[0][:300]}); the last checkpoint the chief "
                f"completed is {self._last_good_checkpoint}."
                " Restart every worker with the same command: training resumes from it, on "
                "any number of workers") from None
        except tf.errors.InvalidArgumentError as e:
            explained = explain_input_error(e, input_width(self.model), self.n_classes)
            if explained is None:  # the user's model, loss, metric or pipeline: theirs
                raise add_context(e, f"lowtf: raised while training step {self.step + 1} "
                                     f"(epoch {self.epoch + 1})")
            raise DataError(f"training stopped at step {self.step + 1}: {explained}") from None
        finally:
            self._call(run_actions, "on_end", failed, quiet=failed)
        return self.history

    def _note_dataset(self, train):
        """Keeps the class names and the dataset's name a lowtf `Split` carries
        (`load_dataset`'s do) in the run's metadata, unless it names them already: the
        run's figures, `lt.restore` and export then name the classes."""
        names, dataset = getattr(train, "class_names", None), getattr(train, "dataset", None)
        if names and not self.metadata.get("class_names"):
            self.metadata["class_names"] = [str(n) for n in names]
            self.predictor.class_names = tuple(self.metadata["class_names"])
        if dataset and not self.metadata.get("dataset"):
            self.metadata["dataset"] = str(dataset)

    def _call(self, run_actions, hook, *args, quiet=False):
        call_hooks(run_actions, hook, self, *args, quiet=quiet)

    def _feed_for(self, train, batch_size, shuffle, resident, skip_nonfinite):
        """The feed of `train`; the same arrays and settings as the last fit reuse its feed
        and traced (and compiled) loop: calling fit again, e.g. epoch by epoch, costs
        no retrace."""
        sources = tuple(train) if isinstance(train, (tuple, list)) else (train,)
        key = (sources, batch_size, shuffle, resident, bool(skip_nonfinite))
        old = self._feed_key
        if old is not None and len(sources) == len(old[0]) and \
                all(a is b for a, b in zip(sources, old[0])) and key[1:] == old[1:]:
            return self.loop.feed
        feed = self.data.feed(train, batch_size * self.techniques.accumulate, shuffle, resident)
        self._feed_key = key  # holds the sources: their ids stay theirs
        self.loop.build(feed, self.xla, skip_nonfinite)
        self.nonfinite.skip = bool(skip_nonfinite)
        return feed

    def _actions(self, own, early_stopping, save_every_steps, eval_every_steps, val_data,
                 hparams, trial_id, epochs):
        """The user's actions first (what they change is saved), then the built-in ones."""
        images = None
        if self.image_summaries and self.n_classes and val_data is not None \
                and not isinstance(val_data, tf.data.Dataset):
            images = tuple(t.numpy() for t in val_data)
        return run_actions_for(
            own, early_stopping=early_stopping,
            evaluation=eval_every_steps and lt_actions.EvaluateEvery(eval_every_steps),
            tensorboard=lt_actions.TensorBoard(hparams, trial_id, self.histograms,
                                               every_steps=self.log_every_steps)
            if self.writer else None,
            images=images and self.writer and lt_actions.ValidationImages(*images),
            history=self.keeper and self.chief,
            checkpoints=self.keeper and lt_actions.Checkpoints(every_steps=save_every_steps),
            console=self.verbose and lt_actions.Console(epochs))

    @property
    def final_checkpoint(self):
        """The checkpoint that holds the run's model: the best one, else the latest."""
        return self.storage.final

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
        prefix = restore_latest(self.storage.restore_keeper, self.model, config, resume,
                                self.run_dir, self._stateful_actions)
        self._started_from_checkpoint = prefix is not None
        # what may differ on a resume (RESUMABLE_KEYS: metadata, builder) is recorded anew
        self.state.config.assign(json.dumps(config, sort_keys=True))
        if prefix is None:
            return False
        self.history = load_history(self.run_dir, self.epoch, self.step,
                                    self._last_good_checkpoint, self.chief)
        if self.verbose:
            print(f"Resuming from {prefix}: epoch {self.epoch}, step {self.step}")
        return True

    @property
    def _last_good_checkpoint(self):
        return self.storage.last_good

    def _train_epoch(self, feed, steps_per_call, run_actions):
        """One epoch of `loop.train` calls; periodic actions at their steps. Returns its logs."""
        epoch, position = self.epoch, self.position
        if position == 0:  # mid-epoch, the metrics restored from the checkpoint go on
            for metric in self.train_metrics.values():
                metric.reset_state()
        skipped_before = self.nonfinite.skipped_before(epoch, position, self.history)
        total = feed.steps_per_epoch
        self.at_epoch_end = False
        self._call(run_actions, "on_epoch_start")
        iterator = None if feed.resident else self.loop.iterator(epoch, position)
        if feed.resident:
            feed.start_epoch(epoch)
        start, steps_done = time.perf_counter(), 0
        while total is None or position < total:
            n = steps_per_call if total is None else min(steps_per_call, total - position)
            step = self.step
            next_due = {a: a.next_due(step) for a in run_actions}
            for due in next_due.values():  # end this call where an action is due
                if due is not None:
                    n = min(n, max(1, due - step))
            with tf.profiler.experimental.Trace("train", step_num=step + 1, _r=1):
                self.loop.train(n, iterator)  # a step marker, for a profile (lt.actions.Profile)
            new_position = self.position
            steps_done += new_position - position
            self.nonfinite.check_step()
            if total:  # stop as soon as more than half of the epoch is skipped
                self.nonfinite.check_skipped(epoch, skipped_before, total)
            if new_position - position < n:  # the dataset ran out: end of the epoch
                break
            position = new_position
            self._call(run_actions, "on_progress")
            self.at_epoch_end = total is not None and position >= total
            due = [a for a in run_actions if next_due[a] is not None and self.step >= next_due[a]]
            if due:
                running = {k: float(m.result()) for k, m in self.train_metrics.items()}
                self._call(due, "on_steps", running)
        if steps_done == 0 and self.position == 0:
            raise DataError(f"the training data yielded no batches in epoch {epoch + 1}; "
                            "check the dataset (or what fn(epoch) returns) is not empty")
        self.nonfinite.check_skipped(epoch, skipped_before, total or self.position)
        elapsed = time.perf_counter() - start
        self.state.epoch.assign_add(1)
        self.state.position.assign(0)
        logs = {k: float(m.result()) for k, m in self.train_metrics.items()}
        logs["learning_rate"] = float(self.optimizer.learning_rate.numpy())
        logs["epoch_time"] = elapsed
        if getattr(feed, "batch_size", None):
            logs["examples_per_second"] = steps_done * feed.batch_size / max(elapsed, 1e-9)
        if self.nonfinite.skip:
            logs["skipped_steps"] = int(self.state.skipped.numpy())
        return logs

    def _end_epoch(self, logs, monitor, run_actions):
        """Records the epoch and hands it to the actions (best first, then the epoch)."""
        value = monitor.value(logs)
        # A model whose loss is NaN/Inf is never the best, whatever the monitored value.
        self.improved = monitor.improved(value, float(self.state.best.numpy())) and all(
            math.isfinite(v) for k, v in logs.items() if k.endswith("loss"))
        if self.improved:
            self.state.best.assign(value)
        logs.update(epoch=self.epoch, step=self.step)
        for key, value_ in logs.items():
            self.history.setdefault(key, []).append(value_)
        self.last_saved = None
        for action in run_actions:
            if self.improved:
                self._call([action], "on_best", logs)
            self._call([action], "on_epoch", logs)

    # ---- evaluation and prediction -------------------------------------------------
    def validate(self, data):
        """Loss and metrics over checked evaluation data (`RunData.evaluation`), with the
        weights evaluation uses."""
        with self.evaluation_weights():
            return self.evaluator(data, self.n_classes)

    def evaluate(self, data):
        """Loss and metrics over `(x, y)` arrays, a `Split` or a Dataset of batches, e.g.
        `{"accuracy": 0.88}`. On a `test` Split (`lt.load_dataset(...).test`) in a run with
        a `run_dir`, they are also the run's test results: `<run>/test` scalars and
        figures, and `<run>/results.json` (`record_test`)."""
        metrics = self.validate(self.data.evaluation(data))
        if getattr(data, "name", None) == "test" and self.writer:
            self.record_test(data.images, data.labels, metrics)
        return metrics

    def record_test(self, x, y, metrics):
        """Records test `metrics` of the weights in memory (`lowtf.run_results`)."""
        return run_results.record_test(self, x, y, metrics)

    def predict(self, x):
        """The model's outputs (logits for classifiers) for `x`, in batches, as a numpy array."""
        with self.evaluation_weights():
            return self.predictor.logits(x)
