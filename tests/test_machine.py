"""`lowtf.machine`: which CPU, and whether TensorFlow's oneDNN kernels are on."""

import os
import platform
import subprocess
import sys

import pytest

from lowtf.machine import cpu_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(platform.machine() != "x86_64", reason="reads x86 /proc/cpuinfo fields")
def test_cpu_model_reads_proc_cpuinfo():
    model, flags = cpu_model()
    assert model and model != "unknown CPU"
    assert "sse2" in flags  # every x86-64 CPU has it


@pytest.mark.parametrize("setting, on, other", [("0", "off", "1"), ("1", "on", "0")])
def test_describe_and_other_onednn_follow_the_setting_in_force(setting, on, other):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=setting, PYTHONPATH=REPO)
    describe = subprocess.run([sys.executable, "-m", "lowtf.machine"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert describe.returncode == 0, describe.stderr
    assert f"oneDNN {on} (TF_ENABLE_ONEDNN_OPTS={setting})" in describe.stdout
    flip = subprocess.run([sys.executable, "-m", "lowtf.machine", "--other-onednn"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert flip.stdout.strip() == other
