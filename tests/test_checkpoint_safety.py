"""A checkpoint is either complete or ignored.

Damaged checkpoints (truncated, bits flipped, files missing, a mangled state file) are
detected on restore, reported, and an older good one is used; a resumed run then ends
exactly where an uninterrupted one does. Failed writes (disk full, simulated by
injecting the errors the file system gives) stop the run with a clear error and never
touch the last good checkpoint. Two processes cannot write one run directory, and
nothing in a checkpoint folder is ever executed.
"""

import ast
import errno
import os
import pickle
import shutil
import signal
import subprocess
import sys
import warnings

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow.python.checkpoint import checkpoint_management

import lowtf as lt
from conftest import make_prototype_data
from lowtf import checkpoint_keeper
from lowtf import checkpoints as ckpt
from lowtf.storage import WriteError

TRAIN, VALIDATION = make_prototype_data(n=260, n_train=200, noise=0.35, seed=4)
# 10 steps per epoch in calls of 2; checkpoints at multiples of 4 and at epoch ends,
# the last 3 kept: after 3 epochs ckpt-24, ckpt-28 and ckpt-30.
LATEST, PREVIOUS = "ckpt-30", "ckpt-28"
_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def make_trainer(run_dir=None, **kw):
    return lt.Trainer(lt.dnn(784, (16,), 10, seed=3), optimizer=lt.optimizers.Adam(0.01),
                      metrics=("accuracy",), run_dir=run_dir, seed=5, verbose=0, xla=False,
                      steps_per_call=2, eval_batch_size=100, **kw)


def fit(trainer, epochs):
    return trainer.fit(TRAIN, VALIDATION, epochs=epochs, batch_size=20, save_every_steps=4)


def weights_in(prefix):
    """The model's weights stored in a checkpoint, keyed like `Network.get_weights()`."""
    reader = tf.train.load_checkpoint(prefix)
    return {"dnn/" + key[len("model/"):-len(_VALUE)]: reader.get_tensor(key)
            for key in reader.get_variable_to_shape_map()
            if key.startswith("model/") and key.endswith(_VALUE)}


def assert_weights(actual, expected):
    assert sorted(actual) == sorted(expected)
    for key in expected:
        assert actual[key].tobytes() == expected[key].tobytes(), key


