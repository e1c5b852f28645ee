"""Saving and restoring runs with `tf.train.Checkpoint` and `CheckpointManager`.

Layout under a run directory: `checkpoints/ckpt-<step>` (the last few, numbered by
global step) and `checkpoints/best/ckpt-<step>` (the best by the monitored metric).
Before anything is restored, the checkpoint is compared with the model variable by
variable, so a different architecture is reported by name and shape instead of
half-loading. A checkpoint that fails to read is reported and an older one is used.

Crash safety rests on one rule: the `checkpoint` state file names only complete
checkpoints, and it changes by an atomic rename after a checkpoint's files are written.
A save cut short by a kill or a full disk therefore leaves the previous state; its
partial files are ignored, and removed by the next writer. Nothing read from a
checkpoint folder is ever executed: tensors come from TensorFlow's checkpoint format
(CRC-checked), the run configuration is JSON, the state file is a text protobuf.
"""

import errno
import json
import os
import re
import shutil
import socket
import time
import warnings
import weakref

import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no run-directory lock
    fcntl = None

from lowtf.distribute import PEER_LOST_ERRORS
from lowtf.errors import CheckpointError
from lowtf.storage import describe

_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
CONFIG_KEY = "state/config" + _VALUE
# What reading a damaged checkpoint raises: OpError (bad index, failed CRC), ValueError,
# and IndexError ("Read less bytes than requested") for a truncated .data file.
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError)


class CheckpointMismatchError(CheckpointError):
    """A readable checkpoint that belongs to another model or run configuration.

    Unlike a corrupt checkpoint, it is not skipped for an older one: resuming from an
    older checkpoint of the wrong model would be just as wrong.
    """


def checkpoint_dir(run_dir):
    return os.path.join(run_dir, "checkpoints")


def resolve(path):
    """A checkpoint prefix from a run dir, a checkpoints dir or a prefix.

    A run directory resolves to its best checkpoint when there is one (that is the
    model a run reports), else to its latest. A damaged one (CRCs checked) is reported
    and the next is used: the latest, then the older ones. A prefix is returned as is.

    Raises:
        CheckpointError: when no checkpoint is found there, or none reads back whole.
    """
    path = os.fspath(path)
    if tf.io.gfile.exists(path + ".index"):
        return path
    folders = (os.path.join(checkpoint_dir(path), "best"), checkpoint_dir(path), path)
    prefix = first_readable(p for folder in folders if tf.io.gfile.isdir(folder)
                            for p in _committed(folder))
    if prefix:
        return prefix
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
                raise CheckpointMismatchError(
                    f"checkpoint {prefix} was saved from a different model: it has no "
                    f"variable {name} (its layers: {stored_layers}); restore it into the "
                    "architecture it was trained with, or train into a new run directory")
            if list(stored) != var.shape.as_list():
                raise CheckpointMismatchError(
                    f"checkpoint {prefix} was saved from a different model: variable {name} "
                    f"has shape {list(stored)} there but {var.shape.as_list()} in this model; "
                    "build the model with the checkpoint's layer sizes, or train into a new "
                    "run directory")
    extra = sorted(set(stored_layers) - {l.name for l in model.layers})
    if extra:
        raise CheckpointMismatchError(f"checkpoint {prefix} has layers this model lacks: {extra}; "
                              "it was saved from a different architecture")


_CKPT_NAME = re.compile(r"^ckpt-(\d+)\.index$")
_STATE = "checkpoint"
# Left behind by a save that was cut short: TensorFlow's temporary shard folders,
# its `.tempstate` files and the temporary copies of the state file.
_LEFTOVER = re.compile(r"^(ckpt-\d+_temp|checkpoint\.tmp[0-9a-f]+)$")
_LOCKS = {}  # realpath of a checkpoint folder -> [open lock file, number of keepers]


def _is_complete(prefix):
    """Whether both files of a single-shard checkpoint exist (regular files, not FIFOs)."""
    return os.path.isfile(prefix + ".index") and os.path.isfile(
        prefix + ".data-00000-of-00001")


