"""Writing checkpoints crash-safely: `CheckpointKeeper`, one writer per folder.

The keeper commits a checkpoint by letting TensorFlow replace the `checkpoint` state
file atomically once the checkpoint's files are complete (see `lowtf.checkpoints` for
the rule and for reading). Before writing it claims the folder with a lock, removes
what saves that were cut short left behind, rebuilds a state file that cannot be
trusted from the checkpoints that read back whole, and never rewrites a committed
checkpoint while the state file still names it.
"""

import errno
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

from lowtf.checkpoints import (
    _STATE,
    READ_ERRORS,
    CheckpointMismatchError,
    _first_line,
    check_model_matches,
    first_readable,
    readable,
    scan_checkpoints,
    state_problem,
)
from lowtf.distribute import PEER_LOST_ERRORS
from lowtf.errors import CheckpointError
from lowtf.run_dir import best_checkpoints
from lowtf.storage import describe

# Left behind by a save that was cut short: TensorFlow's temporary shard folders,
# its `.tempstate` files and the temporary copies of the state file.
_LEFTOVER = re.compile(r"^(ckpt-\d+_temp|checkpoint\.tmp[0-9a-f]+)$")
_LOCKS = {}  # realpath of a checkpoint folder -> [open lock file, number of keepers]


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
        self.best_manager = _manager(checkpoint, best_checkpoints(self.directory), 1, step)
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
        remove_leftovers(best_checkpoints(self.directory))

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
