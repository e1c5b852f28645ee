"""What this machine is, as far as results depend on it: the CPU and TensorFlow's oneDNN.

TensorFlow turns its oneDNN kernels on by default on CPUs with AVX-512 VNNI/BF16 or AMX
(recent Intel Xeon, AMD Zen 4) and leaves them off elsewhere; `TF_ENABLE_ONEDNN_OPTS=0/1`
overrides that. Results differ in the last bits between the two, so every figure lowtf
prints names both. `python -m lowtf.machine` prints the description;
`python -m lowtf.machine --other-onednn` prints the TF_ENABLE_ONEDNN_OPTS value (0 or 1)
that is *not* in force now (the CPU's default, or the value already set), for running
tests under both settings.
"""

import os
import sys

FEATURES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "VNNI", "amx_tile": "AMX"}


def cpu_model():
    """`(model name, set of CPU flags)` from /proc/cpuinfo."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def onednn_enabled():
    """Whether TensorFlow's oneDNN kernels are on in this process."""
    from tensorflow.python.util import _pywrap_util_port  # no public API says it

    return bool(_pywrap_util_port.IsMklEnabled())


def describe():
    """e.g. 'AMD EPYC (AVX2/AVX-512/VNNI), 2 cores, oneDNN on (CPU default)'."""
    model, flags = cpu_model()
    features = [name for flag, name in FEATURES.items() if flag in flags]
    forced = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    how = f"TF_ENABLE_ONEDNN_OPTS={forced}" if forced is not None else "CPU default"
    return (f"{model} ({'/'.join(features) or 'no AVX2'}), {os.cpu_count()} cores, "
            f"oneDNN {'on' if onednn_enabled() else 'off'} ({how})")


if __name__ == "__main__":
    if sys.argv[1:] == ["--other-onednn"]:
        print(0 if onednn_enabled() else 1)
    else:
        print(describe())