def scan_checkpoints(directory):
    """`ckpt-<n>` prefixes in `directory` whose files exist, oldest first (nothing is opened)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        match = _CKPT_NAME.match(name)
        prefix = os.path.join(directory, name[:-len(".index")])
        if match and _is_complete(prefix):
            found.append((int(match.group(1)), prefix))
    return [prefix for _, prefix in sorted(found)]


def state_problem(directory):
    """Why the `checkpoint` state file of `directory` cannot be trusted, or None if it can.

    The state file is what commits a checkpoint: TensorFlow rewrites it (atomically)
    only after a checkpoint's files are complete. It is distrusted when it is missing
    or cannot be parsed while checkpoint files are there, names checkpoints outside
    its folder, or names none that exists while checkpoint files are there.
    """
    path = os.path.join(directory, _STATE)
    if not os.path.lexists(path):
        return "is missing" if scan_checkpoints(directory) else None
    if not os.path.isfile(path) or os.path.islink(path):
        return "is not a regular file"
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (ValueError, tf.errors.OpError) as e:  # UnicodeDecodeError is a ValueError
        return f"cannot be parsed ({e.__class__.__name__})"
    if state is None or not state.model_checkpoint_path:
        return "cannot be parsed"
    listed = [state.model_checkpoint_path, *state.all_model_checkpoint_paths]
    home = os.path.realpath(directory)
    outside = [p for p in listed if os.path.dirname(os.path.realpath(p)) != home]
    if outside:
        return f"names checkpoints outside {directory}: {outside[:3]}"
    if not any(_is_complete(p) for p in listed) and scan_checkpoints(directory):
        return "names no checkpoint that exists"
    return None


def read_problem(prefix):
    """Why checkpoint `prefix` does not read back whole (CRCs checked), or None if it does."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except READ_ERRORS as e:
        return f"{e.__class__.__name__}: {_first_line(e)[:200]}"
    return None


def readable(prefix):
    """Whether every tensor of checkpoint `prefix` reads back with its CRC intact."""
    return read_problem(prefix) is None


def first_readable(candidates):
    """The first of `candidates` (prefixes, preferred first) that reads back whole.

    Each damaged one passed over is named in a warning, with the one used instead.
    Nothing is deleted. Returns None when there are no candidates.

    Raises:
        CheckpointError: when there are candidates but none reads back whole.
    """
    damaged = []
    for prefix in candidates:
        problem = read_problem(prefix)
        if problem is None:
            if damaged:
                warnings.warn(f"{'; '.join(damaged)} {'is' if len(damaged) == 1 else 'are'} "
                              f"damaged; using {prefix} instead", stacklevel=3)
            return prefix
        damaged.append(f"checkpoint {prefix} ({problem})")
    if damaged:
        raise CheckpointError(f"no readable checkpoint among {'; '.join(damaged)}: they are "
                              "corrupt or incomplete (nothing was deleted); restore them from a "
                              "backup, or retrain")
    return None


def _committed(directory):
    """The checkpoints of `directory`, newest first: those its state file commits.

    With a state file that cannot be trusted, the complete checkpoint files found are
    used instead, with a warning; nothing is repaired here (this is read-only).
    """
    problem = state_problem(directory)
    if problem is None:
        state = tf.train.get_checkpoint_state(directory)
        if state is None:
            return []
        listed = [state.model_checkpoint_path, *reversed(state.all_model_checkpoint_paths)]
        return [p for p in dict.fromkeys(listed) if _is_complete(p)]
    found = scan_checkpoints(directory)
    warnings.warn(f"the checkpoint state file in {directory} {problem}; using the newest "
                  f"checkpoint file found: {found[-1] if found else None}", stacklevel=4)
    return found[::-1]


def _rebuild_state(directory, problem):
    """Moves a damaged state file aside and writes one listing the readable checkpoints.

    Checkpoints found this way were not necessarily committed (a save may have been
    cut short before the state file named it), so each is read in full first: only
    complete ones, CRCs intact, are listed; the rest are left to be overwritten.
    """
    path = os.path.join(directory, _STATE)
    found = [prefix for prefix in scan_checkpoints(directory) if readable(prefix)]
    aside = f"{path}.damaged-{int(time.time())}"
    try:
        if os.path.lexists(path):
            os.replace(path, aside)
        else:
            aside = None
        if found:
            # Timestamps newer than last_preserved make CheckpointManager track them again.
            stamps = [os.path.getmtime(prefix + ".index") for prefix in found]
            checkpoint_management.update_checkpoint_state_internal(
                directory, model_checkpoint_path=found[-1], all_model_checkpoint_paths=found,
                save_relative_paths=True, all_model_checkpoint_timestamps=stamps,
                last_preserved_timestamp=min(stamps) - 1.0)
    except (OSError, tf.errors.OpError) as e:
        raise CheckpointError(
            f"the checkpoint state file {path} {problem}, and it could not be replaced "
            f"({e}); move it away yourself — lowtf then rebuilds it from the ckpt-* files") \
            from None
    if aside or found:
        warnings.warn(f"the checkpoint state file {path} {problem}"
                      + (f"; moved it to {aside}" if aside else "")
                      + f"; rebuilt it from the complete checkpoints found: "
                      f"{[os.path.basename(p) for p in found] or 'none'}", stacklevel=4)


