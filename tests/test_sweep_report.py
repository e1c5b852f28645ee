"""A sweep's report: ranked on validation, from its folder alone (`lowtf sweep --report
DIR`), test figures only for the chosen trial and only when asked (`--test`).

Two tiny trials train on the fake Fashion-MNIST of `fake_data.py` (as in test_sweep.py).
"""

import contextlib
import csv
import io
import json
import os
import re
import shutil

import pytest

import lowtf as lt
from fake_data import write_fake_fashion_mnist
from lowtf import sweep as sw
from lowtf.cli import main as cli_main
from lowtf.sweep.ondisk import SweepOnDisk, open_sweep_dir


def quietly(function, *args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = function(*args, **kwargs)
    return value, out.getvalue()


def mentions_test(text):
    """Whether `text` shows a test figure ("test acc", "Test of ..."; not a tmp path)."""
    return re.search(r"\btest\b", text, re.IGNORECASE) is not None


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished sweep of two trials (lr=0.2 learns faster than lr=0.02)."""
    data_dir = write_fake_fashion_mnist(tmp_path_factory.mktemp("fake_fashion"))
    base = lt.Experiment(hidden=(16,), epochs=2, patience=None, batch_size=50,
                         metrics=("accuracy",), data_dir=data_dir, xla=False)
    sweep = sw.Sweep("rep", base=base, logdir=tmp_path_factory.mktemp("sweeps"),
                     grid={"learning_rate": [0.02, 0.2]})
    result, out = quietly(sw.run_sweep, sweep)
    return sweep, result, out


@pytest.fixture
def folder(swept, tmp_path):
    """A copy of the sweep's folder, to change freely (no experiment or grid with it)."""
    sweep, result, _ = swept
    copy = tmp_path / "copied"
    shutil.copytree(sweep.root, copy)
    return str(copy), result


# ---- the table: validation only -----------------------------------------------------------

def test_the_table_and_best_trial_show_no_test_figures(swept):
    _, result, out = swept
    assert result.best["test_accuracy"] is not None  # the trials did evaluate the test split
    header = result.table().splitlines()[1]
    assert re.split(r"\s{2,}", header.strip())[:4] == ["rank", "trial", "best val acc", "final val acc"]
    for text in (result.table(), result.report(), out):
        assert not mentions_test(text)
    assert "Best trial: lr=0.2 (best val accuracy" in out


def test_the_files_keep_every_trials_test_figures(swept):
    _, result, _ = swept
    with open(result.csv_path) as f:
        rows = list(csv.DictReader(f))
    assert all(0 <= float(r["test_accuracy"]) <= 1 for r in rows)


def test_test_report_shows_the_chosen_trial_only(swept):
    _, result, _ = swept
    best, other = result.rows
    text = result.test_report()
    assert text.startswith("Test of the chosen trial lr=0.2 (chosen by val_accuracy): "
                           f"accuracy {best['test_accuracy']:.4f}, loss {best['test_loss']:.4f}")
    assert other["trial"] not in text


def test_test_report_without_a_test_evaluation_or_a_finished_trial():
    sweep = SweepOnDisk("s", "logs/s", ("learning_rate",), "val_accuracy", ("lr=0.1",))
    row = {"trial": "lr=0.1", "status": "finished", "epochs": 1, "best_val_accuracy": 0.5,
           "run_dir": "logs/s/lr=0.1"}
    assert sw.SweepResult(sweep, [row]).test_report() == \
        "Test of lr=0.1: not evaluated; run lowtf evaluate 'logs/s/lr=0.1' --split test"
    pending = dict(row, status="pending")
    assert "no trial has finished" in sw.SweepResult(sweep, [pending]).test_report()


@pytest.mark.parametrize("rank_by", ["test_accuracy", "test_loss"])
def test_ranking_by_a_test_figure_is_refused(rank_by, tmp_path):
    with pytest.raises(lt.ConfigError, match="choose the trial on the test set.*val_accuracy"):
        sw.Sweep("s", grid={"learning_rate": [0.1]}, rank_by=rank_by)
    (tmp_path / "sweep.json").write_text(json.dumps({"name": "s", "trials": []}))
    with pytest.raises(lt.ConfigError, match="test set"):
        open_sweep_dir(tmp_path, rank_by=rank_by)


def test_an_old_sweep_ranked_by_test_is_read_back_ranked_by_validation(tmp_path):
    (tmp_path / "sweep.json").write_text(json.dumps(
        {"name": "old", "trials": [], "rank_by": "test_accuracy", "grid": {"lr": [1]}}))
    assert open_sweep_dir(tmp_path).rank_by == "val_accuracy"
    assert open_sweep_dir(tmp_path, rank_by="val_loss").rank_by == "val_loss"


# ---- the report of a sweep folder -----------------------------------------------------------

def test_report_of_a_folder_ranks_the_trials_on_disk_and_trains_nothing(folder):
    root, trained = folder
    os.remove(os.path.join(root, "results.csv"))
    histories = {t: os.path.getmtime(os.path.join(root, t, "history.json"))
                 for t in ("lr=0.02", "lr=0.2")}
    result, out = quietly(sw.report_sweep_dir, root)
    assert [r["trial"] for r in result.rows] == [r["trial"] for r in trained.rows]
    assert [r["status"] for r in result.rows] == ["finished", "finished"]
    assert [r["learning_rate"] for r in result.rows] == [0.2, 0.02]
    assert result.best["best_val_accuracy"] == trained.best["best_val_accuracy"]
    assert result.best["run_dir"] == os.path.join(root, "lr=0.2")
    assert out.startswith("Sweep rep: 2 trials over learning_rate, ranked by val_accuracy")
    assert "Best trial: lr=0.2" in out and not mentions_test(out)
    with open(os.path.join(root, "results.csv")) as f:  # refreshed
        assert [r["trial"] for r in csv.DictReader(f)] == ["lr=0.2", "lr=0.02"]
    assert sw.read_results(root)[0]["run_dir"] == os.path.join(root, "lr=0.2")
    for trial, mtime in histories.items():
        assert os.path.getmtime(os.path.join(root, trial, "history.json")) == mtime


def test_report_of_a_folder_without_results_reads_values_from_the_runs(folder):
    root, _ = folder
    os.remove(os.path.join(root, "results.json"))
    shutil.rmtree(os.path.join(root, "lr=0.02"))  # a trial that never ran
    result, _ = quietly(sw.report_sweep_dir, root, verbose=0)
    assert [(r["trial"], r["status"], r.get("learning_rate")) for r in result.rows] == \
        [("lr=0.2", "finished", 0.2), ("lr=0.02", "pending", None)]


def test_report_of_a_folder_that_is_not_a_sweep(tmp_path):
    with pytest.raises(lt.ConfigError, match=r"is not a sweep directory \(no sweep.json\): "
                                             r"give the folder `lowtf sweep` printed"):
        sw.report_sweep_dir(tmp_path)
    with pytest.raises(lt.ConfigError, match="does not exist"):
        sw.report_sweep_dir(tmp_path / "missing")
    (tmp_path / "sweep.json").write_text("{not json")
    with pytest.raises(lt.ConfigError, match="sweep.json is damaged"):
        sw.report_sweep_dir(tmp_path)


# ---- the command line -----------------------------------------------------------------------

def test_cli_report_of_a_folder_with_test(folder, capsys):
    root, trained = folder
    assert cli_main(["sweep", "--report", root, "--test"]) == 0
    out = capsys.readouterr().out
    table, _, after = out.partition("Best trial:")
    assert "lr=0.2" in table and "lr=0.02" in table and not mentions_test(table)
    tests = [line for line in out.splitlines() if mentions_test(line)]
    assert tests == [f"Test of the chosen trial lr=0.2 (chosen by val_accuracy): accuracy "
                     f"{trained.best['test_accuracy']:.4f}, loss "
                     f"{trained.best['test_loss']:.4f}"]


def test_cli_report_of_a_folder_quietly_ranked_by_loss(folder, capsys):
    root, _ = folder
    assert cli_main(["sweep", root, "--report", "--quiet", "--rank-by", "val_loss"]) == 0
    out = capsys.readouterr().out
    assert "ranked by val_loss" in out and "Best trial: " in out and not mentions_test(out)


@pytest.mark.parametrize("extra, words", [
    ([], "is not a sweep directory (no sweep.json)"),
    (["--grid", "lr=0.1,0.2"], "is not a sweep directory"),
])
def test_cli_report_of_a_folder_that_is_not_a_sweep(tmp_path, capsys, extra, words):
    assert cli_main(["sweep", "--report", str(tmp_path), *extra]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and words in errors[0]


@pytest.mark.parametrize("args, words", [
    (["--report", "{root}", "--grid", "lr=0.1,0.2"], "leave out --grid"),
    (["--report", "{root}", "--epochs", "3"], "leave out train overrides"),
    (["{root}"], "is a folder; to print the table of the sweep in it add --report"),
    (["--report", "{root}", "--rank-by", "test_accuracy"], "on the test set"),
])
def test_cli_report_of_a_folder_refuses_what_it_cannot_do(folder, capsys, args, words):
    root, _ = folder
    assert cli_main(["sweep", *(a.format(root=root) for a in args)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and words in errors[0]


def test_cli_rank_by_test_is_refused_for_a_sweep_to_train(capsys):
    assert cli_main(["sweep", "--grid", "lr=0.1,0.2", "--rank-by", "test_loss",
                     "--report"]) == 2
    assert "on the test set" in capsys.readouterr().err


def test_a_folder_target_is_a_sweep_or_anything_but_a_package(folder, tmp_path):
    from lowtf.cli.sweep import _is_folder

    root, _ = folder
    package = tmp_path / "package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    assert _is_folder(root) and _is_folder(str(tmp_path / "copied" / "lr=0.2"))
    assert not _is_folder(str(package))  # a module to import, as before
    assert not _is_folder(None) and not _is_folder(os.path.join(root, "results.csv"))


def test_cli_report_of_a_folder_plots_its_trials_in_order(folder, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    root, _ = folder
    png = tmp_path / "curves.png"
    assert cli_main(["sweep", "--report", root, "--plot", str(png), "--quiet"]) == 0
    assert f"Curves: {png}" in capsys.readouterr().out and png.stat().st_size > 0


def test_values_read_from_a_run_record_are_formatted_as_the_live_table_formats_them():
    from lowtf.sweep.ondisk import SweepOnDisk, _values
    from lowtf.sweep.space import DASHBOARD_NAMES, dashboard_value

    sweep = SweepOnDisk(name="s", root="r", swept=("hidden", "learning_rate"),
                        rank_by="val_accuracy", trial_ids=("a",))
    record = {"hidden": [300, 100], "learning_rate": 0.01}  # as results.json holds them
    values = _values(sweep, {}, record)
    assert values == {DASHBOARD_NAMES.get("hidden", "hidden"): dashboard_value((300, 100)),
                      DASHBOARD_NAMES.get("learning_rate", "learning_rate"): 0.01}
    assert dashboard_value((300, 100)) == "300-100"
