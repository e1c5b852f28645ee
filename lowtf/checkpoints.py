"""Saving and restoring runs with `tf.train.Checkpoint` and `CheckpointManager`.

Layout under a run directory: `checkpoints/ckpt-<step>` (the last few, numbered by
global step) and `checkpoints/best/ckpt-<step>` (the best by the monitored metric).
Before anything is restored, the checkpoint is compared with the model variable by
variable, so a different architecture is reported by name and shape instead of
half-loading. A checkpoint that fails to read is reported and an older one is used.
"""

import json
import os
import warnings

import tensorflow as tf

from lowtf.errors import CheckpointError

_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
CONFIG_KEY = "state/config" + _VALUE
# What reading a damaged checkpoint raises: OpError (bad index, failed CRC), ValueError,
# and IndexError ("Read less bytes than requested") for a truncated .data file.
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError)


def checkpoint_dir(run_dir):
    return os.path.join(run_dir, "checkpoints")


def resolve(path):
    """A checkpoint prefix from a run dir, a checkpoints dir or a prefix.

    A run directory resolves to its best checkpoint when there is one (that is the
    model a run reports), else to its latest.

    Raises:
        CheckpointError: when no checkpoint is found there.
    """
    path = os.fspath(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    for candidate in (os.path.join(checkpoint_dir(path), "best"), checkpoint_dir(path), path):
        if tf.io.gfile.isdir(candidate):
            latest = tf.train.latest_checkpoint(candidate)
            if latest:
                return latest
    raise CheckpointError(
        f"no checkpoint found at {path!r}; pass a run directory (e.g. logs/fashion_mnist_dnn), "
        "its checkpoints/ folder or a checkpoint prefix such as .../ckpt-1100")


def read_shapes(prefix):
    try:
        return tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    except READ_ERRORS as e:
        raise CheckpointError(f"checkpoint {prefix} cannot be read ({e.__class__.__name__}: "
                              f"{str(e).splitlines()[0]}); it is corrupt or incomplete — use "
                              "an older checkpoint or retrain") from None


def read_config(prefix):
    """The run configuration stored in a lowtf checkpoint (parsed as JSON, never executed)."""
    if CONFIG_KEY not in read_shapes(prefix):
        raise CheckpointError(f"checkpoint {prefix} holds no lowtf run configuration; "
                              "it was not written by lowtf's Trainer")
    try:
        raw = tf.train.load_checkpoint(prefix).get_tensor(CONFIG_KEY)
    except READ_ERRORS as e:
        raise CheckpointError(f"checkpoint {prefix} cannot be read ({e.__class__.__name__}: "
                              f"{str(e).splitlines()[0]}); it is corrupt or incomplete — use "
                              "an older checkpoint or retrain") from None
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError as e:
        raise CheckpointError(f"checkpoint {prefix} has a corrupt configuration: {e}") from None


def check_model_matches(prefix, model, key="model"):
    """Raises CheckpointError naming the first variable whose presence or shape differs."""
    shapes = read_shapes(prefix)
    stored_layers = sorted({k.split("/")[1] for k in shapes
                            if k.startswith(key + "/") and k.endswith(_VALUE)})
    for layer in model.layers:
        for attr in ("kernel", "bias"):
            var = getattr(layer, attr)
            name = f"{model.name}/{layer.name}/{attr}"
            stored = shapes.get(f"{key}/{layer.name}/{attr}{_VALUE}")
            if stored is None:
                raise CheckpointError(
                    f"checkpoint {prefix} was saved from a different model: it has no "
                    f"variable {name} (its layers: {stored_layers}); restore it into the "
                    "architecture it was trained with, or train into a new run directory")
            if list(stored) != var.shape.as_list():
                raise CheckpointError(
                    f"checkpoint {prefix} was saved from a different model: variable {name} "
                    f"has shape {list(stored)} there but {var.shape.as_list()} in this model; "
                    "build the model with the checkpoint's layer sizes, or train into a new "
                    "run directory")
    extra = sorted(set(stored_layers) - {l.name for l in model.layers})
    if extra:
        raise CheckpointError(f"checkpoint {prefix} has layers this model lacks: {extra}; "
                              "it was saved from a different architecture")


class CheckpointKeeper:
    """The last `max_to_keep` checkpoints by step plus the best one.

    Args:
        checkpoint: the `tf.train.Checkpoint` of the run (model, optimizer, state...).
        directory: where `ckpt-<step>` files go.
        step: the global-step variable, used to number checkpoints.
    """

    def __init__(self, checkpoint, directory, step, max_to_keep=3):
        self.checkpoint, self.step = checkpoint, step
        self.latest_manager = tf.train.CheckpointManager(
            checkpoint, directory, max_to_keep=max_to_keep, step_counter=step)
        self.best_manager = tf.train.CheckpointManager(
            checkpoint, os.path.join(directory, "best"), max_to_keep=1, step_counter=step)

    @property
    def latest(self):
        return self.latest_manager.latest_checkpoint

    @property
    def best(self):
        return self.best_manager.latest_checkpoint

    def save(self):
        return self._save(self.latest_manager)

    def save_best(self):
        return self._save(self.best_manager)

    def _save(self, manager):
        try:
            return manager.save(checkpoint_number=int(self.step.numpy()))
        except (tf.errors.OpError, OSError) as e:
            raise CheckpointError(f"could not write a checkpoint to {manager.directory} "
                                  f"({str(e).splitlines()[0]}); free disk space or choose a "
                                  "writable run directory — earlier checkpoints are untouched") \
                from None

    def restore_latest(self, model):
        """Restores the newest readable checkpoint; returns its prefix, or None if none.

        A checkpoint that cannot be read is reported with a warning and skipped for the
        one before it; a checkpoint of a different model raises.
        """
        candidates = list(reversed(self.latest_manager.checkpoints))
        failures = []
        for prefix in candidates:
            try:
                check_model_matches(prefix, model)
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
                if failures:
                    warnings.warn(f"skipped unreadable checkpoint(s) {failures}; resumed "
                                  f"from {prefix}", stacklevel=2)
                return prefix
            except CheckpointError as e:
                if "different model" in str(e) or "layers this model lacks" in str(e):
                    raise
                failures.append(prefix)
            except (*READ_ERRORS, AssertionError) as e:
                failures.append(f"{prefix} ({e.__class__.__name__})")
        if failures:
            raise CheckpointError(f"no readable checkpoint among {failures}; they are corrupt "
                                  "or incomplete — move them away and retrain")
        return None
