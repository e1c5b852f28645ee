"""Crash-safe, exact resume: `lowtf train` killed with SIGKILL and started again ends
with the same weights, optimizer state, metrics and TensorBoard curves, bit for bit, as
a run that was never interrupted.

The runs are real `lowtf train` processes on a small synthetic data set (IDX files in
the Fashion-MNIST layout), in deterministic mode with mid-epoch checkpoints. Kill
points come from a seeded RNG: before the first checkpoint, at random steps, and in
the middle of checkpoint writes. For the last kind, the checkpoint's index file is
made a FIFO before the save reaches it: TensorFlow has then renamed the data file into
place and blocks opening the index, and the process is killed right there; the FIFO is
then replaced by the empty file such a cut-short write leaves behind.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import plugin_event_accumulator

from lowtf.idx import write_idx

pytestmark = pytest.mark.numerics  # also run with oneDNN switched the other way

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_VALIDATION, N_TRAIN, BATCH = 5000, 600, 20
STEPS_PER_EPOCH = N_TRAIN // BATCH            # 30; one traced call per step (1/20 epoch)
SAVE_EVERY = 7                                # mid-epoch checkpoints at multiples of 7
EPOCHS = 6
TIMING_KEYS = {"epoch_time", "examples_per_second"}
# Not compared by value: timings, and the traced graph (its function names are per process).
UNEQUAL_TAGS = TIMING_KEYS | {"__run_graph__"}
EXPERIMENT = """
import lowtf
experiment = lowtf.Experiment(name="resume", hidden=(48,), optimizer="adam",
                              learning_rate=0.001, batch_size={batch}, epochs={epochs},
                              patience=3, monitor="val_loss", seed=11,
                              image_summaries=False)  # the full-disk run is sized without them
""".format(batch=BATCH, epochs=EPOCHS)

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def make_data(folder):
    """Noisy class prototypes as uint8 28x28 images: learnable, not in one epoch."""
    protos = np.random.default_rng(99).random((10, 28, 28)) < 0.25

    def split(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        x = np.clip(protos[y] * 90.0 + rng.normal(60, 70, (n, 28, 28)), 0, 255)
        return x.astype(np.uint8), y

    folder.mkdir()
    x, y = split(N_VALIDATION + N_TRAIN, 1)
    xt, yt = split(300, 2)
    for name, array in (("train-images-idx3-ubyte.gz", x), ("train-labels-idx1-ubyte.gz", y),
                        ("t10k-images-idx3-ubyte.gz", xt), ("t10k-labels-idx1-ubyte.gz", yt)):
        write_idx(folder / name, array)
    return folder


class Runs:
    """Starts `lowtf train` processes of one experiment into run directories."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.data = make_data(workdir / "data")
        self.experiment = workdir / "resume_experiment.py"
        self.experiment.write_text(EXPERIMENT)
        self.env = {k: v for k, v in os.environ.items() if k != "LOWTF_DATA_DIR"}
        self.env.update(PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                        TF_CPP_MIN_LOG_LEVEL="2", LOWTF_DATA_URL="http://127.0.0.1:9/",
                        PYTHONUNBUFFERED="1")  # a killed process loses no output
        self.count = 0

    def command(self, run_dir):
        """`lowtf train`, the same command line for every run of this module."""
        return [sys.executable, "-m", "lowtf.cli", "train", str(self.experiment),
                "--data-dir", str(self.data), "--run-dir", str(run_dir),
                "--save-every-steps", str(SAVE_EVERY), "--deterministic"]

    def start(self, run_dir, args=None):
        """A `lowtf train` process; its output goes to a file (a full pipe would block it)."""
        self.count += 1
        out = open(self.workdir / f"out-{self.count}.txt", "w+")
        process = subprocess.Popen(args or self.command(run_dir), cwd=self.workdir,
                                   env=self.env, stdout=out, stderr=subprocess.STDOUT)
        process.log = out
        return process


def output(process):
    process.log.flush()
    process.log.seek(0)
    return process.log.read()


def finish(process, timeout=240):
    process.wait(timeout=timeout)
    text = output(process)
    assert process.returncode == 0, text
    return text


