"""`lowtf plot`: loss/accuracy curves of runs and sweeps as PNG."""

import json
import os
import struct
import subprocess
import sys

import pytest

import lowtf as lt
from lowtf import plot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOWTF = os.path.join(sys.prefix, "bin", "lowtf")
COMMAND = [LOWTF] if os.path.exists(LOWTF) else [sys.executable, "-m", "lowtf.cli"]


def fake_run(path, epochs=4, scale=1.0):
    os.makedirs(path, exist_ok=True)
    history = {"epoch": list(range(1, epochs + 1)),
               "step": [10 * (e + 1) for e in range(epochs)],
               "loss": [scale / (e + 1) for e in range(epochs)],
               "accuracy": [0.5 + 0.1 * e for e in range(epochs)],
               "val_loss": [1.2 * scale / (e + 1) for e in range(epochs)],
               "val_accuracy": [0.45 + 0.1 * e for e in range(epochs)]}
    with open(os.path.join(path, "history.json"), "w") as f:
        json.dump(history, f)
    return str(path)


def png_size(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_find_runs_expands_a_sweep_in_trial_order(tmp_path):
    for name in ("lr=0.1", "lr=0.01"):
        fake_run(tmp_path / "sweep" / name)
    (tmp_path / "sweep" / "sweep.json").write_text(json.dumps({"trials": ["lr=0.1", "lr=0.01"]}))
    single = fake_run(tmp_path / "single")
    runs = plot.find_runs([tmp_path / "sweep", single])
    assert [label for label, _ in runs] == ["lr=0.1", "lr=0.01", "single"]
    with pytest.raises(lt.ConfigError, match="not a lowtf run"):
        plot.find_runs([tmp_path / "nothing_here"])


def test_plot_runs_writes_a_png(tmp_path):
    a, b = fake_run(tmp_path / "a"), fake_run(tmp_path / "b", scale=2.0)
    out = lt.plot.plot_runs([a, b], tmp_path / "figs" / "curves.png", title="two runs")
    width, height = png_size(out)
    assert width > 600 and height > 200
    assert os.path.getsize(out) < 300_000
    one = lt.plot.plot_runs(a, tmp_path / "one.png", metrics=("accuracy",), splits=("validation",),
                       x="step")
    assert png_size(one)[0] < width  # one panel instead of two


def test_plot_errors(tmp_path):
    run = fake_run(tmp_path / "a")
    with pytest.raises(lt.ConfigError, match="none of the metrics"):
        lt.plot.plot_runs([run], tmp_path / "x.png", metrics=("top5_accuracy",))
    with pytest.raises(lt.ConfigError, match="splits"):
        lt.plot.plot_runs([run], tmp_path / "x.png", splits=("test",))


def test_lowtf_plot_command(tmp_path):
    run = fake_run(tmp_path / "a")
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(COMMAND + ["plot", run, "-o", str(tmp_path / "c.png"),
                                       "--metrics", "loss", "--splits", "validation"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Wrote {tmp_path / 'c.png'}"
    assert png_size(tmp_path / "c.png")[0] > 100
