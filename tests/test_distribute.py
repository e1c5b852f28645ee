"""tf.distribute: MirroredStrategy on 2 logical CPUs, MultiWorkerMirroredStrategy with
2 local worker processes, and a worker killed mid-run. Strategies need a fresh process
(devices and clusters are set up before TensorFlow starts), so each runs as a subprocess."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import lowtf as lt
from conftest import make_classification
from lowtf.distribute import is_chief, make_strategy
from lowtf.launch import tf_configs

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")


def start_workers(run_dir, epochs, pause=0.0, n=2):
    procs = []
    for config in tf_configs(n):
        env = dict(os.environ, TF_CONFIG=config, TF_CPP_MIN_LOG_LEVEL="2")
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(SCRIPTS, "mw_worker.py"), str(run_dir), str(epochs),
             str(pause)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def test_mirrored_over_two_devices_equals_one_device():
    result = subprocess.run([sys.executable, os.path.join(SCRIPTS, "mirrored_check.py")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for path in ("resident=True", "resident=False"):
        assert report[path]["replicas"] == 2
        assert report[path]["max_weight_diff"] < 1e-5, report[path]
        for key, (single, mirrored) in report[path]["history"].items():
            np.testing.assert_allclose(single, mirrored, rtol=1e-5, atol=1e-6, err_msg=key)
    assert report["techniques"]["max_weight_diff"] < 1e-5, report["techniques"]
    for key, (single, mirrored) in report["techniques"]["history"].items():
        np.testing.assert_allclose(single, mirrored, rtol=1e-5, atol=1e-6, err_msg=key)
    assert "must divide evenly over the 2 replicas" in report["odd_batch_error"]
    assert "inside strategy.scope()" in report["outside_scope_error"]
    assert report["nonfinite_step"] == 7 and report["nonfinite_iterations"] == 6
    assert report["nonfinite_all_finite"]


def test_two_workers_agree_and_the_chief_checkpoint_restores_in_a_plain_process(tmp_path):
    procs = start_workers(tmp_path / "run", epochs=2)
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["replicas"] for r in reports] == [2, 2]
    assert sorted(r["chief"] for r in reports) == [False, True]
    assert reports[0]["checksum"] == reports[1]["checksum"]
    assert reports[0]["step"] == 20

    # The same training in one plain process: the same weights up to float32 rounding.
    x, y = make_classification(400)
    single = lt.Trainer(lt.dnn(784, (32,), 10, seed=0), optimizer=lt.optimizers.SGD(0.05), verbose=0)
    history = single.fit((x, y), (x[:100], y[:100]), epochs=2, batch_size=40)
    checksum = float(sum(np.float64(w).sum() for w in single.model.get_weights().values()))
    assert checksum == pytest.approx(reports[0]["checksum"], abs=1e-3)
    assert history["val_accuracy"] == pytest.approx(reports[0]["val_accuracy"], abs=0.011)

    # Only the chief wrote checkpoints and logs; they restore with no strategy at all.
    assert sorted(n for n in os.listdir(tmp_path / "run" / "checkpoints")
                  if not n.startswith(".")) == [
        "best", "checkpoint", "ckpt-10.data-00000-of-00001", "ckpt-10.index",
        "ckpt-20.data-00000-of-00001", "ckpt-20.index"]
    restored = lt.restore(tmp_path / "run" / "checkpoints" / "ckpt-20")
    accuracy = restored.evaluate(x[:100], y[:100])["accuracy"]
    assert accuracy == pytest.approx(reports[0]["val_accuracy"][-1], abs=1e-6)


def test_a_killed_worker_fails_the_other_quickly_and_the_checkpoint_resumes(tmp_path):
    run_dir = tmp_path / "run"
    procs = start_workers(run_dir, epochs=30, pause=1.0)
    state = run_dir / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + 300
    while not state.exists():
        assert time.monotonic() < deadline, "no checkpoint appeared"
        assert all(p.poll() is None for p in procs), procs[0].stderr.read()[-3000:]
        time.sleep(0.2)
    time.sleep(1.0)
    procs[1].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    _, err = procs[0].communicate(timeout=180)
    waited = time.monotonic() - killed_at
    assert procs[0].returncode != 0
    assert waited < 90, f"the surviving worker took {waited:.0f}s to notice"
    assert "WorkerLostError" in err and "Restart every worker" in err, err[-3000:]

    # The chief's last checkpoint is intact and a single plain process resumes from it.
    x, y = make_classification(400)
    resumed = lt.Trainer(lt.dnn(784, (32,), 10, seed=0), optimizer=lt.optimizers.SGD(0.05),
                         run_dir=run_dir, verbose=0, histograms=False)
    last_good = resumed.final_checkpoint
    history = resumed.fit((x, y), (x[:100], y[:100]), epochs=8, batch_size=40)
    assert resumed._started_from_checkpoint and last_good is not None
    assert history["step"] == [10, 20, 30, 40, 50, 60, 70, 80]
    assert int(resumed.state.step.numpy()) == 80


def test_strategy_names_and_chief_rules(monkeypatch):
    assert make_strategy("default").num_replicas_in_sync == 1
    assert is_chief(make_strategy("default"))
    with pytest.raises(lt.ConfigError, match="unknown strategy"):
        make_strategy("tpu-pod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(lt.ConfigError, match="needs TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(lt.ConfigError, match="not valid JSON"):
        make_strategy("multiworker")
    configs = [json.loads(c) for c in tf_configs(3)]
    assert [c["task"]["index"] for c in configs] == [0, 1, 2]
    assert len(set(configs[0]["cluster"]["worker"])) == 3


def test_launch_runs_n_workers_with_their_own_tf_config(capfd):
    from lowtf.launch import launch
    code = launch(2, [sys.executable, "-c",
                      "import json, os; print(json.loads(os.environ['TF_CONFIG'])['task'])"])
    out = capfd.readouterr().out
    assert code == 0
    assert "[worker 0] {'type': 'worker', 'index': 0}" in out
    assert "[worker 1] {'type': 'worker', 'index': 1}" in out
    assert launch(2, [sys.executable, "-c", "import sys; sys.exit(3)"]) == 3