def _manager(checkpoint, directory, max_to_keep, step):
    problem = state_problem(directory)
    if problem:
        _rebuild_state(directory, problem)
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=max_to_keep,
                                      step_counter=step)


def _untrack(manager, prefix):
    """Stops the state file naming `prefix` before that checkpoint is rewritten in place.

    TensorFlow rewrites `ckpt-N.index` in place when `ckpt-N` is saved again, so a write
    cut short there would damage a committed checkpoint. With `prefix` dropped from the
    state first, such a cut leaves the state naming the older, complete checkpoints.
    """
    tracked = getattr(manager, "_maybe_delete", None)
    if tracked is None or prefix not in tracked:
        return
    del tracked[prefix]
    manager._latest_checkpoint = next(reversed(tracked)) if tracked else None
    if tracked:
        manager._record_state()
    else:
        try:
            os.remove(os.path.join(manager.directory, _STATE))
        except FileNotFoundError:
            pass


class CheckpointKeeper:
    """The last `max_to_keep` checkpoints by step plus the best one, crash-safe.

    A checkpoint is committed when the `checkpoint` state file names it, and that file
    is replaced atomically after the checkpoint's files are complete; a save that is
    killed or fails (disk full) leaves the previous state, naming complete checkpoints
    only. Restoring checks each checkpoint (shapes first, CRCs while reading) and falls
    back to an older one when it is damaged. Only TensorFlow's checkpoint formats and
    the text state file are read from the folder; nothing there is executed.

    Args:
        checkpoint: the `tf.train.Checkpoint` of the run (model, optimizer, state...).
        directory: where `ckpt-<step>` files go.
        step: the global-step variable, used to number checkpoints.
    """

    def __init__(self, checkpoint, directory, step, max_to_keep=3):
        self.checkpoint, self.step = checkpoint, step
        self.directory = os.fspath(directory)
        self.latest_manager = _manager(checkpoint, self.directory, max_to_keep, step)
        self.best_manager = _manager(checkpoint, os.path.join(self.directory, "best"), 1, step)
        self._locked = self._final = None

    @property
    def latest(self):
        return self.latest_manager.latest_checkpoint

    @property
    def best(self):
        return self.best_manager.latest_checkpoint

    def lock(self):
        """Claims the folder for this process; raises if another process is writing there.

        Two runs writing one folder would number checkpoints alike and break each
        other's TensorBoard curves. The lock (`flock` on `.lock`) is released when the
        process ends, however it ends; where the file system has no locks, nothing is
        claimed. Leftovers of saves that were cut short are removed once claimed.
        """
        if self._locked:
            return
        key = os.path.realpath(self.directory)
        held = _LOCKS.get(key)
        if held is None:
            held = _LOCKS[key] = [_claim(self.directory), 0]
        held[1] += 1
        self._locked = key
        weakref.finalize(self, _release, key)
        remove_leftovers(self.directory)
        remove_leftovers(os.path.join(self.directory, "best"))

    def save(self):
        return self._save(self.latest_manager)

    def save_best(self):
        return self._save(self.best_manager)

    def _save(self, manager):
        self.lock()
        self._final = None
        number = int(self.step.numpy())
        prefix = os.path.join(manager.directory, f"ckpt-{number}")
        try:
            _untrack(manager, prefix)
            return manager.save(checkpoint_number=number)
        except PEER_LOST_ERRORS:
            raise  # saving is collective: a lost worker is not a write failure (see Trainer.fit)
        except (tf.errors.OpError, OSError) as e:
            # The manager has already noted the new checkpoint in memory: read back what
            # the state file on disk says, which is what a restart would see.
            manager = self._reload(manager)
            if prefix not in manager.checkpoints:
                _remove_failed_save(prefix)
            kept = self.last_complete()
            raise CheckpointError(
                f"could not write checkpoint {prefix} ({describe(e)}); free disk space or "
                f"choose a writable run directory. The last complete checkpoint, "
                f"{kept or '(none yet)'}, is untouched"
                + (" (it was committed before the write failed)" if kept == prefix else "")) \
                from None

    def last_complete(self):
        """The latest checkpoint the state file on disk commits: what a restart resumes from.

        Not the best one, and not what a manager noted in memory before a failed save.
        """
        try:
            return tf.train.latest_checkpoint(self.directory)
        except (ValueError, OSError, tf.errors.OpError):
            return None

    def final(self):
        """The checkpoint holding the run's model: the best one, else the latest.

        A damaged one (CRCs checked) is reported once and the next readable is used:
        the latest, then the older ones. None when there is no checkpoint.

        Raises:
            CheckpointError: when none reads back whole (nothing is deleted).
        """
        candidates = [p for p in (self.best, *reversed(self.latest_manager.checkpoints)) if p]
        if self._final is None or self._final[0] != candidates:
            self._final = candidates, first_readable(candidates)
        return self._final[1]

    def _reload(self, manager):
        try:
            fresh = tf.train.CheckpointManager(
                self.checkpoint, manager.directory, max_to_keep=manager._max_to_keep,
                step_counter=self.step)
        except (ValueError, OSError, tf.errors.OpError):
            return manager
        if manager is self.latest_manager:
            self.latest_manager = fresh
        else:
            self.best_manager = fresh
        return fresh

    def restore_latest(self, model, check=None):
        """Restores the newest readable checkpoint; returns its prefix, or None if none.

        A checkpoint that cannot be read (truncated, bits flipped, files missing) is
        reported with a warning and skipped for the one before it; a checkpoint of a
        different model, or one that `check(prefix)` refuses by raising
        `CheckpointMismatchError`, raises.
        """
        candidates = list(reversed(self.latest_manager.checkpoints))
        failures = []
        for prefix in candidates:
            try:
                check_model_matches(prefix, model)
                if check is not None:
                    check(prefix)
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
            except CheckpointMismatchError:
                raise
            except AssertionError as e:  # readable, but without some of this trainer's state
                raise CheckpointMismatchError(
                    f"checkpoint {prefix} does not hold all of this trainer's state "
                    f"({_first_line(e)[:300]}); it was written by another lowtf version or "
                    "trainer setup — resume it with that, or train into a new run directory") \
                    from None
            except (CheckpointError, *READ_ERRORS) as e:
                failures.append(f"{prefix} ({e.__class__.__name__}: {_first_line(e)[:200]})")
            else:
                if failures:
                    warnings.warn(f"skipped unreadable checkpoint(s) {failures}; resumed "
                                  f"from {prefix}", stacklevel=2)
                return prefix
        if failures:
            raise CheckpointError(f"no readable checkpoint among {failures}; they are corrupt "
                                  "or incomplete — move them away and retrain")
        return None


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__


