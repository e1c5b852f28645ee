"""The `lowtf` command line, run as subprocesses, end to end on the real Fashion-MNIST.

Every command imports TensorFlow (~3 s), so the commands run concurrently in a small
pool: the real training run starts first and the cheap checks run beside it; the
commands that need the trained run are started when it is done.
"""

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOWTF = os.path.join(sys.prefix, "bin", "lowtf")
COMMAND = [LOWTF] if os.path.exists(LOWTF) else [sys.executable, "-m", "lowtf.cli"]
REAL_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = lt.data.FASHION_MNIST_CLASS_NAMES
ACCURACY = re.compile(r"Test accuracy: (\d\.\d{4})")

HELP = {
    (): ["train", "evaluate", "predict", "summary"],
    ("train",): ["--epochs", "--batch-size", "--learning-rate", "--optimizer", "--layers",
                 "--activation", "--patience", "--no-early-stopping", "--seed", "--run-dir",
                 "--data-dir", "--xla", "--quiet", "experiment"],
    ("evaluate",): ["checkpoint", "--dataset", "--split", "--data-dir"],
    ("predict",): ["checkpoint", "images", "--top-k", "--invert"],
    ("summary",): ["target"],
}
BAD_ARGS = {
    "epochs": (["train", "--epochs", "0"], "--epochs"),
    "layers": (["train", "--layers", "3,x"], "--layers"),
    "optimizer": (["train", "--optimizer", "foo"], "--optimizer"),
}


