"""Sweeps over the research toolkit: `model_args.<key>`, `optimizer_args.<key>`, l2, ema,
accumulate, precision and learning-rate schedules; and `experiments/toolkit_mlp.py`.

The end-to-end sweep trains two tiny trials (784-16-10 of `toolkit_mlp.mlp`, one epoch)
on the fake Fashion-MNIST of `fake_data.py`.
"""

import contextlib
import csv
import io
import json
import os

import numpy as np
import pytest

import lowtf as lt
from fake_data import write_fake_fashion_mnist
from lowtf import sweep as sw
from lowtf.cli import main as cli_main
from lowtf.sweep.jsonio import _jsonable

S = lt.optimizers.schedules
MLP = "toolkit_mlp:mlp"


def mlp_base(**changes):
    return lt.Experiment(model=MLP, model_args={"hidden": [16]}, epochs=1, patience=None,
                         metrics=("accuracy",), xla=False).replace(**changes)


def scalar(value):
    return isinstance(value, (bool, int, float, str))


# ---- the set of trials -------------------------------------------------------------------

def test_model_args_key_is_merged_into_the_base_model_args(tmp_path):
    sweep = lt.sweep.Sweep("d", base=mlp_base(), logdir=tmp_path,
                           grid={"model_args.dropout": [0, 0.2, 0.5]})
    trials = sweep.trials()
    assert [t.id for t in trials] == ["dropout=0", "dropout=0.2", "dropout=0.5"]
    assert [t.experiment.model_args for t in trials] == [
        {"hidden": [16], "dropout": 0}, {"hidden": [16], "dropout": 0.2},
        {"hidden": [16], "dropout": 0.5}]
    assert sweep.base.model_args == {"hidden": [16]}  # the base is untouched
    assert sweep.swept == ["model_args.dropout"]
    # Dashboard: the full name, one type per column (0 and 0.2 are both floats there).
    assert [t.hparams["model_args.dropout"] for t in trials] == [0.0, 0.2, 0.5]
    assert all(scalar(v) for t in trials for v in t.hparams.values())
    assert trials[0].hparams["model"] == "mlp" and "layers" not in trials[0].hparams
    assert sweep.swept == ["model_args.dropout"]


def test_optimizer_args_keys_in_configs(tmp_path):
    sweep = lt.sweep.Sweep("c", base=lt.Experiment(learning_rate=1.0), logdir=tmp_path,
                           configs=[{"optimizer_args.global_clipnorm": None},
                                    {"optimizer_args.global_clipnorm": 1.0},
                                    {"optimizer_args.clipvalue": 0.5}])
    trials = sweep.trials()
    assert [t.id for t in trials] == ["global_clipnorm=none", "global_clipnorm=1",
                                      "clipvalue=0.5"]
    assert [t.experiment.optimizer_args for t in trials] == [
        {"global_clipnorm": None}, {"global_clipnorm": 1.0}, {"clipvalue": 0.5}]
    # A column per key; numbers mixed with "none" all become text.
    assert [t.hparams["optimizer_args.global_clipnorm"] for t in trials] == \
        ["none", "1", "none"]
    assert [t.hparams["optimizer_args.clipvalue"] for t in trials] == ["none", "none", "0.5"]


def test_the_base_optimizer_args_are_kept():
    base = lt.Experiment(optimizer="adamw", optimizer_args={"weight_decay": 1e-4})
    trial = lt.sweep.Sweep("w", base=base, grid={"optimizer_args.global_clipnorm": [1]}) \
        .trials()[0]
    assert trial.experiment.optimizer_args == {"weight_decay": 1e-4, "global_clipnorm": 1}


def test_loop_techniques_are_sweepable_with_short_names():
    sweep = lt.sweep.Sweep("t", grid={"l2": [0, "1e-4"], "ema": [None, 0.999],
                                      "acc": [2], "prec": ["mixed_bfloat16"]})
    trials = sweep.trials()
    assert [t.id for t in trials] == [
        "l2=0,ema=none,acc=2,prec=mixed_bfloat16", "l2=0,ema=0.999,acc=2,prec=mixed_bfloat16",
        "l2=0.0001,ema=none,acc=2,prec=mixed_bfloat16",
        "l2=0.0001,ema=0.999,acc=2,prec=mixed_bfloat16"]
    e = trials[-1].experiment
    assert (e.l2, e.ema, e.accumulate, e.precision) == (1e-4, 0.999, 2, "mixed_bfloat16")
    assert trials[0].experiment.ema is None
    assert [t.hparams["ema"] for t in trials] == [0.0, 0.999, 0.0, 0.999]
    assert all(scalar(v) for t in trials for v in t.hparams.values())



