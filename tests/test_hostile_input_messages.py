"""Hostile input that used to hang, crash with a raw traceback, get a vague message or be
accepted silently (issue 9): each case now ends in a `LowtfError` naming the value and the
fix, fast, or in a warning where the input may be legitimate."""

import argparse
import json
import re
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf

import lowtf as lt
from lowtf import cli
from lowtf.distribute import make_strategy
from lowtf.experiment import load_experiment
from lowtf.inputs import check_features
from lowtf.sweep import load_target, normalize


def one_line_error(argv, capsys):
    """Runs the CLI in this process; returns its single stderr line (exit status 2)."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"lowtf {argv[0]}: error: "), err
    return err[0]


@pytest.fixture
def no_training(monkeypatch):
    """`lowtf train` validates its arguments but trains nothing."""
    started = []
    monkeypatch.setattr("lowtf.experiment.run_experiment",
                        lambda experiment, verbose=1: started.append(experiment) or
                        {"test": {"accuracy": 0.5}})
    return started


# ---- 1. --devices is checked before any logical device is made -----------------------------

def test_a_huge_device_count_is_refused_at_once(no_training, capsys):
    start = time.perf_counter()
    line = one_line_error(["train", "--strategy", "mirrored", "--devices", "100000"], capsys)
    assert time.perf_counter() - start < 1.0
    assert "devices 100000" in line and "batch" in line
    with pytest.raises(lt.ConfigError, match="devices 64 .*divide.* batch_size 100"):
        lt.Experiment(strategy="mirrored", devices=64, batch_size=100)
    with pytest.raises(lt.ConfigError, match="devices 4096 .*at most"):
        lt.Experiment(strategy="mirrored", devices=4096, batch_size=4096)
    for bad in (0, -2, True, 2.0):
        with pytest.raises(lt.ConfigError, match="devices"):
            lt.Experiment(strategy="mirrored", devices=bad)
    assert lt.Experiment(strategy="mirrored", devices=5, batch_size=50).devices == 5


def test_make_strategy_checks_devices_before_making_them():
    start = time.perf_counter()
    with pytest.raises(lt.ConfigError, match="devices 1000 .* batch_size 50"):
        make_strategy("mirrored", devices=1000, batch_size=50)
    with pytest.raises(lt.ConfigError, match="at most"):
        make_strategy("mirrored", devices=100000)
    assert time.perf_counter() - start < 1.0