def without_timing(history):
    return {k: v for k, v in history.items() if k not in ("epoch_time", "examples_per_second")}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A 3-epoch run (its checkpoints' weights) and an uninterrupted 4-epoch run."""
    base = tmp_path_factory.mktemp("safety")
    run = base / "run3"
    fit(make_trainer(run), 3)
    state = tf.train.get_checkpoint_state(str(run / "checkpoints"))
    kept = [os.path.basename(p) for p in state.all_model_checkpoint_paths]
    assert kept == ["ckpt-24", PREVIOUS, LATEST]
    saved = {name: weights_in(str(run / "checkpoints" / name)) for name in kept}
    straight = make_trainer(base / "run4")
    history = fit(straight, 4)
    return run, saved, straight.model.get_weights(), history


@pytest.fixture
def run_copy(pristine, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(pristine[0], copy)
    return copy


# ---- damaged checkpoint files ----------------------------------------------------------

def _flip(data, fraction, bit=3):
    i = min(len(data) - 1, int(len(data) * fraction))
    data[i] ^= 1 << bit
    return data


DAMAGE = {
    "data-empty": ("data", lambda d: bytearray()),
    "data-half": ("data", lambda d: d[:len(d) // 2]),
    "data-last-byte-cut": ("data", lambda d: d[:-1]),
    "data-one-bit-flipped": ("data", lambda d: _flip(d, 0.5)),
    "data-every-97th-byte": ("data", lambda d: bytearray(b ^ 0xFF if i % 97 == 0 else b
                                                         for i, b in enumerate(d))),
    "data-missing": ("data", None),
    "index-empty": ("index", lambda d: bytearray()),
    "index-half": ("index", lambda d: d[:len(d) // 2]),
    "index-first-bit-flipped": ("index", lambda d: _flip(d, 0.0, 0)),
    "index-middle-bit-flipped": ("index", lambda d: _flip(d, 0.5)),
    "index-magic-bit-flipped": ("index", lambda d: _flip(d, 1.0)),
    "index-missing": ("index", None),
}


def damage(prefix, what, how):
    path = f"{prefix}.index" if what == "index" else f"{prefix}.data-00000-of-00001"
    if how is None:
        os.remove(path)
        return
    with open(path, "rb") as f:
        data = bytearray(f.read())
    with open(path, "wb") as f:
        f.write(bytes(how(data)))


def restore_latest(run_dir):
    """Restores a run's latest readable checkpoint into a fresh trainer; returns
    (prefix, the trainer's weights, the warnings given)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = make_trainer(run_dir)
        prefix = trainer.keeper.restore_latest(trainer.model)
    return prefix, trainer.model.get_weights(), [str(w.message) for w in caught]


@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_latest_checkpoint_is_reported_and_the_previous_one_used(pristine, run_copy,
                                                                          name):
    _, saved, _, _ = pristine
    what, how = DAMAGE[name]
    damage(run_copy / "checkpoints" / LATEST, what, how)
    prefix, weights, messages = restore_latest(run_copy)
    assert os.path.basename(prefix) == PREVIOUS
    assert any(LATEST in m and "unreadable" in m for m in messages), messages
    assert_weights(weights, saved[PREVIOUS])


@pytest.mark.parametrize("name", ["data-half", "index-middle-bit-flipped"])
def test_a_run_resumed_past_a_damaged_checkpoint_ends_as_if_never_interrupted(pristine,
                                                                             run_copy, name):
    _, _, final_weights, history = pristine
    what, how = DAMAGE[name]
    damage(run_copy / "checkpoints" / LATEST, what, how)
    trainer = make_trainer(run_copy)
    with pytest.warns(UserWarning, match=LATEST):
        resumed = fit(trainer, 4)
    assert_weights(trainer.model.get_weights(), final_weights)
    assert without_timing(resumed) == without_timing(history)
    state = tf.train.get_checkpoint_state(str(run_copy / "checkpoints"))
    assert all(ckpt.readable(p) for p in state.all_model_checkpoint_paths)


def test_every_checkpoint_damaged_is_an_error_not_a_fresh_start(run_copy):
    for name in ("ckpt-24", PREVIOUS, LATEST):
        damage(run_copy / "checkpoints" / name, "data", lambda d: d[:10])
    with pytest.raises(lt.CheckpointError, match="no readable checkpoint among"):
        fit(make_trainer(run_copy), 4)
    assert sorted(os.listdir(run_copy / "checkpoints"))  # nothing was deleted


_ONE_TRAINER = []


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(what=st.sampled_from(["index", "data"]),
       kind=st.sampled_from(["flip", "truncate", "overwrite", "append"]),
       where=st.floats(0.0, 1.0), bit=st.integers(0, 7), length=st.integers(1, 64),
       junk=st.binary(min_size=1, max_size=64))
def test_any_damage_is_detected_or_harmless(pristine, tmp_path_factory, what, kind, where, bit,
                                           length, junk):
    """Property: after any damage to the latest checkpoint, restoring gives exactly the
    latest checkpoint's weights (harmless damage) or, with a warning, the previous one's."""
    run, saved, _, _ = pristine
    folder = tmp_path_factory.mktemp("fuzz") / "checkpoints"
    shutil.copytree(run / "checkpoints", folder)
    path = folder / (f"{LATEST}.index" if what == "index" else f"{LATEST}.data-00000-of-00001")
    data = bytearray(path.read_bytes())
    i = min(len(data) - 1, int(where * len(data)))
    if kind == "flip":
        data[i] ^= 1 << bit
    elif kind == "truncate":
        data = data[:i]
    elif kind == "overwrite":
        data[i:i + length] = (junk * length)[:length]
    else:
        data += junk
    path.write_bytes(bytes(data))
    if not _ONE_TRAINER:  # one trainer for all examples: restoring overwrites everything
        _ONE_TRAINER.append(make_trainer())
    trainer = _ONE_TRAINER[0]
    keeper = checkpoint_keeper.CheckpointKeeper(trainer.checkpoint, folder, trainer.state.step)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prefix = keeper.restore_latest(trainer.model)
    name = os.path.basename(prefix)
    if name == LATEST:
        assert not caught
    else:
        assert name == PREVIOUS and any(LATEST in str(w.message) for w in caught)
    assert_weights(trainer.model.get_weights(), saved[name])


def best_run(run_dir, epochs=2):
    """A run with early stopping (so fit restores its best checkpoint); returns the trainer."""
    trainer = make_trainer(run_dir)
    trainer.fit(TRAIN, VALIDATION, epochs=epochs, batch_size=20, save_every_steps=4,
                early_stopping=lt.actions.EarlyStopping(patience=5))
    return trainer


def test_a_damaged_best_checkpoint_is_reported_and_the_latest_one_used(tmp_path):
    trained = best_run(tmp_path)
    best, latest = trained.keeper.best, trained.keeper.latest
    damage(best, *DAMAGE["data-one-bit-flipped"])
    again = make_trainer(tmp_path)
    with pytest.warns(UserWarning, match=rf"{best}.*damaged.*using {latest}"):
        again.fit(TRAIN, VALIDATION, epochs=2, batch_size=20, save_every_steps=4,
                  early_stopping=lt.actions.EarlyStopping(patience=5))
    assert_weights(again.model.get_weights(), weights_in(latest))
    assert again.final_checkpoint == latest  # already reported
    with pytest.warns(UserWarning, match=rf"{best}.*damaged.*using {latest}"):
        predictor = lt.restore(tmp_path)
    assert predictor.checkpoint == latest
    assert_weights(predictor.model.get_weights(), weights_in(latest))
    assert os.path.exists(best + ".index")  # reported, never deleted


def test_no_readable_checkpoint_for_inference_is_an_error_that_deletes_nothing(run_copy):
    folder = run_copy / "checkpoints"
    for prefix in [*ckpt.scan_checkpoints(folder), *ckpt.scan_checkpoints(folder / "best")]:
        damage(prefix, *DAMAGE["data-one-bit-flipped"])
    before = sorted(os.listdir(folder)), sorted(os.listdir(folder / "best"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(lt.CheckpointError, match="no readable checkpoint among .*retrain"):
            lt.restore(run_copy)
    assert (sorted(os.listdir(folder)), sorted(os.listdir(folder / "best"))) == before


# ---- the state file ---------------------------------------------------------------------

STATE_DAMAGE = {
    "binary-garbage": lambda p: p.write_bytes(bytes(range(256))),
    "empty": lambda p: p.write_bytes(b""),
    "cut-short": lambda p: p.write_bytes(p.read_bytes()[:30]),
    "names-a-missing-checkpoint": lambda p: p.write_text(
        'model_checkpoint_path: "ckpt-999"\nall_model_checkpoint_paths: "ckpt-999"\n'),
    "names-files-elsewhere": lambda p: p.write_text(
        'model_checkpoint_path: "../../elsewhere/ckpt-1"\n'
        'all_model_checkpoint_paths: "../../elsewhere/ckpt-1"\n'),
    "missing": lambda p: p.unlink(),
    "a-directory": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.mark.parametrize("name", list(STATE_DAMAGE))
def test_a_damaged_state_file_is_rebuilt_from_the_complete_checkpoints(pristine, run_copy,
                                                                      name):
    _, saved, _, _ = pristine
    STATE_DAMAGE[name](run_copy / "checkpoints" / "checkpoint")
    prefix, weights, messages = restore_latest(run_copy)
    assert os.path.basename(prefix) == LATEST
    assert_weights(weights, saved[LATEST])
    assert any("rebuilt it from the complete checkpoints found: ['ckpt-24', 'ckpt-28', "
               "'ckpt-30']" in m for m in messages), messages
    state = tf.train.get_checkpoint_state(str(run_copy / "checkpoints"))
    assert os.path.basename(state.model_checkpoint_path) == LATEST


def test_a_rebuilt_state_lists_only_checkpoints_that_read_back_whole(pristine, run_copy):
    _, saved, _, _ = pristine
    (run_copy / "checkpoints" / "checkpoint").write_bytes(b"\xff\xfe")
    damage(run_copy / "checkpoints" / LATEST, "index", lambda d: bytearray())  # a cut write
    prefix, weights, messages = restore_latest(run_copy)
    assert os.path.basename(prefix) == PREVIOUS
    assert_weights(weights, saved[PREVIOUS])
    assert any("['ckpt-24', 'ckpt-28']" in m for m in messages), messages


def test_inference_reads_past_a_damaged_state_file(pristine, run_copy):
    _, saved, _, _ = pristine
    shutil.rmtree(run_copy / "checkpoints" / "best")
    (run_copy / "checkpoints" / "checkpoint").write_bytes(b"\x00garbage")
    with pytest.warns(UserWarning, match="newest checkpoint file found"):
        predictor = lt.restore(run_copy)
    assert os.path.basename(predictor.checkpoint) == LATEST
    assert_weights(predictor.model.get_weights(), saved[LATEST])


# ---- writes that fail -------------------------------------------------------------------

def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_failed_checkpoint_commit_keeps_the_last_good_one(pristine, tmp_path, monkeypatch):
    """The state file cannot be written (disk full) while ckpt-16 is saved: the error says
    so, ckpt-12 stays the latest, ckpt-16's files are removed, and the run resumes."""
    _, _, final_weights, history = pristine
    real = checkpoint_management.update_checkpoint_state_internal
    calls = []

    def fail_at_16(save_dir, model_checkpoint_path, *args, **kwargs):
        calls.append(model_checkpoint_path)
        if model_checkpoint_path.endswith("ckpt-16"):
            no_space()
        return real(save_dir, model_checkpoint_path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal", fail_at_16)
    trainer = make_trainer(tmp_path)
    with pytest.raises(lt.CheckpointError, match=r"ckpt-16 \(No space left on device.*"
                                                 r"last complete checkpoint, \S*ckpt-12, is "
                                                 r"untouched"):
        fit(trainer, 4)
    monkeypatch.undo()
    folder = tmp_path / "checkpoints"
    assert os.path.basename(tf.train.latest_checkpoint(str(folder))) == "ckpt-12"
    assert not [n for n in os.listdir(folder) if n.startswith("ckpt-16")]
    resumed = make_trainer(tmp_path)
    fit(resumed, 4)
    assert_weights(resumed.model.get_weights(), final_weights)
    assert without_timing(resumed.history) == without_timing(history)


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_a_failed_best_save_names_the_last_complete_checkpoint(tmp_path, monkeypatch, nth):
    """The disk fills up at the nth write of best/'s state file (TensorFlow writes it twice
    per save: 1 and 2 are the first best save, 3 the next): the error names the latest
    committed checkpoint (what the run resumes from), not '(none yet)', best/'s older one
    or the best checkpoint whose save failed."""
    real = checkpoint_management.update_checkpoint_state_internal
    best_saves = []

    def fail_nth_best(save_dir, model_checkpoint_path, *args, **kwargs):
        if os.path.basename(save_dir) == "best":
            best_saves.append(model_checkpoint_path)
            if len(best_saves) == nth:
                no_space()
        return real(save_dir, model_checkpoint_path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal",
                        fail_nth_best)
    with pytest.raises(lt.CheckpointError) as info:
        fit(make_trainer(tmp_path), 6)
    monkeypatch.undo()
    committed = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert os.path.basename(best_saves[-1]) not in committed
    assert f"last complete checkpoint, {committed}, is untouched" in str(info.value)


def test_a_worker_lost_during_a_save_is_not_reported_as_a_write_failure(tmp_path,
                                                                        monkeypatch):
    # Saving is collective under MultiWorkerMirroredStrategy: a peer killed during a
    # save surfaces there. It must reach Trainer.fit's lost-worker handling (which
    # re-raises it with one replica), not become "could not write ... free disk space".
    real = checkpoint_management.update_checkpoint_state_internal

    def peer_lost_at_16(save_dir, model_checkpoint_path, *args, **kwargs):
        if model_checkpoint_path.endswith("ckpt-16"):
            raise tf.errors.UnavailableError(None, None, "Collective ops is aborted by: a "
                                             "task stopped sending heartbeats")
        return real(save_dir, model_checkpoint_path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal",
                        peer_lost_at_16)
    with pytest.raises(tf.errors.UnavailableError, match="heartbeats"):
        fit(make_trainer(tmp_path), 4)


def test_failed_tensorboard_writes_stop_the_run_with_a_clear_error(pristine, tmp_path,
                                                                   monkeypatch):
    _, _, final_weights, _ = pristine
    real_flush = lt.summaries.RunWriter.flush
    trainer = make_trainer(tmp_path)

    def flush(self):
        if trainer.step > 10:  # epoch 1's logs (step 10) are written, epoch 2's fail
            raise tf.errors.ResourceExhaustedError(
                None, None, "/run/train/events.out.tfevents.1; No space left on device")
        real_flush(self)

    monkeypatch.setattr(lt.summaries.RunWriter, "flush", flush)
    with pytest.raises(WriteError, match=r"could not write the TensorBoard logs .* \(No "
                                         r"space left on device\).*resumes from the last "
                                         r"complete checkpoint, \S*ckpt-16"):
        fit(trainer, 4)
    monkeypatch.undo()
    resumed = make_trainer(tmp_path)
    fit(resumed, 4)
    assert_weights(resumed.model.get_weights(), final_weights)


def test_a_failed_history_write_keeps_the_old_file(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path)
    fit(trainer, 1)
    before = (tmp_path / "history.json").read_bytes()
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(WriteError, match="could not write the run history .*history.json "
                                         r"\(No space left on device\)"):
        fit(trainer, 2)
    monkeypatch.undo()
    assert (tmp_path / "history.json").read_bytes() == before
    assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]


def test_rewriting_a_committed_checkpoint_never_exposes_a_half_written_one(tmp_path):
    """TensorFlow rewrites ckpt-N in place when ckpt-N is saved again; the keeper first
    drops it from the state file, so a write cut short leaves the state naming ckpt-4."""
    trainer = make_trainer(tmp_path)
    keeper = trainer.keeper
    trainer.state.step.assign(4)
    keeper.save()
    trainer.state.step.assign(8)
    good = keeper.save()
    real_write = tf.train.Checkpoint._write

    def cut_short(self, prefix, *args, **kwargs):
        with open(prefix + ".index", "r+b") as f:  # the in-place rewrite has begun...
            f.truncate(7)
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    tf.train.Checkpoint._write = cut_short
    try:
        with pytest.raises(lt.CheckpointError, match="ckpt-4, is untouched"):
            keeper.save()
    finally:
        tf.train.Checkpoint._write = real_write
    assert os.path.basename(tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))) == \
        "ckpt-4"
    assert not os.path.exists(good + ".index")  # the damaged files were removed
    again = make_trainer(tmp_path)
    assert os.path.basename(again.keeper.restore_latest(again.model)) == "ckpt-4"


# ---- one writer per run directory -------------------------------------------------------

HOLD_LOCK = """
import fcntl, os, sys, time
f = open(sys.argv[1], "a+")
fcntl.flock(f, fcntl.LOCK_EX)
f.seek(0); f.truncate(); f.write("process %d on testhost" % os.getpid()); f.flush()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(checkpoint_keeper.fcntl is None, reason="no flock on this platform")
def test_a_run_directory_in_use_by_another_process_is_refused(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK,
                               str(tmp_path / "checkpoints" / ".lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(lt.CheckpointError,
                           match=rf"in use by process {holder.pid} on testhost.*another "
                                 r"--run-dir"):
            fit(make_trainer(tmp_path), 1)
        assert not [n for n in os.listdir(tmp_path / "checkpoints") if n.startswith("ckpt")]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    fit(make_trainer(tmp_path), 1)  # the lock died with its process


# ---- nothing from a checkpoint folder is executed ---------------------------------------

FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRIBUTES = {("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"),
                        ("marshal", "load"), ("dill", "load"), ("yaml", "load"),
                        ("shelve", "open"), ("saved_model", "load"), ("models", "load_model")}


def test_lowtf_has_no_pickle_eval_or_saved_model_loading():
    package = os.path.dirname(lt.__file__)
    names = sorted(os.path.relpath(os.path.join(folder, name), package)  # subpackages too
                   for folder, _, files in os.walk(package) for name in files)
    assert "optimizers/base.py" in names
    found = []
    for name in names:
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(package, name)).read(), name)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                found += [f"{name}: import {m}" for m in modules
                          if m.split(".")[0] in ("pickle", "marshal", "dill", "shelve", "yaml")]
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"{name}:{node.lineno}: {func.id}()")
            if isinstance(func, ast.Attribute) and isinstance(func.value, (ast.Name, ast.Attribute)):
                owner = func.value.id if isinstance(func.value, ast.Name) else func.value.attr
                if (owner, func.attr) in FORBIDDEN_ATTRIBUTES:
                    found.append(f"{name}:{node.lineno}: {owner}.{func.attr}()")
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                    found.append(f"{name}:{node.lineno}: allow_pickle")
    assert not found, found


class _Trap:
    """Unpickling this creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_files_planted_in_a_checkpoint_folder_are_never_run(pristine, run_copy, tmp_path):
    marker = tmp_path / "EXECUTED"
    payload = f"open({str(marker)!r}, 'w').close()\n"
    folder = run_copy / "checkpoints"
    for name in ("__init__.py", "checkpoint.py", "sitecustomize.py", "config.py"):
        (folder / name).write_text(payload)
        (run_copy / name).write_text(payload)
    for name in ("ckpt-30.pkl", "config.pkl", "state.pickle"):
        (folder / name).write_bytes(pickle.dumps(_Trap(str(marker))))
    (run_copy / "history.json").write_text('{"loss": [1], "x": "__import__(\'os\')"}')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lt.restore(run_copy)
        fit(make_trainer(run_copy), 4)
        lt.checkpoints.read_config(ckpt.resolve(run_copy))
    assert not marker.exists()


def test_a_configuration_holding_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "EXECUTED"
    model = lt.dnn(784, (16,), 10, seed=3)
    state = tf.Module()
    state.config = tf.Variable(f"__import__('os').system('touch {marker}')")
    prefix = tf.train.Checkpoint(model=model, state=state).write(str(tmp_path / "evil"))
    with pytest.raises(lt.CheckpointError, match="corrupt configuration"):
        lt.restore(prefix)
    assert not marker.exists()
