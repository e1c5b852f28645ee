"""`lowtf.run_dir`: the one place that knows the layout of run and sweep directories."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest

from lowtf import checkpoints, history
from lowtf.run_dir import (SWEEP_CONFIG_SUFFIX, RunDir, SweepDir, best_checkpoints,
                           read_json)
from lowtf.storage import WriteError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_run_dir_paths_follow_the_documented_layout(tmp_path):
    run = RunDir(tmp_path / "run")
    root = str(tmp_path / "run")
    assert run.path == root and os.fspath(run) == root and repr(run) == f"RunDir({root!r})"
    assert run.checkpoints == os.path.join(root, "checkpoints")
    assert run.best_checkpoints == os.path.join(root, "checkpoints", "best")
    assert run.history == os.path.join(root, "history.json")
    assert run.results == os.path.join(root, "results.json")
    assert run.trial_status == os.path.join(root, "sweep_trial.json")
    assert run.trial_error == os.path.join(root, "error.txt")
    assert [run.split(s) for s in ("train", "validation", "test")] == \
        [os.path.join(root, s) for s in ("train", "validation", "test")]
    assert run.split("") == root  # the run's own hparams
    assert not os.path.exists(root)  # asking for paths creates nothing


def test_best_checkpoints_is_inside_any_checkpoints_folder(tmp_path):
    assert best_checkpoints(tmp_path / "worker-tmp") == str(tmp_path / "worker-tmp" / "best")
    assert best_checkpoints("logs/r/checkpoints") == RunDir("logs/r").best_checkpoints


def test_the_other_modules_ask_run_dir_for_their_paths(tmp_path):
    assert history.path(tmp_path) == RunDir(tmp_path).history
    assert checkpoints.checkpoint_dir(str(tmp_path)) == RunDir(tmp_path).checkpoints


def test_read_json_is_none_for_a_missing_or_damaged_file(tmp_path):
    path = tmp_path / "x.json"
    assert read_json(path) is None
    path.write_text('{"a": [1, 2')  # cut short by a kill
    assert read_json(path) is None
    path.write_text('{"a": [1, 2]}')
    assert read_json(path) == {"a": [1, 2]}


def test_is_run_needs_a_history(tmp_path):
    run = RunDir(tmp_path)
    assert not run.is_run()
    (tmp_path / "history.json").mkdir()  # a folder by that name is not a history
    assert not run.is_run()
    os.rmdir(tmp_path / "history.json")
    (tmp_path / "history.json").write_text("{}")
    assert run.is_run()


def test_results_are_written_atomically_as_strict_json_and_read_back(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_results() is None
    run.write_results({"test": {"loss": math.nan, "accuracy": 0.5}, "epochs": 2}, "ckpt-10")
    text = (tmp_path / "results.json").read_text()
    assert json.loads(text) == {"test": {"loss": None, "accuracy": 0.5}, "epochs": 2}
    assert "\n  " in text  # indented for people
    assert run.read_results()["epochs"] == 2
    assert os.listdir(tmp_path) == ["results.json"]  # no temporary file left


def test_a_failed_results_write_names_the_safe_checkpoint(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(WriteError, match=r"the run's results .*ckpt-7"):
        RunDir(blocker).write_results({"epochs": 1}, "ckpt-7")


def test_trial_status_and_error(tmp_path):
    trial = RunDir(tmp_path)
    assert trial.read_trial_status() is None
    trial.write_trial_status({"status": "failed", "error": "ValueError: x", "seconds": 1.5})
    assert trial.read_trial_status() == {"status": "failed", "error": "ValueError: x",
                                         "seconds": 1.5}
    trial.write_trial_error("Traceback (most recent call last):\n...")
    assert (tmp_path / "error.txt").read_text().startswith("Traceback")


def test_sweep_dir_paths_and_trials(tmp_path):
    sweep = SweepDir(tmp_path / "lr")
    root = str(tmp_path / "lr")
    assert os.fspath(sweep) == root and repr(sweep) == f"SweepDir({root!r})"
    assert sweep.description == os.path.join(root, "sweep.json")
    assert sweep.results_table == os.path.join(root, "results.csv")
    assert sweep.results == os.path.join(root, "results.json")
    trial = sweep.trial("lr=0.01")
    assert isinstance(trial, RunDir) and trial.path == os.path.join(root, "lr=0.01")


def test_sweep_description_and_trial_order(tmp_path):
    sweep = SweepDir(tmp_path)
    assert sweep.read_description() is None and sweep.trial_order() == {}
    sweep.write_description({"name": "lr", "trials": ["lr=0.1", "lr=0.01"]})
    assert sweep.read_description()["name"] == "lr"
    assert sweep.trial_order() == {"lr=0.1": 0, "lr=0.01": 1}
    for damaged in ('{"name": "lr"}', "[1, 2]", '{"trials": 3}', '{"trials": [', ""):
        (tmp_path / "sweep.json").write_text(damaged)
        assert sweep.trial_order() == {}, damaged


def test_hparams_config_files(tmp_path):
    sweep = SweepDir(tmp_path)
    (tmp_path / ("events.out.tfevents.1.host" + SWEEP_CONFIG_SUFFIX)).write_text("")
    (tmp_path / "events.out.tfevents.2.host.sweep-trial").write_text("")
    (tmp_path / "sweep.json").write_text("{}")
    assert sweep.hparams_config_files() == [
        str(tmp_path / ("events.out.tfevents.1.host" + SWEEP_CONFIG_SUFFIX))]


def test_sweep_results_table_and_json(tmp_path):
    sweep = SweepDir(tmp_path)
    assert sweep.read_results() is None
    rows = [{"rank": 1, "trial": "a", "test_accuracy": 0.9, "extra": "left out"},
            {"rank": 2, "trial": "b", "test_accuracy": None}]
    sweep.write_table(["rank", "trial", "test_accuracy", "error"], rows)
    with open(sweep.results_table, newline="") as f:
        table = list(csv.DictReader(f))
    assert table == [{"rank": "1", "trial": "a", "test_accuracy": "0.9", "error": ""},
                     {"rank": "2", "trial": "b", "test_accuracy": "", "error": ""}]
    sweep.write_results({"sweep": "s", "trials": rows[:1], "best": {"loss": math.inf}})
    assert sweep.read_results() == {"sweep": "s", "trials": rows[:1], "best": {"loss": None}}
    assert sorted(os.listdir(tmp_path)) == ["results.csv", "results.json"]


def test_importing_run_dir_does_not_import_tensorflow():
    code = "import sys, lowtf.run_dir; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": REPO}, check=True)
    assert out.stdout.strip() == "False"