def committed_step(run_dir, sub=""):
    """The step of the checkpoint the state file names (the last committed one), or -1."""
    try:
        text = (run_dir / "checkpoints" / sub / "checkpoint").read_text()
    except (OSError, UnicodeDecodeError):
        return -1
    match = re.search(r'^model_checkpoint_path: "(?:.*/)?ckpt-(\d+)"', text, re.M)
    return int(match.group(1)) if match else -1


def wait_for(condition, process, timeout=120.0):
    """Polls `condition()` every millisecond; False if the process ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.001)
    raise AssertionError(f"timed out waiting; output so far:\n{output(process)}")


def kill(process):
    """SIGKILL: no cleanup, no flush, no atexit; True if it was still running."""
    if process.poll() is not None:
        return False
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    return process.returncode == -signal.SIGKILL


def straight_and_killed(tmp_path, script, arrays, kill_at, timeout=300):
    """Runs the Python `script` (argv: a run directory, an .npz of `arrays`) twice: straight
    through, and killed with SIGKILL once a checkpoint at or past each step of `kill_at`
    is committed, restarted each time. Returns the two run directories and the straight
    run's output, after both ended well."""
    np.savez(tmp_path / "data.npz", **arrays)
    (tmp_path / "train.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def start(run_dir):
        log = open(tmp_path / f"{run_dir.name}-{len(os.listdir(tmp_path))}.txt", "w+")
        process = subprocess.Popen([sys.executable, str(tmp_path / "train.py"), str(run_dir),
                                    str(tmp_path / "data.npz")], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        process.log = log
        return process

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference, process = start(straight), start(killed)
    for target in kill_at:
        assert wait_for(lambda: committed_step(killed) >= target, process, timeout=timeout)
        assert kill(process)
        process = start(killed)
    for p in (process, reference):
        assert p.wait(timeout=2 * timeout) == 0, output(p)
    return straight, killed, output(reference)


def checkpoint_tensors(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()}


def assert_same_checkpoint(a, b):
    assert os.path.basename(a) == os.path.basename(b)
    ta, tb = checkpoint_tensors(a), checkpoint_tensors(b)
    assert sorted(ta) == sorted(tb)
    for key in ta:
        va, vb = np.asarray(ta[key]), np.asarray(tb[key])
        assert va.dtype == vb.dtype and va.shape == vb.shape, key
        assert va.tobytes() == vb.tobytes(), f"{key} differs in {b}"


def tensorboard_points(split_dir):
    """{tag: [(step, value bytes)]} as TensorBoard shows them: its server's loader, which
    drops points an abandoned attempt wrote after the step a restart resumed from."""
    acc = plugin_event_accumulator.EventAccumulator(
        str(split_dir), size_guidance={plugin_event_accumulator.TENSORS: 0})
    acc.Reload()
    return {tag: [(e.step, e.tensor_proto.SerializeToString()) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


def without_timing(history):
    return {k: v for k, v in history.items() if k not in TIMING_KEYS}


def _unshare_prefix(probe_dir):
    """A command prefix that runs a shell in a private mount namespace where tmpfs can be
    mounted (root: `unshare --mount`; others: also a user namespace), or None."""
    for prefix in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        if prefix == ["unshare", "--mount"] and os.geteuid() != 0:
            continue
        try:
            probe = subprocess.run(prefix + ["sh", "-c", f"mount -t tmpfs -o size=64k none "
                                             f"'{probe_dir}'"], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return None


def start_on_a_small_disk(runs, size="2000k"):
    """The run on a tmpfs of `size` in its own mount namespace; when it ends, what it left
    there is copied to `after_full_disk/`. None where no tmpfs can be mounted."""
    probe = runs.workdir / "probe"
    probe.mkdir()
    prefix = _unshare_prefix(probe)
    if prefix is None:
        return None
    mount, copy = runs.workdir / "small_disk", runs.workdir / "after_full_disk"
    mount.mkdir()
    copy.mkdir()
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in runs.command(mount / "run"))
    script = (f"mount -t tmpfs -o size={size} none '{mount}' || exit 97; {quoted}; rc=$?; "
              f"cp -a '{mount}/.' '{copy}/'; exit $rc")
    process = runs.start(None, prefix + ["sh", "-c", script])
    process.copy = copy
    return process


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Two uninterrupted deterministic runs and the run on a too-small disk, started
    side by side; returns when the two uninterrupted ones are done."""
    runs = Runs(tmp_path_factory.mktemp("resume"))
    a, b = runs.workdir / "straight_a", runs.workdir / "straight_b"
    processes = [runs.start(a), runs.start(b)]
    runs.full_disk = start_on_a_small_disk(runs)
    for process in processes:
        finish(process)
    yield runs, a, b
    if runs.full_disk is not None and runs.full_disk.poll() is None:
        kill(runs.full_disk)


def load_run(run_dir):
    history = json.loads((run_dir / "history.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    return history, results


def test_two_deterministic_runs_give_the_same_weights(reference):
    _, a, b = reference
    assert_same_checkpoint(tf.train.latest_checkpoint(str(a / "checkpoints")),
                           tf.train.latest_checkpoint(str(b / "checkpoints")))
    (ha, ra), (hb, rb) = load_run(a), load_run(b)
    assert without_timing(ha) == without_timing(hb)
    assert ra["test"] == rb["test"]


def test_killed_and_resumed_run_equals_the_uninterrupted_one(reference):
    runs, straight, _ = reference
    history, results = load_run(straight)
    total_steps = history["step"][-1]
    improved_at = [s for s, v, prev in zip(history["step"][1:], history["val_loss"][1:],
                                           np.minimum.accumulate(history["val_loss"])[:-1])
                   if v < prev]
    saves = [s for s in range(SAVE_EVERY, total_steps, SAVE_EVERY) if s % STEPS_PER_EPOCH]
    epoch_ends = history["step"][:-1]
    rng = random.Random(20251122)
    pick = lambda options: rng.choice(list(options))  # noqa: E731
    # (kind, target) in the order they happen, each later than the one before.
    plan = [("early", rng.uniform(0.0, 0.02)),               # most likely before any checkpoint
            ("step", pick(range(8, STEPS_PER_EPOCH - 6))),     # mid-epoch 1
            ("save", pick(s for s in saves if 35 <= s <= 56)),  # writing a mid-epoch checkpoint
            ("step", pick(range(62, 86)))]
    ends = [s for s in epoch_ends if 90 <= s <= 120]
    best = [s for s in improved_at if 90 <= s <= 120]
    if best and (not ends or rng.random() < 0.5):
        plan.append(("best", pick(best)))                        # writing the best checkpoint
    elif ends:
        plan.append(("save", pick(ends)))                        # writing an end-of-epoch one
    first = max(plan[-1][1], 100) + 1
    if first < total_steps - 8:
        plan.append(("step", pick(range(first, total_steps - 8))))

    run_dir = runs.workdir / "killed"
    kills, resumes = [], []
    for kind, arg in plan:
        process = runs.start(run_dir)
        before = committed_step(run_dir)
        landed = None
        if kind == "early":
            reached = wait_for(lambda: (run_dir / "train").is_dir() and any(
                "tfevents" in f for f in os.listdir(run_dir / "train")), process)
            time.sleep(arg)
        elif kind == "step":
            reached = wait_for(lambda: committed_step(run_dir) >= arg, process)
            time.sleep(rng.uniform(0.0, 0.015))
        else:  # "save" / "best": block the save of ckpt-<arg> at its index file
            folder = run_dir / "checkpoints" / ("best" if kind == "best" else "")
            folder.mkdir(parents=True, exist_ok=True)
            index = folder / f"ckpt-{arg}.index"
            os.mkfifo(index)
            reached = wait_for(lambda: (folder / f"ckpt-{arg}.data-00000-of-00001").exists(),
                               process)
            time.sleep(0.05)  # it is blocked opening the index: the write is half done
            landed = committed_step(run_dir, "best" if kind == "best" else "")
        killed = kill(process)
        if kind in ("save", "best"):
            os.remove(index)
            index.write_bytes(b"")  # what the cut-short write leaves: an empty index
            assert landed < arg, "the state file must not name a checkpoint being written"
        resumed = re.findall(r"Resuming from \S*ckpt-(\d+): epoch (\d+), step (\d+)",
                             output(process))
        resumes += [int(r[2]) for r in resumed]
        kills.append((kind, arg, before, committed_step(run_dir), killed and reached))
        assert "Traceback" not in output(process), output(process)
    last = runs.start(run_dir)
    text = finish(last)
    resumes += [int(r[2]) for r in re.findall(r"Resuming from \S*ckpt-(\d+): epoch (\d+), "
                                              r"step (\d+)", text)]

    print("kill points (kind, target, committed before, committed after, killed):")
    for k in kills:
        print("  ", k)
    print("resumed at steps", resumes)
    assert sum(1 for k in kills if k[-1]) >= 5, kills
    assert any(k[-1] for k in kills if k[0] in ("save", "best")), "no kill during a write"
    assert any(s % STEPS_PER_EPOCH for s in resumes), "no resume from a mid-epoch checkpoint"

    # Weights, optimizer slots and step, loop state, metrics: bit for bit.
    assert_same_checkpoint(tf.train.latest_checkpoint(str(straight / "checkpoints")),
                           tf.train.latest_checkpoint(str(run_dir / "checkpoints")))
    assert_same_checkpoint(tf.train.latest_checkpoint(str(straight / "checkpoints" / "best")),
                           tf.train.latest_checkpoint(str(run_dir / "checkpoints" / "best")))
    killed_history, killed_results = load_run(run_dir)
    assert without_timing(killed_history) == without_timing(history)
    assert killed_results["test"] == results["test"]
    assert killed_results["epochs"] == results["epochs"]

    # TensorBoard: one continuous curve per tag, every step once, the same values.
    for split in ("train", "validation"):
        expected, got = tensorboard_points(straight / split), tensorboard_points(run_dir / split)
        assert sorted(got) == sorted(expected), split
        for tag, points in expected.items():
            steps = [s for s, _ in got[tag]]
            assert steps == [s for s, _ in points], f"{split}/{tag}: {steps}"
            if tag not in UNEQUAL_TAGS:
                assert got[tag] == points, f"{split}/{tag} values differ"
    # Nothing of the cut-short writes is left behind.
    leftovers = [name for name in os.listdir(run_dir / "checkpoints")
                 if name.endswith("_temp") or ".tempstate" in name]
    assert not leftovers, leftovers


def test_a_full_disk_stops_the_run_cleanly_and_the_last_checkpoint_resumes(reference):
    """A real full disk: the run directory is a small tmpfs. The run must stop with a
    one-line error naming the last complete checkpoint, leave no partial files, and
    that checkpoint must resume (on a roomier disk) to the uninterrupted result."""
    runs, straight, _ = reference
    if runs.full_disk is None:
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces)")
    runs.full_disk.wait(timeout=300)
    text, copy = output(runs.full_disk), runs.full_disk.copy
    assert runs.full_disk.returncode == 2, text
    assert "Traceback" not in text
    error = text.strip().splitlines()[-1]
    match = re.fullmatch(r"lowtf train: error: could not write (.+) \(No space left on device\)"
                         r".* (?:last complete checkpoint,|resumes from the last complete "
                         r"checkpoint,) (\S+?ckpt-\d+)(?:, is untouched)?", error)
    assert match, error
    survivor = copy / "run" / "checkpoints" / os.path.basename(match.group(2))
    assert os.path.basename(tf.train.latest_checkpoint(str(copy / "run" / "checkpoints"))) == \
        survivor.name
    assert not [n for n in os.listdir(copy / "run" / "checkpoints")
                if n.endswith("_temp") or ".tempstate" in n]
    # The same command on the copy (on a disk with room) finishes the run exactly.
    text = finish(runs.start(copy / "run"))
    assert f"Resuming from {survivor}" in text
    assert_same_checkpoint(tf.train.latest_checkpoint(str(straight / "checkpoints")),
                           tf.train.latest_checkpoint(str(copy / "run" / "checkpoints")))
    history, results = load_run(straight)
    resumed_history, resumed_results = load_run(copy / "run")
    assert without_timing(resumed_history) == without_timing(history)
    assert resumed_results["test"] == results["test"]