def _claim(directory):
    """An open, flock-ed `.lock` file in `directory`, or None where locking is impossible."""
    if fcntl is None:
        return None
    path = os.path.join(directory, ".lock")
    try:
        os.makedirs(directory, exist_ok=True)
        handle = open(path, "a+")
    except OSError:
        return None  # the first save will report why the folder cannot be written
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
            handle.seek(0)
            holder = handle.read(200).strip() or "another process"
            handle.close()
            raise CheckpointError(
                f"{directory} is in use by {holder}; two runs must not write one run "
                "directory — wait for that run to end, or pass another --run-dir") from None
        handle.close()
        return None  # no locks on this file system
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
    except OSError:
        pass
    return handle


def _release(key):
    held = _LOCKS.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _LOCKS[key]
        if held[0] is not None:
            held[0].close()


def remove_leftovers(directory):
    """Deletes what saves that were cut short left in `directory` (never a committed file)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        path = os.path.join(directory, name)
        if _LEFTOVER.match(name) or ".tempstate" in name:
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.remove(path)
            except OSError:
                pass


def _remove_failed_save(prefix):
    """After a failed save of an uncommitted checkpoint: frees the space its files hold."""
    shutil.rmtree(prefix + "_temp", ignore_errors=True)
    for path in (prefix + ".index", prefix + ".data-00000-of-00001"):
        try:
            if os.path.isfile(path):
                os.remove(path)
        except OSError:
            pass
