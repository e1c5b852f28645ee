"""Keeps TensorFlow's start-up chatter off stderr, unless the user asks for it.

Importing TensorFlow 2.21 writes C++ log lines straight to file descriptor 2: absl's
"All log messages before absl::InitializeLog() is called are written to STDERR",
"oneDNN custom operations are on ..." (on CPUs where oneDNN is on by default) and CPU
feature notes. `TF_CPP_MIN_LOG_LEVEL` does not silence all of them. `import lowtf`
arms a one-shot import hook: the next `import tensorflow`, whoever makes it, runs with
descriptor 2 captured, and only the chatter (INFO and WARNING records and absl's
preamble) is dropped; anything else (errors, Python warnings) is written back as it was.

The user's own settings win: if `TF_CPP_MIN_LOG_LEVEL` is set before lowtf is
imported, or `disarm()` is called (`lowtf --verbose`), nothing is filtered. Importing
lowtf stays cheap: nothing here imports TensorFlow.
"""

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
# Set beside the level lowtf chose, so that child processes (sweep trials, workers) that
# inherit it know the level is lowtf's default and not the user's own setting.
MARKER_VARIABLE = "LOWTF_QUIET_TENSORFLOW"
_PREAMBLE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called")
# glog/absl records, e.g. `I0000 00:00:1796173040.614980    2044 port.cc:153] text`
_RECORD = re.compile(r"[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [^\]]+\] ")
_CHATTER = re.compile(r"[IW]\d{4} ")
_NOT_CONTINUATION = re.compile(r"Traceback|\w*(Warning|Error)\b")


def filter_chatter(text):
    """`text` without TensorFlow's INFO/WARNING records (and their continuation lines)."""
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        if _PREAMBLE.match(line):
            dropping = False
            continue
        if _RECORD.match(line):
            dropping = bool(_CHATTER.match(line))
        elif dropping and _NOT_CONTINUATION.match(line):
            dropping = False
        if not dropping:
            kept.append(line)
    return "".join(kept)


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of `tensorflow` with descriptor 2 captured and filtered."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            failed = True
            try:
                self._loader.exec_module(module)
                failed = False
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                text = captured.read().decode(errors="replace")
                text = text if failed else filter_chatter(text)
                if text:
                    os.write(2, text.encode())

    def __getattr__(self, name):  # get_source, is_package, resource readers, ...
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with a loader that keeps its import quiet."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        disarm(keep_level=True)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def arm():
    """Makes the next `import tensorflow` quiet, unless the user set their own log level."""
    users_own = LEVEL_VARIABLE in os.environ and MARKER_VARIABLE not in os.environ
    if "tensorflow" in sys.modules or users_own:
        return
    os.environ[LEVEL_VARIABLE] = "2"
    os.environ[MARKER_VARIABLE] = "1"
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def disarm(keep_level=False):
    """Lets TensorFlow log as it would without lowtf (`lowtf --verbose`)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietFinder)]
    if not keep_level and os.environ.pop(MARKER_VARIABLE, None):
        os.environ.pop(LEVEL_VARIABLE, None)