def test_schedules_are_named_by_label_or_class():
    cosine = S.CosineDecay(0.1, decay_steps=1000)
    sweep = lt.sweep.Sweep("s", grid={"lr": [
        0.1, cosine, {"label": "warm up", **S.Warmup(10, after=cosine).get_config()},
        {"class": "PiecewiseConstant", "boundaries": [500], "values": [0.1, 0.01]}]})
    trials = sweep.trials()
    assert [t.id for t in trials] == ["lr=0.1", "lr=CosineDecay", "lr=warm_up",
                                      "lr=PiecewiseConstant"]
    rates = [t.experiment.learning_rate for t in trials]
    assert rates[0] == 0.1 and rates[1] == cosine
    assert rates[2] == S.Warmup(10, after=cosine)  # the label is not the schedule's
    assert isinstance(rates[3], S.PiecewiseConstant)
    assert [t.hparams["learning_rate"] for t in trials] == [
        "0.1", "CosineDecay", "warm up", "PiecewiseConstant"]
    described = json.loads(json.dumps(_jsonable(sweep.grid)))
    assert described["learning_rate"][2]["label"] == "warm up"


def test_a_schedule_in_the_base_is_named_on_the_dashboard():
    base = lt.Experiment(learning_rate={"class": "CosineDecay", "initial_learning_rate": 0.1,
                                        "decay_steps": 100})
    trial = lt.sweep.Sweep("b", base=base, grid={"seed": [1]}).trials()[0]
    assert trial.hparams["learning_rate"] == "CosineDecay"