class Cli:
    """Runs `lowtf` commands concurrently in an isolated environment."""

    def __init__(self, workdir):
        self.workdir = workdir
        home = workdir / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items()
               if k not in ("LOWTF_DATA_DIR", "KERAS_HOME", "TF_CPP_MIN_LOG_LEVEL")}
        # No user data, no network: the data can only come from the Debian folder.
        env.update(HOME=str(home), LOWTF_DATA_URL="http://127.0.0.1:9/",
                   PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""))
        self.env = env
        self.pool = ThreadPoolExecutor(max_workers=3)
        self.jobs = {}

    def _run(self, args):
        return subprocess.run(COMMAND + [str(a) for a in args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def start(self, key, args):
        self.jobs[key] = self.pool.submit(self._run, args)

    def __getitem__(self, key):
        return self.jobs[key].result()


def assert_clean_error(result, command, *words):
    """Exit 2, a one-line `lowtf <command>: error: ...` on stderr, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"lowtf {command}: error: "), result.stderr
    for word in words:
        assert word in errors[0], result.stderr


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    cli = Cli(tmp_path_factory.mktemp("cli"))
    cli.run_dir = cli.workdir / "run"
    cli.start("train", ["train", "--epochs", "1", "--run-dir", cli.run_dir, "--quiet"])
    for words in HELP:
        cli.start(("help",) + words, [*words, "--help"])
    for key, (args, _) in BAD_ARGS.items():
        cli.start(("bad", key), args)
    cli.start("evaluate_missing", ["evaluate", "/nonexistent"])
    blocker = cli.workdir / "a_file"
    blocker.write_text("not a directory")
    cli.start("train_unwritable", ["train", "--epochs", "1", "--run-dir", blocker / "run",
                                   "--quiet"])
    yield cli
    cli.pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def images(cli):
    """Image files made from real test images, and the in-process model's view of them."""
    test = lt.load_dataset("fashion_mnist", data_dir=REAL_DIR, raw=True).test
    folder = cli.workdir / "images"
    folder.mkdir()
    files = {}
    for i in range(10):
        image = test.images[i][:, :, None]
        files[("png", i)] = folder / f"test{i}.png"
        tf.io.write_file(str(files[("png", i)]), tf.io.encode_png(image))
    inverted = folder / "inverted3.png"  # dark on light, as a photo or a drawing
    tf.io.write_file(str(inverted), tf.io.encode_png(255 - test.images[3][:, :, None]))
    rgb = tf.image.grayscale_to_rgb(tf.image.resize(test.images[3][:, :, None], [56, 56]))
    resized = folder / "big3.jpg"
    tf.io.write_file(str(resized), tf.io.encode_jpeg(
        tf.cast(tf.clip_by_value(tf.round(rgb), 0, 255), tf.uint8), quality=95))
    files["inverted"], files["resized"] = inverted, resized
    return test, files


@pytest.fixture(scope="module")
def trained(cli, images):
    """The real one-epoch run, and the commands that use it (started concurrently)."""
    result = cli["train"]
    assert result.returncode == 0, result.stderr
    test, files = images
    cli.start("evaluate", ["evaluate", cli.run_dir])
    cli.start("summary", ["summary", cli.run_dir])
    pngs = [files[("png", i)] for i in range(10)]
    cli.start("predict", ["predict", cli.run_dir, *pngs, files["inverted"], files["resized"]])
    corrupt_run = cli.workdir / "corrupt_run"
    shutil.copytree(cli.run_dir, corrupt_run)
    prefix = lt.checkpoints.resolve(corrupt_run)
    data_file = prefix + ".data-00000-of-00001"
    with open(data_file, "r+b") as f:
        f.truncate(os.path.getsize(data_file) // 2)
    cli.start("evaluate_corrupt", ["evaluate", prefix])
    cli.start("evaluate_damaged_best", ["evaluate", corrupt_run])
    return result


# ---- help and argument errors ----------------------------------------------------------

@pytest.mark.parametrize("words", list(HELP), ids=lambda w: "-".join(w) or "lowtf")
def test_help(cli, words):
    result = cli[("help",) + words]
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: lowtf" + "".join(" " + w for w in words))
    for option in HELP[words]:
        assert option in result.stdout, option
    assert result.stderr.strip() == ""


@pytest.mark.parametrize("key", list(BAD_ARGS))
def test_bad_arguments_exit_2_naming_the_argument(cli, key):
    args, option = BAD_ARGS[key]
    result = cli[("bad", key)]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"lowtf {args[0]}: error: argument {option}"), result.stderr
    assert repr(args[args.index(option) + 1]) in last  # the bad value is quoted back
    assert result.stdout == ""


def test_evaluate_missing_checkpoint(cli):
    assert_clean_error(cli["evaluate_missing"], "evaluate", "/nonexistent", "no checkpoint")


def test_train_unwritable_run_dir(cli):
    result = cli["train_unwritable"]
    assert_clean_error(result, "train", "cannot write", str(cli.workdir / "a_file" / "run"))
    assert "Test accuracy" not in result.stdout


# ---- end to end on the real data ---------------------------------------------------------

def test_train_reports_test_accuracy(cli, trained):
    lines = trained.stdout.strip().splitlines()
    assert len(lines) == 1, trained.stdout  # --quiet: only the result
    match = ACCURACY.fullmatch(lines[0])
    assert match, lines[0]
    assert float(match.group(1)) > 0.75
    assert "Traceback" not in trained.stderr
    assert (cli.run_dir / "checkpoints" / "best").is_dir()
    assert (cli.run_dir / "train").is_dir()


def test_evaluate_in_another_process_prints_the_same_accuracy(cli, trained):
    result = cli["evaluate"]
    assert result.returncode == 0, result.stderr
    assert ACCURACY.search(result.stdout).group(0) == ACCURACY.search(trained.stdout).group(0)
    assert "(10,000 fashion_mnist images)" in result.stdout
    restored = re.search(r"Restored (\S+)", result.stdout).group(1)
    assert restored.startswith(str(cli.run_dir / "checkpoints" / "best" / "ckpt-"))
    assert "WARNING" not in result.stderr and "Traceback" not in result.stderr


def test_summary_of_the_run(cli, trained):
    result = cli["summary"]
    assert result.returncode == 0, result.stderr
    assert "235,500" in result.stdout
    assert "266,610" in result.stdout
    assert "dnn/hidden1" in result.stdout and "dnn/outputs" in result.stdout


def _predictions(stdout):
    """{file name: (class, [(class, prob)...])} from `lowtf predict` output."""
    rows = {}
    for line in stdout.strip().splitlines():
        path, rest = line.split(": ", 1)
        name, top = re.fullmatch(r"(.+?)  \(top \d+: (.+)\)", rest).groups()
        pairs = [re.fullmatch(r"(.+) (\d\.\d{3})", p).groups() for p in top.split(", ")]
        rows[os.path.basename(path)] = (name, [(c, float(p)) for c, p in pairs])
    return rows


def test_predict_image_files(cli, trained, images):
    test, files = images
    result = cli["predict"]
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 12
    rows = _predictions(result.stdout)
    assert len(rows) == 12
    for name, top in rows.values():
        assert name in CLASS_NAMES
        assert name == top[0][0]
        assert len(top) == 3 and all(c in CLASS_NAMES for c, _ in top)
        probs = [p for _, p in top]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 2e-3

    # In-process, the same run's model; the CLI must agree on plain PNGs it gets right.
    predictor = lt.restore(cli.run_dir)
    probs = predictor.probabilities(test.images[:10])
    predicted = probs.argmax(axis=1)
    confident = [i for i in range(10)
                 if predicted[i] == test.labels[i] and np.sort(probs[i])[-2] < probs[i].max() - 0.05]
    assert confident, "the model should get some of the first 10 test images right"
    for i in confident:
        assert rows[f"test{i}.png"][0] == CLASS_NAMES[test.labels[i]], i
    for i in range(10):  # a lossless PNG is the same input as the array
        assert rows[f"test{i}.png"][0] == CLASS_NAMES[predicted[i]], i
    # Dark-on-light is inverted automatically: the same class as the plain image.
    assert rows["inverted3.png"][0] == rows["test3.png"][0]


def test_evaluate_corrupt_checkpoint_is_a_clean_error(cli, trained):
    """A truncated checkpoint data file: exit 2 with an error line, not a traceback."""
    assert_clean_error(cli["evaluate_corrupt"], "evaluate", "corrupt_run")


def test_evaluate_a_run_whose_best_checkpoint_is_damaged_says_so_and_uses_the_latest(
        cli, trained):
    result = cli["evaluate_damaged_best"]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(r"^lowtf evaluate: warning: checkpoint \S*best/ckpt-\d+ \(.*\) is damaged; "
                     r"using \S*/checkpoints/ckpt-\d+ instead$", result.stderr, re.M), result.stderr


def test_an_unwritable_run_dir_fails_before_the_data_is_loaded(tmp_path, monkeypatch):
    import lowtf.experiment as experiment_module

    def load_dataset(*args, **kwargs):
        raise AssertionError("the data was loaded before the run directory was checked")

    monkeypatch.setattr(experiment_module, "load_dataset", load_dataset)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(lt.ConfigError, match="cannot write the logs"):
        lt.run_experiment(lt.Experiment(run_dir=str(blocker / "run"), epochs=1), verbose=0)
