"""TensorFlow's start-up log lines stay off stderr unless the user asks for them."""

import os
import subprocess
import sys

import pytest

from lowtf.tf_chatter import filter_chatter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOWTF = os.path.join(sys.prefix, "bin", "lowtf")
COMMAND = [LOWTF] if os.path.exists(LOWTF) else [sys.executable, "-m", "lowtf.cli"]
ONEDNN_LINE = "oneDNN custom operations are on"

CHATTER = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796173040.614980    2044 port.cc:153] oneDNN custom operations are on. "
    "You may see slightly different numerical results.\n"
    "I0000 00:00:1796173046.115375    2070 cpu_feature_guard.cc:227] This TensorFlow binary "
    "is optimized to use available CPU instructions.\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.\n"
    "W1202 00:57:26.614980    2044 env.cc:12] a warning record\n"
)


def test_filter_drops_info_and_warning_records_with_their_continuations():
    assert filter_chatter(CHATTER) == ""


def test_filter_keeps_errors_and_python_output():
    error = "E0000 00:00:1796173040.614980    2044 op.cc:1] something really failed\n"
    python = "/x/y.py:3: UserWarning: careful\n  warnings.warn('careful')\n"
    traceback = "Traceback (most recent call last):\n  File \"x\", line 1\n"
    assert filter_chatter(CHATTER + error + python) == error + python
    assert filter_chatter(CHATTER + traceback) == traceback
    assert filter_chatter("plain text\n") == "plain text\n"


def run(args, **env_changes):
    """Runs `args` with oneDNN forced on (so TensorFlow logs that it is, on any CPU)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "LOWTF_QUIET_TENSORFLOW")}
    env.update(TF_ENABLE_ONEDNN_OPTS="1", PYTHONPATH=REPO, **env_changes)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


IMPORT_AND_COMPUTE = ("import lowtf as lt, tensorflow as tf; "
                      "print(float(tf.nn.relu(tf.constant(2.0))))")


def test_importing_lowtf_then_tensorflow_prints_nothing_on_stderr():
    result = run([sys.executable, "-c", IMPORT_AND_COMPUTE])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.0"
    assert result.stderr == ""


def test_a_log_level_the_user_set_is_respected():
    result = run([sys.executable, "-c", IMPORT_AND_COMPUTE], TF_CPP_MIN_LOG_LEVEL="0")
    assert result.returncode == 0, result.stderr
    assert ONEDNN_LINE in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["train", "--help"],
                                  ["train", "--epochs", "0"]])
def test_help_version_and_usage_errors_do_not_import_tensorflow(args):
    code = ("import sys; from lowtf.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('TF_IMPORTED' if 'tensorflow' in sys.modules else 'NO_TF')")
    result = run([sys.executable, "-c", code, *args])
    assert result.stdout.strip().splitlines()[-1] == "NO_TF", result.stdout + result.stderr


def test_a_failing_command_prints_one_line_and_verbose_shows_tensorflow_logs(tmp_path):
    missing = str(tmp_path / "no_such_run")
    quiet = run(COMMAND + ["evaluate", missing])
    assert quiet.returncode == 2
    assert quiet.stderr.count("\n") == 1 and quiet.stderr.startswith("lowtf evaluate: error:")
    verbose = run(COMMAND + ["--verbose", "evaluate", missing])
    assert verbose.returncode == 2
    assert ONEDNN_LINE in verbose.stderr
    assert verbose.stderr.rstrip().splitlines()[-1].startswith("lowtf evaluate: error:")