@pytest.mark.parametrize("kwargs, words", [
    ({"grid": {"l2": [-1]}}, "l2 must be a number >= 0"),
    ({"grid": {"l2": ["much"]}}, "l2 must be a number"),
    ({"grid": {"ema": [1.5]}}, "ema: ema must be a decay in (0, 1)"),
    ({"grid": {"accumulate": [0]}}, "accumulate must be an int >= 1"),
    ({"grid": {"accumulate": [1.5]}}, "accumulate must be an int"),
    ({"grid": {"precision": ["float8"]}}, "unknown precision 'float8'"),
    ({"grid": {"lr": [{"class": "Cosine"}]}}, "learning_rate: unknown schedule class"),
    ({"grid": {"lr": [{"class": "CosineDecay", "initial_learning_rate": 0.1,
                       "decay_steps": 10, "label": ""}]}}, "label must not be empty"),
    ({"grid": {"lr": [S.CosineDecay(0.1, 10), S.CosineDecay(0.2, 10)]}},
     "would both be named 'CosineDecay' in trial ids; give each schedule a \"label\""),
    ({"grid": {"model_args.dropout": [0.1]}}, "cannot sweep 'model_args.dropout': the base "
                                              "experiment has no model"),
    ({"base": mlp_base(), "grid": {"model_args.dropuot": [0.1]}},
     "the model builder 'mlp' has no argument 'dropuot'"),
    ({"base": mlp_base(), "grid": {"model_args.": [0.1]}}, "cannot sweep 'model_args.'"),
    ({"base": mlp_base(), "grid": {"model_args.dropout": [object()]}},
     "model_args.dropout values must be JSON"),
    ({"base": mlp_base(), "grid": {"model_args.init": ["a b", "a_b"]}},
     "model_args.init: values 'a b' and 'a_b' would both be named 'a_b'"),
    ({"grid": {"model_args": [1]}}, "cannot sweep 'model_args'"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_toolkit_values_are_config_errors_naming_the_param(kwargs, words):
    with pytest.raises(lt.ConfigError) as error:
        lt.sweep.Sweep("bad", **kwargs)
    assert words in str(error.value)


def test_random_draws_of_a_model_arg_and_a_replaced_schedule_sweep():
    sweep = lt.sweep.Sweep("r", base=mlp_base(), n_trials=3, seed=1,
                           random={"model_args.dropout": lt.sweep.Uniform(0.0, 0.5)})
    rates = [t.experiment.model_args["dropout"] for t in sweep.trials()]
    assert len(set(rates)) == 3 and all(0 <= r <= 0.5 for r in rates)
    assert [t.id for t in sweep.trials()] == [f"dropout={r:g}" for r in rates]
    labs = sw.load_sweep("lab_schedules")
    again = labs.replace(base={"epochs": 1}, logdir="elsewhere")
    assert [t.id for t in again.trials()] == [t.id for t in labs.trials()]
    assert [t.experiment.learning_rate for t in again.trials()] == \
        [t.experiment.learning_rate for t in labs.trials()]


def test_values_from_the_command_line_are_read_as_json():
    assert sw.normalize("model_args.dropout", "0.5") == 0.5
    assert sw.normalize("model_args.batch_norm", "true") is True
    assert sw.normalize("model_args.hidden", "[64, 32]") == (64, 32)
    assert sw.normalize("model_args.init", "he") == "he"
    assert sw.normalize("model_args.init", "none") is None
    assert sw.normalize("ema", "off") is None and sw.normalize("ema", "0.99") == 0.99
    assert sw.normalize("l2", np.float32(0.5)) == 0.5 and sw.normalize("accumulate", "4") == 4
    assert sw.trial_name({"model_args.hidden": (64, 32), "model_args.batch_norm": True}) == \
        "hidden=64-32,batch_norm=true"


def test_dotted_names_that_clash_keep_their_full_name():
    assert sw.trial_name({"model_args.lr": 0.1, "optimizer_args.lr": 0.2}) == \
        "model_args.lr=0.1,optimizer_args.lr=0.2"
    assert sw.trial_name({"model_args.h": 3}) == "model_args.h=3"  # `h` is hidden's


def test_cli_grid_over_model_args(tmp_path, capsys):
    code = cli_main(["sweep", "toolkit_mlp", "--grid", "model_args.dropout=0,0.2,0.5",
                     "--grid", "l2=0,1e-4", "--logdir", str(tmp_path), "--report", "--quiet"])
    assert code in (0, None)
    out = capsys.readouterr().out
    for trial in ("dropout=0,l2=0", "dropout=0.2,l2=0.0001", "dropout=0.5,l2=0"):
        assert trial in out
    assert "over model_args.dropout, l2" in out


# ---- the builder -------------------------------------------------------------------------

def test_toolkit_mlp_builds_the_layers_asked_for():
    sweep, experiment = sw.load_target("toolkit_mlp")
    assert sweep is None and experiment.name == "toolkit_mlp"
    model = lt.Experiment(model=MLP, model_args={"hidden": [32, 16], "dropout": 0.5,
                                                 "batch_norm": True, "init": "he"}) \
        .build_model()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "BatchNorm", "Activation", "Dropout",
                     "Dense", "BatchNorm", "Activation", "Dropout", "Dense"]
    assert model.layers[1].initializer_name == "he"
    out = model(np.zeros((3, 28, 28), np.float32), training=False)
    assert tuple(out.shape) == (3, 10)


# ---- a real (tiny) sweep -----------------------------------------------------------------

@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    data_dir = write_fake_fashion_mnist(tmp_path_factory.mktemp("fake_fashion"))
    logdir = tmp_path_factory.mktemp("sweeps")
    schedule = {"label": "cos", **S.CosineDecay(0.2, decay_steps=12).get_config()}
    sweep = lt.sweep.Sweep("toolkit", base=mlp_base(data_dir=data_dir), logdir=logdir,
                           configs=[{"learning_rate": schedule}],
                           grid={"model_args.dropout": [0.0, 0.5]})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = sw.run_sweep(sweep)
    return sweep, result, out.getvalue()


def test_a_dropout_sweep_runs_end_to_end(swept):
    sweep, result, out = swept
    assert sorted(r["trial"] for r in result.rows) == ["lr=cos,dropout=0", "lr=cos,dropout=0.5"]
    assert all(r["status"] == "finished" for r in result.rows), out
    assert all(0 <= r["best_val_accuracy"] <= 1 and r["epochs"] == 1 for r in result.rows)
    with open(result.csv_path) as f:
        rows = {r["trial"]: r for r in csv.DictReader(f)}
    assert rows["lr=cos,dropout=0.5"]["model_args.dropout"] == "0.5"
    assert rows["lr=cos,dropout=0.5"]["learning_rate"] == "cos"
    trial = sweep.trials()[1]
    recorded = lt.run_dir.RunDir(trial.run_dir).read_results()["experiment"]
    assert recorded["model_args"] == {"hidden": [16], "dropout": 0.5}
    assert recorded["learning_rate"]["class"] == "CosineDecay"


def test_a_finished_toolkit_sweep_is_not_trained_again(swept):
    sweep, _, _ = swept
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        sw.run_sweep(sweep)
    assert out.getvalue().count("already finished") == 2, out.getvalue()
    assert "settings changed" not in out.getvalue()


def test_a_trial_of_the_builder_restores_without_a_model(swept):
    _, result, _ = swept
    run = next(r["run_dir"] for r in result.rows if r["trial"].endswith("dropout=0.5"))
    predictor = lt.restore(run)
    probabilities = predictor.probabilities(np.zeros((2, 28, 28), np.float32))
    assert probabilities.shape == (2, 10)
    assert os.path.isdir(os.path.join(run, "checkpoints"))
