"""Sweeps: trial sets, real (tiny) trials, HParams summaries, resuming, parallel trials, CLI.

Trials train on a small fake Fashion-MNIST written to disk (`fake_data.py`): 600 training
images, 5,000 validation images, two epochs of a 784-16-10 network.
"""

import contextlib
import csv
import dataclasses
import glob
import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

import lowtf as lt
from fake_data import write_fake_fashion_mnist
from lowtf import sweep as sw
from lowtf.run_dir import SWEEP_CONFIG_SUFFIX, read_json
from lowtf.sweep.jsonio import _jsonable
from lowtf.sweep.running import _changed_settings, available_cores

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOWTF = os.path.join(sys.prefix, "bin", "lowtf")
COMMAND = [LOWTF] if os.path.exists(LOWTF) else [sys.executable, "-m", "lowtf.cli"]
TRAINER_KEYS = {"optimizer", "learning_rate", "batch_size", "epochs", "layers", "activation",
                "seed"}


def base_experiment(data_dir, **changes):
    return lt.Experiment(hidden=(16,), epochs=2, patience=None, batch_size=50,
                         metrics=("accuracy",), data_dir=data_dir, xla=False).replace(**changes)


def run_quietly(sweep, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = sw.run_sweep(sweep, **kwargs)
    return result, out.getvalue()


def plugin_data(run_dir):
    acc = plugin_event_accumulator.EventAccumulator(str(run_dir))
    acc.Reload()
    if "hparams" not in acc.ActivePlugins():
        return {}
    return {tag: plugin_data_pb2.HParamsPluginData.FromString(content)
            for tag, content in acc.PluginTagToContent("hparams").items()}


def scalars(run_dir):
    acc = plugin_event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={plugin_event_accumulator.TENSORS: 0})
    acc.Reload()
    return {tag: [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_fashion_mnist(tmp_path_factory.mktemp("fake_fashion"))


@pytest.fixture(scope="module", autouse=True)
def cli(tmp_path_factory, data_dir):
    """`lowtf sweep` commands, started with the module's first test, in the background
    (each imports TensorFlow); the sweep runs its two trials in two processes, over an
    experiment file whose model is a function of that file (the worker processes must
    load the file to unpickle it)."""
    work = tmp_path_factory.mktemp("sweep_cli")
    (work / "own_model.py").write_text(
        "import lowtf as lt\n\n"
        "def mlp(units=16):\n"
        "    L = lt.layers\n"
        "    return L.Sequential([L.Flatten(), L.Dense(units, activation='relu'), L.Dense(10)],\n"
        "                        input_shape=(28, 28))\n\n"
        "experiment = lt.Experiment(name='own', model=mlp)\n")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               LOWTF_DATA_URL="http://127.0.0.1:9/")
    common = ["--epochs", "1", "--data-dir", data_dir,
              "--logdir", str(work / "logs"), "--name", "cli", "--xla", "off"]

    def run(*args):
        return subprocess.run(COMMAND + [str(a) for a in args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)

    pool = ThreadPoolExecutor(2)
    jobs = {"sweep": pool.submit(run, "sweep", "own_model.py", "--grid", "lr=0.05,0.2",
                                 *common, "--parallel", "2"),
            "bad_param": pool.submit(run, "sweep", "--grid", "dropout=0.1,0.2"),
            "nothing": pool.submit(run, "sweep", "--epochs", "1")}
    jobs["report"] = pool.submit(lambda: (jobs["sweep"].result(), run(
        "sweep", "own_model.py", "--grid", "lr=0.05,0.2", *common, "--report"))[1])
    yield work, jobs
    pool.shutdown(wait=True)


# ---- the set of trials -------------------------------------------------------------------

def test_grid_is_every_combination_in_order(tmp_path):
    sweep = lt.sweep.Sweep("g", base=lt.Experiment(), logdir=tmp_path,
                     grid={"lr": [0.01, 0.1], "layers": ["300-100", 50]})
    trials = sweep.trials()
    assert [t.id for t in trials] == ["lr=0.01,h=300-100", "lr=0.01,h=50",
                                      "lr=0.1,h=300-100", "lr=0.1,h=50"]
    first = trials[0]
    assert first.experiment.hidden == (300, 100) and first.experiment.learning_rate == 0.01
    assert first.run_dir == os.path.join(str(tmp_path), "g", "lr=0.01,h=300-100")
    assert first.experiment.epochs == lt.Experiment().epochs  # untouched fields from base
    assert TRAINER_KEYS <= set(first.hparams)
    assert first.hparams["layers"] == "300-100" and first.hparams["n_params"] == 266_610
    assert first.hparams["depth"] == 2 and first.hparams["learning_rate"] == 0.01
    assert sweep.swept == ["learning_rate", "hidden"]


def test_random_search_is_reproducible_distinct_and_in_range():
    space = {"learning_rate": lt.sweep.LogUniform(1e-4, 1e-1), "optimizer": ["adam", "momentum"],
             "units": lt.sweep.LogUniform(10, 1000, integer=True)}
    a = lt.sweep.Sweep("r", random=space, n_trials=6, seed=3).trials()
    b = lt.sweep.Sweep("r", random=space, n_trials=6, seed=3).trials()
    c = lt.sweep.Sweep("r", random=space, n_trials=6, seed=4).trials()
    assert [t.id for t in a] == [t.id for t in b] != [t.id for t in c]
    assert len({t.id for t in a}) == 6
    for t in a:
        lr = t.experiment.learning_rate
        assert 1e-4 <= lr <= 1e-1 and float(f"{lr:.3g}") == lr
        assert t.experiment.optimizer in ("adam", "momentum")
        assert len(t.experiment.hidden) == 1 and 10 <= t.experiment.hidden[0] <= 1000


def test_random_choices_stop_at_the_distinct_combinations():
    trials = lt.sweep.Sweep("r", random={"activation": ["relu", "tanh"]}, n_trials=5).trials()
    assert sorted(t.id for t in trials) == ["act=relu", "act=tanh"]


def test_configs_pair_settings_and_combine_with_the_grid():
    sweep = lt.sweep.Sweep("c", configs=[{"optimizer": "sgd", "lr": 0.1},
                                   {"optimizer": "adam", "lr": 0.001}], grid={"seed": [1, 2]})
    assert [t.id for t in sweep.trials()] == [
        "opt=sgd,lr=0.1,seed=1", "opt=sgd,lr=0.1,seed=2",
        "opt=adam,lr=0.001,seed=1", "opt=adam,lr=0.001,seed=2"]


def test_trial_names_are_folder_names():
    name = sw.trial_name({"hidden": (300, 100), "learning_rate": 1e-4, "activation": "relu",
                          "patience": None})
    assert name == "h=300-100,lr=0.0001,act=relu,pat=none"
    assert sw.trial_name({}) == "base"
    assert lt.sweep.Sweep("one").trials()[0].id == "base"


@pytest.mark.parametrize("kwargs, words", [
    ({"grid": {"dropout": [0.1]}}, "cannot sweep 'dropout'"),
    ({"grid": {"activation": ["relu", "swish"]}}, "unknown activation 'swish'"),
    ({"grid": {"optimizer": ["lbfgs"]}}, "unknown optimizer"),
    ({"grid": {"lr": [0.1, -1]}}, "learning_rate must be a number in"),
    ({"grid": {"batch_size": [0]}}, "batch_size must be an int >= 1"),
    ({"grid": {"layers": ["300-x"]}}, "hidden layers"),
    ({"grid": {"lr": []}}, "no values"),
    ({"grid": {"lr": 0.1}}, "must be a list"),
    ({"grid": {"lr": [0.1]}, "random": {"lr": [0.2]}, "n_trials": 1}, "both"),
    ({"random": {"lr": lt.sweep.LogUniform(1e-3, 1e-1)}}, "n_trials"),
    ({"rank_by": "speed"}, "rank_by"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_sweeps_are_config_errors(kwargs, words):
    with pytest.raises(lt.ConfigError, match=words.replace("(", r"\(")):
        lt.sweep.Sweep("bad", **kwargs)


def test_bad_names_and_spaces():
    with pytest.raises(lt.ConfigError, match="folder name"):
        lt.sweep.Sweep("a/b")
    with pytest.raises(lt.ConfigError, match="low <= high"):
        lt.sweep.LogUniform(1.0, 0.1)
    with pytest.raises(lt.ConfigError, match="integer=True"):
        lt.sweep.Sweep("x", random={"hidden": lt.sweep.LogUniform(10, 100)}, n_trials=2)


LABS = sorted(glob.glob(os.path.join(REPO, "experiments", "lab_*.py")))


@pytest.mark.parametrize("path", LABS, ids=os.path.basename)
def test_labs_define_sweeps_on_real_fashion_mnist(path):
    sweep, experiment = sw.load_target(path)
    assert isinstance(sweep, lt.sweep.Sweep) and isinstance(experiment, lt.Experiment)
    assert sweep.name == os.path.basename(path)[:-3]
    assert len(sweep.trials()) >= 2
    assert all(t.experiment.dataset == "fashion_mnist" for t in sweep.trials())
    assert sw.load_sweep(os.path.basename(path)[:-3]).name == sweep.name  # by name too


def test_load_target_of_an_experiment_file_has_no_sweep():
    sweep, experiment = sw.load_target("fashion_mnist_dnn")
    assert sweep is None and experiment.name == "fashion_mnist_dnn"
    with pytest.raises(lt.ConfigError, match="no `sweep"):
        lt.sweep.load_sweep("fashion_mnist_dnn")


# ---- running a sweep ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def swept(tmp_path_factory, data_dir):
    """Three trials: two learn, one diverges (its loss becomes Inf/NaN at once)."""
    logdir = tmp_path_factory.mktemp("sweeps")
    sweep = lt.sweep.Sweep("main", base=base_experiment(data_dir), logdir=logdir,
                     grid={"learning_rate": [0.02, 0.2, 1e30]})
    result, out = run_quietly(sweep)
    return sweep, result, out


def test_trials_are_ranked_with_the_failed_one_last(swept):
    sweep, result, out = swept
    assert [r["trial"] for r in result.rows] == ["lr=0.2", "lr=0.02", "lr=1e+30"]
    assert [r["status"] for r in result.rows] == ["finished", "finished", "failed"]
    assert [r["rank"] for r in result.rows] == [1, 2, 3]
    best, second, failed = result.rows
    assert best["best_val_accuracy"] > second["best_val_accuracy"]
    assert best["epochs"] == 2 and 0 <= best["test_accuracy"] <= 1
    assert "NonFiniteLossError" in failed["error"] and "NaN or Inf" in failed["error"]
    assert result.best is best
    assert "Best trial: lr=0.2" in out and best["run_dir"] in out
    for trial in ("[1/3] lr=0.02: training", "[3/3] lr=1e+30: failed: NonFiniteLossError"):
        assert trial in out


def test_best_checkpoint_is_easy_to_find_and_restores(swept):
    sweep, result, _ = swept
    best = result.best
    assert best["checkpoint"].startswith(os.path.join(best["run_dir"], "checkpoints", "best"))
    predictor = lt.restore(best["run_dir"])
    assert predictor.checkpoint == best["checkpoint"]
    assert sw.read_results(sweep.root)[0]["checkpoint"] == best["checkpoint"]


def test_results_csv_holds_the_ranked_table(swept):
    sweep, result, _ = swept
    with open(result.csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [r["trial"] for r in rows] == [r["trial"] for r in result.rows]
    assert rows[0]["learning_rate"] == "0.2" and rows[0]["status"] == "finished"
    assert float(rows[0]["test_accuracy"]) == pytest.approx(result.rows[0]["test_accuracy"])
    assert rows[2]["test_accuracy"] == "" and "NaN" in rows[2]["error"]
    table = result.table()
    assert table.splitlines()[0].startswith("Sweep main: 3 trials over learning_rate")


def test_sweep_root_holds_no_search_space_that_would_hide_other_runs(swept):
    """TensorBoard shows one experiment summary's columns only, so none is written: the
    table's columns come from every run it is shown."""
    sweep, _, _ = swept
    assert "_hparams_/experiment" not in plugin_data(sweep.root)
    assert not glob.glob(os.path.join(sweep.root, "*" + SWEEP_CONFIG_SUFFIX))


def test_a_search_space_an_earlier_version_wrote_is_removed(tmp_path):
    from lowtf.sweep.description import write_description
    sweep = lt.sweep.Sweep("old", base=lt.Experiment(), logdir=tmp_path,
                           grid={"learning_rate": [0.1, 0.2]})
    os.makedirs(sweep.root)
    stale = os.path.join(sweep.root, "events.out.tfevents.1.host" + SWEEP_CONFIG_SUFFIX)
    open(stale, "w").close()
    write_description(sweep, sweep.trials())
    assert not os.path.exists(stale)
    assert read_json(os.path.join(sweep.root, "sweep.json"))["trials"] == ["lr=0.1", "lr=0.2"]


def test_each_trial_records_values_metrics_and_how_it_ended(swept):
    sweep, result, _ = swept
    for row in result.rows:
        data = plugin_data(row["run_dir"])
        start = data["_hparams_/session_start_info"].session_start_info
        values = {k: v.number_value if v.HasField("number_value") else v.string_value
                  for k, v in start.hparams.items()}
        assert TRAINER_KEYS <= set(values)
        assert values["learning_rate"] == pytest.approx(float(row["learning_rate"]), rel=1e-6)
        # run_experiment passes the sweep's values and the trial id
        assert values["learning_rate"] == float(row["learning_rate"])
        assert start.group_name == row["trial"]
        assert values["sweep"] == "main" and values["n_params"] == 12_730
        end = data["_hparams_/session_end_info"].session_end_info
        finished = row["status"] == "finished"
        assert end.status == (api_pb2.STATUS_SUCCESS if finished else api_pb2.STATUS_FAILURE)
        summary = scalars(os.path.join(row["run_dir"], "summary"))
        assert summary["finished"] == [1.0 if finished else 0.0]
        assert not any(tag.startswith("test") for tag in summary)  # chosen on validation
        assert not os.path.exists(os.path.join(row["run_dir"], "test"))  # no test curves
        if finished:
            assert summary["best_val_accuracy"][0] == pytest.approx(row["best_val_accuracy"])
            assert summary["epochs_trained"] == [2.0]


def test_running_again_skips_finished_and_failed_trials(swept):
    sweep, result, _ = swept
    histories = {r["trial"]: os.path.getmtime(os.path.join(r["run_dir"], "history.json"))
                 for r in result.rows if r["status"] == "finished"}
    again, out = run_quietly(sweep)
    assert out.count("already finished") == 2 and "failed before" in out
    assert [r["trial"] for r in again.rows] == [r["trial"] for r in result.rows]
    for trial, mtime in histories.items():
        assert os.path.getmtime(os.path.join(sweep.root, trial, "history.json")) == mtime



def test_retry_failed_runs_a_failed_trial_again(swept):
    sweep, _, _ = swept
    retried, out = run_quietly(sweep, retry_failed=True)
    assert "[3/3] lr=1e+30: training" in out and "[3/3] lr=1e+30: failed" in out
    assert retried.rows[-1]["status"] == "failed"


def test_an_interrupted_trial_continues_from_its_checkpoint(tmp_path, data_dir):
    sweep = lt.sweep.Sweep("resume", base=base_experiment(data_dir), logdir=tmp_path,
                     grid={"learning_rate": [0.1]})
    trial = sweep.trials()[0]
    # The sweep stopped after the trial's first epoch: a checkpoint, no results.json.
    lt.run_experiment(trial.experiment.replace(epochs=1), verbose=0)
    os.remove(os.path.join(trial.run_dir, "results.json"))
    assert sw.trial_row(trial)["status"] == "interrupted"
    result, out = run_quietly(sweep)
    assert "[1/1] lr=0.1: resuming from its checkpoint" in out
    row = result.rows[0]
    assert row["status"] == "finished" and row["epochs"] == 2
    history = read_json(os.path.join(trial.run_dir, "history.json"))
    assert history["epoch"] == [1, 2] and history["step"] == [12, 24]
    # More epochs for the sweep: the finished trial goes on from where it stopped.
    longer = sweep.replace(base={"epochs": 3})
    result, out = run_quietly(longer)
    assert "settings changed since it ran (epochs 2 -> 3); continuing it" in out
    assert result.rows[0]["epochs"] == 3
    assert read_json(os.path.join(trial.run_dir, "history.json"))["step"] == [12, 24, 36]


def test_fields_added_to_experiment_since_do_not_rerun_a_trial():
    trial = lt.sweep.Sweep("s", grid={"learning_rate": [0.1]}).trials()[0]
    stored = _jsonable(dataclasses.asdict(trial.experiment))
    assert _changed_settings(trial, {"experiment": stored}) == {}
    older = {k: v for k, v in stored.items() if k not in ("seed", "patience")}
    assert _changed_settings(trial, {"experiment": older}) == {}  # defaults: unchanged
    stored["epochs"] = 3
    stored["run_dir"] = "elsewhere"
    assert _changed_settings(trial, {"experiment": stored}) == {"epochs": (3, 60)}


def test_report_only_trains_nothing(tmp_path, data_dir):
    sweep = lt.sweep.Sweep("pending", base=base_experiment(data_dir), logdir=tmp_path,
                     grid={"learning_rate": [0.1, 0.2]})
    result, out = run_quietly(sweep, train=False)
    assert [r["status"] for r in result.rows] == ["pending", "pending"]
    assert result.best is None and "No trial has finished yet" in out
    assert not os.path.exists(sweep.root)


# ---- the command line ----------------------------------------------------------------------

def test_cli_sweep_trains_in_parallel_ranks_and_writes_the_table(cli):
    work, jobs = cli
    result = jobs["sweep"].result()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    if available_cores() >= 2:
        assert "2 trials, 2 at a time in separate processes" in out
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] in ("1", "2") and parts[-1] == "finished":
            rows[int(parts[0])] = (parts[1], float(parts[2]))
    assert sorted(name for name, _ in rows.values()) == ["lr=0.05", "lr=0.2"]
    assert rows[1][1] >= rows[2][1]  # ranked by best validation accuracy
    assert f"Best trial: {rows[1][0]} (best val accuracy" in out
    with open(work / "logs" / "cli" / "results.csv") as f:
        assert [r["trial"] for r in csv.DictReader(f)] == [rows[1][0], rows[2][0]]
    for name, _ in rows.values():
        run_dir = work / "logs" / "cli" / name
        with open(run_dir / "results.json") as f:
            assert json.load(f)["experiment"]["model"].endswith("own_model.py:mlp")
        assert plugin_data(run_dir)["_hparams_/session_end_info"] \
            .session_end_info.status == api_pb2.STATUS_SUCCESS


def test_cli_report_prints_the_existing_table(cli):
    work, jobs = cli
    result = jobs["report"].result()
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already finished") == 2
    assert ": training" not in result.stdout and "Best trial: " in result.stdout


@pytest.mark.parametrize("job, words", [("bad_param", "cannot sweep 'dropout'"),
                                        ("nothing", "nothing to sweep")])
def test_cli_sweep_errors_are_one_line(cli, job, words):
    result = cli[1][job].result()
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and errors[0].startswith("lowtf sweep: error: ")
    assert words in errors[0]
