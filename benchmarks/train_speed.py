#!/usr/bin/env python
"""Training speed of lowtf against Keras `model.fit`, the machine's compute bound, and memory.

    .venv/bin/python benchmarks/train_speed.py            # default run, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/train_speed.py --quick    # smoke run, ~2 minutes

The reference 784-300-100-10 ReLU MLP is trained on the real Fashion-MNIST training split
(55,000 examples) with SGD(0.01) by every variant, in one process. Each round runs every
variant once, in the same order (A B C ... A B C ...), so that noise from the machine hits
all of them alike; each figure is the median over rounds. A variant's run is a fresh model,
one warm-up epoch (tracing, XLA compilation, first-touch allocations) and then
`--epochs-per-round` timed epochs; samples/second is examples trained in the timed epochs
divided by their wall time.

See benchmarks/README.md for what each figure means and the FLOP convention.
"""

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lowtf  # noqa: E402,F401  (first: it keeps TensorFlow's start-up chatter quiet)

REPO = Path(__file__).resolve().parents[1]

# The reference network: 784 inputs, hidden layers of 300 and 100 ReLUs, 10 logits.
LAYERS = (784, 300, 100, 10)
SEED = 42
LEARNING_RATE = 0.01


# ---- FLOP accounting --------------------------------------------------------------------
def flops_per_sample(layers=LAYERS):
    """FLOPs per training example of the MLP's matrix products, in two conventions.

    A dense layer with `i` inputs and `o` outputs costs `i*o` multiply-adds (2*i*o FLOPs) per
    example forward. Backward it costs the same again for the weight gradient (x^T @ dz) and
    again for the input gradient (dz @ W^T) -- but the first layer's input gradient (with
    respect to the images) is never needed and TensorFlow does not compute it.

    Returns `{"forward", "exact", "three_x"}`: `exact` = forward + all weight gradients +
    input gradients of layers 2.., the work actually done (1.127 MFLOP for 784-300-100-10);
    `three_x` = 3 x forward, the usual rule of thumb (1.597 MFLOP). Bias adds, ReLUs,
    softmax and the SGD update (O(params) per *step*, not per example) are left out.
    """
    macs = [i * o for i, o in zip(layers[:-1], layers[1:])]
    forward = 2 * sum(macs)
    exact = forward + 2 * sum(macs) + 2 * sum(macs[1:])
    return {"forward": forward, "exact": exact, "three_x": 3 * forward}


# ---- machine facts ----------------------------------------------------------------------
def machine_info():
    from lowtf.machine import cpu_model, onednn_enabled

    model, flags = cpu_model()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    simd = [f for f in ("avx512f", "avx2", "fma", "avx512_bf16", "amx_bf16") if f in flags]
    return {"cpu_model": model, "cpu_count": os.cpu_count(), "usable_cores": usable,
            "simd": simd, "platform": platform.platform(), "python": platform.python_version(),
            "onednn": onednn_enabled()}


BF16 = "lowtf mixed_bfloat16 (XLA auto)"


def bfloat16_kernels():
    """Whether this CPU has bfloat16 arithmetic (AVX-512-BF16 or AMX)."""
    from lowtf.machine import cpu_model

    return bool({"avx512_bf16", "amx_bf16"} & cpu_model()[1])


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# ---- statistics -------------------------------------------------------------------------
def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "values": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "values": values}


# ---- the variants -----------------------------------------------------------------------
def loss_only_guard(optimizer):
    """Makes `optimizer` check only the loss before an update, as lowtf did before issue 9.

    lowtf's guard also checks every new weight and slot value (a fused oneDNN kernel can
    give a finite loss with NaN gradients); this variant times what that costs.
    """
    import tensorflow as tf
    apply = optimizer.apply

    def loss_only(gradients, variables, if_finite=None):
        def update():
            apply(gradients, variables)
            return tf.constant(True)

        return tf.cond(if_finite, update, lambda: tf.constant(False))

    optimizer.apply = loss_only


def lowtf_variant(name, xla=None, resident=None, full_guard=True, precision=None):
    """A lowtf run: fresh network and Trainer, one fit of 1 warm-up + `epochs` timed epochs."""

    def run(data, batch_size, epochs):
        import lowtf as lt
        kwargs = {} if xla is None else {"xla": xla}
        if precision:
            kwargs["precision"] = precision
        trainer = lt.Trainer(lt.dnn(seed=SEED), optimizer=lt.optimizers.SGD(LEARNING_RATE), run_dir=None,
                             verbose=0, histograms=False, **kwargs)
        if not full_guard:
            loss_only_guard(trainer.optimizer)
        # CPU seconds per epoch (all threads): wrap the instance's epoch method from outside.
        cpu, train_epoch = [], trainer._train_epoch

        def timed_epoch(*args, **kw):
            start = time.process_time()
            logs = train_epoch(*args, **kw)
            cpu.append(time.process_time() - start)
            return logs

        trainer._train_epoch = timed_epoch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. a "running without XLA" fallback notice
            history = trainer.fit((data["x_uint8"], data["y"]), epochs=1 + epochs,
                                  batch_size=batch_size, resident=resident)
        times = history["epoch_time"]  # the epoch's training loop, without validation
        steps = history["step"]  # cumulative steps at each epoch's end
        samples = [(s - s0) * batch_size for s0, s in zip([0] + steps[:-1], steps)]
        return {"samples_per_second": sum(samples[1:]) / sum(times[1:]),
                "samples_per_cpu_second": sum(samples[1:]) / sum(cpu[1:]),
                "warmup_seconds": times[0], "timed_seconds": sum(times[1:]),
                "traces": trainer.train_traces,
                "xla": bool((trainer.loop.xla or {}).get("xla", False))}

    return name, run


class EpochTimer:
    """A Keras callback recording each epoch's wall and CPU time (begin to end)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times, self.cpu = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self._start, self._cpu = time.perf_counter(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self._start)
                self.cpu.append(time.process_time() - self._cpu)

        return _Timer()


def keras_model(seed=SEED):
    import keras
    import numpy as np

    def init(fan_in):  # lowtf's NeuronLayer init: truncated normal, stddev 2/sqrt(fan_in)
        return keras.initializers.TruncatedNormal(stddev=2.0 / np.sqrt(fan_in), seed=seed)

    layers = [keras.Input((LAYERS[0],))]
    for i, (n_in, n_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        last = i == len(LAYERS) - 2
        layers.append(keras.layers.Dense(n_out, activation=None if last else "relu",
                                         kernel_initializer=init(n_in),
                                         bias_initializer="zeros"))
    return keras.Sequential(layers)


def keras_compile(model, steps_per_execution):
    import keras
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def keras_variant(steps_per_execution):
    def run(data, batch_size, epochs):
        model = keras_compile(keras_model(), steps_per_execution)
        timer = EpochTimer()
        model.fit(data["x_float"], data["y"], batch_size=batch_size, epochs=1 + epochs,
                  shuffle=True, verbose=0, callbacks=[timer])
        n = len(data["x_float"])
        return {"samples_per_second": n * epochs / sum(timer.times[1:]),
                "samples_per_cpu_second": n * epochs / sum(timer.cpu[1:]),
                "warmup_seconds": timer.times[0], "timed_seconds": sum(timer.times[1:]),
                "xla": bool(model.jit_compile)}

    return f"Keras spe={steps_per_execution}", run


# ---- compute bound ----------------------------------------------------------------------
class MatmulProbe:
    """Times float32 `n x n @ n x n` products (2 n^3 FLOPs each) through TensorFlow (eager
    `tf.linalg.matmul`) and numpy's BLAS. `sample()` runs between every two training runs,
    so the bound sees the same machine noise as the variants do."""

    def __init__(self, n=2048, repeats=1):
        import tensorflow as tf
        self.n, self.repeats, self.tf = n, repeats, tf
        self.a = tf.random.stateless_uniform([n, n], seed=[1, 2])
        self.b = tf.random.stateless_uniform([n, n], seed=[3, 4])
        self.a_np, self.b_np = self.a.numpy(), self.b.numpy()
        self.rates = {"tensorflow": [], "numpy": []}
        self.cpu_rates = {"tensorflow": [], "numpy": []}  # FLOPs per CPU-second
        self._tf(), self._np()  # warm-up: thread pools, kernel selection, page faults

    def _tf(self):
        self.tf.linalg.matmul(self.a, self.b).numpy()

    def _np(self):
        self.a_np @ self.b_np

    def sample(self):
        for _ in range(self.repeats):
            for name, fn in (("tensorflow", self._tf), ("numpy", self._np)):
                start, cpu = time.perf_counter(), time.process_time()
                fn()
                self.rates[name].append(2 * self.n ** 3 / (time.perf_counter() - start))
                self.cpu_rates[name].append(2 * self.n ** 3 / max(time.process_time() - cpu, 1e-9))


def step_matmuls(batch_size, layers=LAYERS):
    """The matrix products of one training step: `(name, lhs shape, rhs shape, transpose_a,
    transpose_b)`. Forward `x @ W` and weight gradient `x^T @ dz` for every layer, input
    gradient `dz @ W^T` for layers 2.. (the image gradient is never computed)."""
    dots = []
    for k, (i, o) in enumerate(zip(layers[:-1], layers[1:]), start=1):
        dots.append((f"fwd{k}", [batch_size, i], [i, o], False, False))
        dots.append((f"wgrad{k}", [batch_size, i], [batch_size, o], True, False))
        if k > 1:
            dots.append((f"igrad{k}", [batch_size, o], [i, o], False, True))
    return dots


def dot_flops(lhs, rhs, transpose_a, transpose_b):
    m, k = (lhs[1], lhs[0]) if transpose_a else lhs
    n = rhs[0] if transpose_b else rhs[1]
    return 2 * m * k * n


FAMILIES = ("xla", "graph", "numpy")  # the kernel families the step's products are timed with


def step_matmul_floor(batch_size, rounds=3, flop_budget=4e10):
    """Times each matrix product of a training step alone, in a loop XLA-compiled (as in
    lowtf's step) and as a plain TensorFlow graph (oneDNN's or Eigen's MatMul, with
    TensorFlow's per-op cost), and through numpy's BLAS; returns medians over `rounds`
    and their sums, per kernel family.

    The sum is a ceiling for any training loop that runs these products with that
    library: `batch_size / sum` samples/second if nothing but the products ran. (The
    XLA loop also adds a scalar to the left operand each time, a pass over it that
    makes the ceiling a little low; so do short loops, hence ~0.3 s per timing.)
    """
    import numpy as np
    import tensorflow as tf
    per_dot = {}
    for name, lhs, rhs, ta, tb in step_matmuls(batch_size):
        flops = dot_flops(lhs, rhs, ta, tb)
        iterations = max(20, int(flop_budget / flops))
        a = tf.Variable(tf.random.stateless_uniform(lhs, seed=[5, 6]))
        b = tf.Variable(tf.random.stateless_uniform(rhs, seed=[7, 8]))

        def products(a=a, b=b, ta=ta, tb=tb, iterations=iterations):
            acc = tf.zeros([])
            for _ in tf.range(iterations):  # each product depends on the last: no hoisting
                c = tf.linalg.matmul(a + acc, b, transpose_a=ta, transpose_b=tb)
                acc = c[0, 0] * 1e-30
            return acc

        loops = {"xla": tf.function(products, jit_compile=True), "graph": tf.function(products)}

        # numpy multiplies the operands as they come out of the transposes: contiguous copies.
        a_np = np.ascontiguousarray(a.numpy().T) if ta else a.numpy()
        b_np = np.ascontiguousarray(b.numpy().T) if tb else b.numpy()
        for loop in loops.values():
            loop().numpy()  # compile, trace
        seconds = {lib: [] for lib in FAMILIES}
        for _ in range(rounds):
            for lib, loop in loops.items():
                start = time.perf_counter()
                loop().numpy()
                seconds[lib].append((time.perf_counter() - start) / iterations)
            start = time.perf_counter()
            for _ in range(iterations):
                a_np @ b_np
            seconds["numpy"].append((time.perf_counter() - start) / iterations)
        per_dot[name] = {"shapes": [lhs, rhs, ta, tb], "flops": flops,
                         **{f"{lib}_seconds": float(np.median(t)) for lib, t in seconds.items()}}
    sums = {lib: sum(d[f"{lib}_seconds"] for d in per_dot.values()) for lib in FAMILIES}
    return {"dots": per_dot, "step_seconds": sums,
            "ceiling_samples_per_second": {lib: batch_size / t for lib, t in sums.items()}}


# ---- time to accuracy -------------------------------------------------------------------
def time_to_accuracy_lowtf(data, batch_size, target, max_epochs):
    """Wall seconds (network construction, tracing and validation included) until the
    validation accuracy after an epoch reaches `target`; one `fit` call."""
    import lowtf as lt

    class StopAtTarget(lt.actions.EarlyStopping):
        # With patience=1, training stops after the first epoch that does not "improve";
        # here an epoch improves while it is still below the target.
        def __init__(self, target=0.85, **kwargs):
            super().__init__(**kwargs)
            self.target = target

        def improved(self, value, best):
            return value < self.target

    start = time.perf_counter()
    trainer = lt.Trainer(lt.dnn(seed=SEED), optimizer=lt.optimizers.SGD(LEARNING_RATE), run_dir=None,
                         verbose=0, histograms=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = trainer.fit((data["x_uint8"], data["y"]), (data["xv_uint8"], data["yv"]),
                              epochs=max_epochs, batch_size=batch_size,
                              early_stopping=StopAtTarget(patience=1, restore_best=False,
                                                          target=target))
    seconds = time.perf_counter() - start
    accuracy = history["val_accuracy"]
    return {"seconds": seconds, "epochs": len(accuracy), "val_accuracy": accuracy,
            "reached": accuracy[-1] >= target}


def time_to_accuracy_keras(data, batch_size, target, max_epochs, steps_per_execution):
    import keras

    class StopAtTarget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if (logs or {}).get("val_accuracy", 0.0) >= target:
                self.model.stop_training = True

    start = time.perf_counter()
    model = keras_compile(keras_model(), steps_per_execution)
    history = model.fit(data["x_float"], data["y"], batch_size=batch_size, epochs=max_epochs,
                        shuffle=True, verbose=0, validation_data=(data["xv_float"], data["yv"]),
                        callbacks=[StopAtTarget()])
    seconds = time.perf_counter() - start
    accuracy = [float(a) for a in history.history["val_accuracy"]]
    return {"seconds": seconds, "epochs": len(accuracy), "val_accuracy": accuracy,
            "reached": accuracy[-1] >= target}


# ---- memory -----------------------------------------------------------------------------
# A small launcher process runs the measured command and reports the peak RSS of its
# children. Measuring straight from this process would be wrong on Linux: a child's
# ru_maxrss starts at its parent's RSS at fork time (the high-water mark survives the
# fork/exec), and this process holds TensorFlow, Keras and the data (well over 1 GiB).
# The launcher is forked from us too, but it exec's a fresh small interpreter, and the
# command it forks in turn starts from that small RSS.
_LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.call(sys.argv[2:], timeout=float(sys.argv[1]))
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"maxrss": usage.ru_maxrss, "seconds": time.perf_counter() - start, "rc": rc}))
"""


def child_peak_rss(argv, timeout):
    """Runs `argv` in a child; returns (peak RSS in MiB, seconds, returncode, stderr tail).

    Peak RSS is `getrusage(RUSAGE_CHILDREN).ru_maxrss` read by a launcher process after
    the command exits (Linux reports KiB, macOS bytes).
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(timeout), *argv], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout + 60)
    try:
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, None, proc.returncode or -1, proc.stderr[-2000:]
    scale = 1 if sys.platform == "darwin" else 1024
    return (report["maxrss"] * scale / 2 ** 20, report["seconds"], report["rc"],
            proc.stderr[-2000:])


def measure_memory(rss_epochs, timeout):
    import lowtf as lt
    results = {}
    rss, seconds, rc, tail = child_peak_rss([sys.executable, "-c", "import tensorflow"], timeout)
    results["import_tensorflow"] = {"peak_rss_mib": rss, "seconds": seconds, "returncode": rc}
    epochs = ["--epochs", str(rss_epochs)] if rss_epochs else []  # default: the reference's
    run_dir = tempfile.mkdtemp(prefix="lowtf-bench-rss-")
    try:
        argv = [sys.executable, "-m", "lowtf.cli", "train", "--run-dir", run_dir, "--quiet",
                *epochs]
        rss, seconds, rc, tail = child_peak_rss(argv, timeout)
        entry = {"peak_rss_mib": rss, "seconds": seconds, "returncode": rc,
                 "command": " ".join(["python"] + argv[1:4] + ["--run-dir", "<tmp>", "--quiet",
                                                               *epochs]),
                 "max_epochs": rss_epochs or lt.Experiment().epochs}
        try:
            with open(os.path.join(run_dir, "results.json")) as f:
                res = json.load(f)
            entry.update(epochs_trained=res["epochs"], train_seconds=res["train_seconds"],
                         test_accuracy=res["test"]["accuracy"],
                         examples_per_second_median=res["examples_per_second_median"])
        except (OSError, ValueError, KeyError):
            entry["stderr_tail"] = tail
        results["lowtf_train"] = entry
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results


# ---- output -----------------------------------------------------------------------------
def fmt_rate(s):
    if s["median"] is None:
        return "-"
    return f"{s['median']:>9,.0f} [{s['min']:,.0f}-{s['max']:,.0f}]"


def fmt_mib(x):
    return "       ? MiB" if x is None else f"{x:>8.0f} MiB"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def report(result):
    out = []
    m, v = result["machine"], result["versions"]
    cfg = result["config"]
    out.append("=" * 100)
    out.append(f"lowtf training speed benchmark   {result['date']}")
    out.append(f"machine   {m['cpu_model']}, {m['cpu_count']} cores ({m['usable_cores']} usable), "
               f"SIMD {'/'.join(m['simd']) or '?'}, oneDNN "
               f"{'on' if m.get('onednn') else 'off'}; {m['platform']}")
    out.append(f"software  python {m['python']}, TensorFlow {v['tensorflow']}, Keras {v['keras']} "
               f"(jit_compile default 'auto' -> {v['keras_auto_jit_compile']} here), "
               f"numpy {v['numpy']}, lowtf {v['lowtf']}")
    out.append(f"load avg  start {result['load_average']['start']}  end {result['load_average']['end']}"
               "  (other processes on the machine skew every figure)")
    out.append(f"setup     784-300-100-10 ReLU MLP, SGD(lr {LEARNING_RATE}), Fashion-MNIST train "
               f"{cfg['train_examples']:,} examples; {cfg['rounds']} round(s) ABAB; per run 1 "
               f"warm-up + {cfg['epochs_per_round']} timed epoch(s); TF threads intra "
               f"{cfg['intra_op_threads'] or 'default'} inter {cfg['inter_op_threads'] or 'default'}; "
               f"wall {result['wall_seconds']:.0f}s")
    bss = cfg["batch_sizes"]
    out.append("")
    out.append("Training throughput, samples/second: median over rounds [min-max]")
    width, col = 38, 36
    out.append(f"  {'variant':<{width}}" + "".join(f"{'B=' + str(b):>{col}}" for b in bss))
    for name in result["variant_order"]:
        row = f"  {name:<{width}}"
        for b in bss:
            row += f"{fmt_rate(result['throughput'][str(b)][name]):>{col}}"
        out.append(row)
    out.append("")
    out.append("CPU efficiency, samples per CPU-second of the whole process (all threads), median;")
    out.append("less sensitive to other processes than wall time, but counts spinning threads too")
    for name in result["variant_order"]:
        row = f"  {name:<{width}}"
        for b in bss:
            st = result["cpu_efficiency"][str(b)][name]
            row += f"{'-' if st['median'] is None else format(st['median'], ',.0f'):>{col}}"
        out.append(row)
    out.append("")
    out.append("Ratios, lowtf (XLA auto) / baseline: of median samples/s (wall) | of median "
               "samples per CPU-second")
    rows = (("lowtf / Keras spe=1", "lowtf_over_keras_spe1", "cpu_lowtf_over_keras_spe1"),
            ("lowtf / Keras best spe", "lowtf_over_keras_best", "cpu_lowtf_over_keras_best"),
            ("lowtf xla=False / Keras best spe", "lowtf_noxla_over_keras_best", None),
            ("lowtf resident=False / Keras best spe", "lowtf_tfdata_over_keras_best", None),
            ("lowtf resident=False / lowtf (tf.data / resident)", "lowtf_tfdata_over_resident",
             None),
            ("lowtf mixed_bfloat16 / lowtf float32", "lowtf_bf16_over_float32", None),
            ("NaN guard: lowtf / loss-only check", "lowtf_over_loss_only_guard", None))
    for label, key, cpu_key in rows:
        row = f"  {label:<{width}}"
        for b in bss:
            r = result["ratios"][str(b)]
            cell = fmt_ratio(r[key])
            if key == "lowtf_over_keras_best":
                cell += f" (spe={r['keras_best_spe']})"
            if cpu_key:
                cell += f" | {fmt_ratio(r[cpu_key])}"
                if cpu_key == "cpu_lowtf_over_keras_best":
                    cell += f" (spe={r['keras_best_spe_cpu']})"
            row += f"{cell:>{col}}"
        out.append(row)
    cb = result["compute_bound"]
    f = cb["flops_per_sample"]
    out.append("")
    out.append("Compute bound (same run)")
    n = cb["matmul_n"]
    for lib, st in cb["matmul_flops"].items():
        out.append(f"  {n}x{n} @ {n}x{n} float32 via {lib:<10}  2*n^3/t = {st['median'] / 1e9:6.1f} "
                   f"GFLOP/s (median of {len(st['values'])}, [{st['min'] / 1e9:.1f}-{st['max'] / 1e9:.1f}])"
                   + ("  <- bound" if lib == cb["bound_library"] else ""))
    out.append(f"  FLOPs/sample, exact  = 2*MACs fwd + 2*MACs weight grads + 2*MACs input grads "
               f"(layers 2-3) = {f['forward']:,} + {f['forward']:,} + {f['exact'] - 2 * f['forward']:,} "
               f"= {f['exact'] / 1e6:.3f} MFLOP  [primary; the issue's 1.13]")
    out.append(f"  FLOPs/sample, 3x fwd = 3 * 2*(784*300+300*100+100*10) = {f['three_x'] / 1e6:.3f} MFLOP"
               "  [rule of thumb; also counts the unneeded image gradient]")
    out.append(f"  bound = FLOP/s / FLOPs per sample = {cb['bound_exact']:,.0f} samples/s (exact) | "
               f"{cb['bound_three_x']:,.0f} samples/s (3x fwd)")
    mc = cb["matmul_flops_per_cpu_second"][cb["bound_library"]]
    out.append(f"  per CPU-second: the same matmuls ({cb['bound_library']}) do {mc['median'] / 1e9:.1f} "
               f"GFLOP per CPU-second (median, [{mc['min'] / 1e9:.1f}-{mc['max'] / 1e9:.1f}])")
    row = f"  {'lowtf (XLA auto) samples/s':<{width}}"
    for b in bss:
        row += f"{result['throughput'][str(b)]['lowtf (XLA auto)']['median']:>{col},.0f}"
    out.append(row)
    row = f"  {'fraction of bound (exact | 3x fwd)':<{width}}"
    for b in bss:
        fr = cb["lowtf_fraction"][str(b)]
        cell = "-" if fr["exact"] is None else f"{fr['exact']:.2f} | {fr['three_x']:.2f}"
        row += f"{cell:>{col}}"
    out.append(row)
    row = f"  {'same, per CPU-second (exact | 3x)':<{width}}"
    for b in bss:
        fr = cb["lowtf_fraction"][str(b)]
        row += f"{fr['cpu_exact']:.2f} | {fr['cpu_three_x']:.2f}".rjust(col)
    out.append(row)
    floors = result.get("step_matmul_floor")
    if floors:
        out.append("")
        out.append("The step's matrix products timed alone (median seconds per product; "
                   "the sum bounds any loop built on them)")
        for b in bss:
            fb = floors[str(b)]
            cells = ", ".join(f"{n} " + "/".join(f"{d.get(lib + '_seconds', 0) * 1e6:.0f}"
                                                 for lib in FAMILIES)
                              for n, d in fb["dots"].items())
            out.append(f"  B={b}: us XLA/graph/numpy: {cells}")
            ceil = fb["ceiling_samples_per_second"]
            lowtf = result["throughput"][str(b)]["lowtf (XLA auto)"]["median"]
            best = max(ceil, key=ceil.get)
            graph = f", {ceil['graph']:,.0f} with TensorFlow's graph kernels" \
                if "graph" in ceil else ""
            out.append(f"  B={b}: products only -> {ceil['xla']:,.0f} samples/s with XLA's "
                       f"kernels{graph}, {ceil['numpy']:,.0f} with numpy's BLAS; lowtf runs "
                       f"at {lowtf / ceil['xla']:.2f} of the XLA ceiling, "
                       f"{lowtf / ceil[best]:.2f} of the fastest ({best})")
    tta = result.get("time_to_accuracy")
    if tta:
        out.append("")
        out.append(f"Time to {tta['target']:.2f} validation accuracy (5,000 validation examples, "
                   f"B={tta['batch_size']}, wall time incl. build/trace/validation, max "
                   f"{tta['max_epochs']} epochs)")
        for name, r in tta["summary"].items():
            sec = r["seconds"]
            out.append(f"  {name:<{width}}{sec['median']:>8.1f} s median [{sec['min']:.1f}-{sec['max']:.1f}]"
                       f"  epochs per round {r['epochs']}{'' if r['reached'] else '  NOT ALWAYS REACHED'}")
        first = {name: ", ".join(f"{a:.4f}" for a in v[0]["val_accuracy"])
                 for name, v in tta["runs"].items()}
        for name, accs in first.items():
            out.append(f"    {name} round 1 val acc per epoch: {accs}")
    mem = result.get("memory")
    if mem:
        out.append("")
        out.append("Peak RSS (separate child processes; ru_maxrss of RUSAGE_CHILDREN read by a launcher)")
        t = mem["import_tensorflow"]
        label = 'python -c "import tensorflow"'
        out.append(f"  {label:<{width}}{fmt_mib(t['peak_rss_mib'])}")
        t = mem["lowtf_train"]
        extra = ""
        if "epochs_trained" in t:
            extra = (f"  ({t['epochs_trained']} of max {t['max_epochs']} epochs in "
                     f"{t['train_seconds']:.1f}s, test acc "
                     f"{t['test_accuracy']:.4f}, child wall {t['seconds']:.0f}s)")
        elif t["returncode"]:
            extra = f"  (FAILED rc={t['returncode']})"
        out.append(f"  {'lowtf train (reference run)':<{width}}{fmt_mib(t['peak_rss_mib'])}{extra}")
        out.append(f"    {t['command']}")
    out.append("=" * 100)
    return "\n".join(out)


# ---- main -------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, help="ABAB rounds (default 3; --quick 1)")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes (default 50,256)")
    p.add_argument("--epochs-per-round", type=int,
                   help="timed epochs per run, after 1 warm-up epoch (default 1)")
    p.add_argument("--keras-spe", default=None,
                   help="steps_per_execution values tried besides 1 (default 10,100,1000; "
                        "--quick 100)")
    p.add_argument("--train-examples", type=int,
                   help="use the first N training examples for throughput (default all 55,000; "
                        "--quick 11,000)")
    p.add_argument("--matmul-n", type=int, default=2048, help="compute-bound matmul size")
    p.add_argument("--matmul-repeats", type=int, default=1,
                   help="matmuls timed (per library) before every training run")
    p.add_argument("--target-accuracy", type=float, default=0.85)
    p.add_argument("--tta-batch-size", type=int, default=50,
                   help="batch size of the time-to-accuracy runs (default 50, the reference)")
    p.add_argument("--tta-max-epochs", type=int, help="give up after this many (default 10)")
    p.add_argument("--tta-rounds", type=int, help="time-to-accuracy rounds (default: --rounds)")
    p.add_argument("--rss-epochs", type=int,
                   help="max epochs of the peak-RSS reference run (default: the reference "
                        "experiment's own limit and early stopping; --quick 1)")
    p.add_argument("--child-timeout", type=float, default=900, help="seconds per child process")
    p.add_argument("--threads", type=int,
                   help="TensorFlow intra- and inter-op threads (default: TensorFlow's choice)")
    p.add_argument("--skip-memory", action="store_true", help="no peak-RSS children")
    p.add_argument("--skip-tta", action="store_true", help="no time-to-accuracy runs")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 round, 11k examples, Keras spe 1 and 100, short children")
    p.add_argument("--out", help="JSON path (default logs/benchmarks/train_speed-<timestamp>.json)")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {"rounds": 1 if quick else 3, "batch_sizes": "50,256", "epochs_per_round": 1,
                "keras_spe": "100" if quick else "10,100,1000",
                "train_examples": 11000 if quick else None, "tta_max_epochs": 10,
                "rss_epochs": 1 if quick else None}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.tta_rounds is None:
        args.tta_rounds = args.rounds
    args.batch_sizes = [int(b) for b in str(args.batch_sizes).split(",") if b.strip()]
    args.keras_spe = [int(s) for s in str(args.keras_spe).split(",") if s.strip() and int(s) != 1]
    if args.rounds < 1 or args.epochs_per_round < 1 or not args.batch_sizes:
        p.error("--rounds, --epochs-per-round and --batch-sizes must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    began = time.perf_counter()
    now = datetime.datetime.now().astimezone()
    load_start = load_average()
    warnings.filterwarnings("ignore", module="keras")

    import numpy as np
    import tensorflow as tf
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras
    import lowtf as lt

    splits = lt.load_dataset("fashion_mnist", raw=True)
    x_uint8, y = splits.train.images, splits.train.labels.astype(np.int32)
    if args.train_examples:
        x_uint8, y = x_uint8[:args.train_examples], y[:args.train_examples]
    data = {"x_uint8": x_uint8, "y": y,
            "x_float": x_uint8.reshape(len(x_uint8), -1).astype(np.float32) / np.float32(255),
            "xv_uint8": splits.validation.images, "yv": splits.validation.labels.astype(np.int32)}
    data["xv_float"] = data["xv_uint8"].reshape(len(data["xv_uint8"]), -1).astype(np.float32) \
        / np.float32(255)
    # The full training split for time-to-accuracy, also when --train-examples trims it.
    full = dict(data, x_uint8=splits.train.images, y=splits.train.labels.astype(np.int32))
    full["x_float"] = full["x_uint8"].reshape(len(full["x_uint8"]), -1).astype(np.float32) \
        / np.float32(255)

    probe = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    probe.compile(optimizer="sgd", loss="mse")
    keras_auto_jit = bool(probe.jit_compile)

    variants = [lowtf_variant("lowtf (XLA auto)"),
                lowtf_variant("lowtf xla=False", xla=False),
                lowtf_variant("lowtf resident=False (tf.data)", resident=False),
                lowtf_variant("lowtf, loss-only NaN check", full_guard=False)]
    if bfloat16_kernels():
        variants.append(lowtf_variant(BF16, precision="mixed_bfloat16"))
    variants += [keras_variant(1)] + [keras_variant(s) for s in args.keras_spe]
    names = [name for name, _ in variants]
    raw = {str(b): {name: [] for name in names} for b in args.batch_sizes}

    print(f"train_speed: {args.rounds} round(s) x batch sizes {args.batch_sizes} x "
          f"{len(variants)} variants, {len(x_uint8):,} training examples", flush=True)
    probe = MatmulProbe(args.matmul_n, args.matmul_repeats)
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}", flush=True)
        for b in args.batch_sizes:
            for name, run in variants:
                probe.sample()
                cpu = time.process_time()
                res = run(data, b, args.epochs_per_round)
                res["cpu_seconds_total"] = time.process_time() - cpu
                gc.collect()  # drop the finished run's model, data copies and traces
                raw[str(b)][name].append(res)
                print(f"  B={b:<5} {name:<32} {res['samples_per_second']:>9,.0f} samples/s "
                      f"(warm-up epoch {res['warmup_seconds']:.1f}s)", flush=True)
    probe.sample()
    print("timing the step's matrix products alone (XLA and numpy)", flush=True)
    floors = {str(b): step_matmul_floor(b) for b in args.batch_sizes}

    fl = flops_per_sample()
    matmul = {name: summarize(rates) for name, rates in probe.rates.items()}
    bound_library = max(matmul, key=lambda name: matmul[name]["median"])
    peak = matmul[bound_library]["median"]
    matmul_cpu = {name: summarize(rates) for name, rates in probe.cpu_rates.items()}
    cpu_peak = matmul_cpu[bound_library]["median"]
    throughput, ratios, fractions, cpu_eff = {}, {}, {}, {}
    for b in args.batch_sizes:
        key = str(b)
        throughput[key] = {n: summarize([x["samples_per_second"] for x in raw[key][n]])
                           for n in names}
        cpu_eff[key] = {n: summarize([x.get("samples_per_cpu_second") for x in raw[key][n]])
                        for n in names}
        med = {n: throughput[key][n]["median"] for n in names}
        keras_names = [n for n in names if n.startswith("Keras")]
        best = max(keras_names, key=lambda n: med[n])
        cmed = {n: cpu_eff[key][n]["median"] for n in names}
        cbest = max(keras_names, key=lambda n: cmed[n])
        ratios[key] = {"keras_best_spe": int(best.split("=")[1]),
                       "keras_best_spe_cpu": int(cbest.split("=")[1]),
                       "cpu_lowtf_over_keras_spe1": cmed["lowtf (XLA auto)"] / cmed["Keras spe=1"],
                       "cpu_lowtf_over_keras_best": cmed["lowtf (XLA auto)"] / cmed[cbest],
                       "lowtf_over_keras_spe1": med["lowtf (XLA auto)"] / med["Keras spe=1"],
                       "lowtf_over_keras_best": med["lowtf (XLA auto)"] / med[best],
                       "lowtf_noxla_over_keras_best": med["lowtf xla=False"] / med[best],
                       "lowtf_tfdata_over_keras_best":
                           med["lowtf resident=False (tf.data)"] / med[best],
                       "lowtf_tfdata_over_resident":
                           med["lowtf resident=False (tf.data)"] / med["lowtf (XLA auto)"],
                       "lowtf_bf16_over_float32": med[BF16] / med["lowtf (XLA auto)"]
                       if BF16 in med else None,
                       "lowtf_over_loss_only_guard":
                           med["lowtf (XLA auto)"] / med["lowtf, loss-only NaN check"]}
        fractions[key] = {"exact": med["lowtf (XLA auto)"] * fl["exact"] / peak,
                          "three_x": med["lowtf (XLA auto)"] * fl["three_x"] / peak,
                          "cpu_exact": cmed["lowtf (XLA auto)"] * fl["exact"] / cpu_peak,
                          "cpu_three_x": cmed["lowtf (XLA auto)"] * fl["three_x"] / cpu_peak}

    result = {
        "date": now.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "lowtf": lt.__version__,
                     "keras_auto_jit_compile": keras_auto_jit},
        "config": {"rounds": args.rounds, "batch_sizes": args.batch_sizes,
                   "epochs_per_round": args.epochs_per_round, "keras_spe": [1] + args.keras_spe,
                   "train_examples": len(x_uint8), "quick": args.quick, "seed": SEED,
                   "learning_rate": LEARNING_RATE,
                   "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                   "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()},
        "variant_order": names,
        "throughput": throughput,
        "runs": raw,
        "cpu_efficiency": cpu_eff,
        "ratios": ratios,
        "compute_bound": {"matmul_n": args.matmul_n, "matmul_flops": matmul,
                          "matmul_flops_per_cpu_second": matmul_cpu, "cpu_peak": cpu_peak,
                          "bound_library": bound_library, "peak_flops": peak,
                          "flops_per_sample": fl,
                          "bound_exact": peak / fl["exact"],
                          "bound_three_x": peak / fl["three_x"],
                          "lowtf_fraction": fractions},
        "step_matmul_floor": floors,
    }

    if not args.skip_tta:
        spe_from = str(args.tta_batch_size) if str(args.tta_batch_size) in ratios \
            else str(args.batch_sizes[0])
        best_spe = ratios[spe_from]["keras_best_spe"]
        keras_name = f"Keras spe={best_spe} (best)"
        runs = {"lowtf (XLA auto)": [], keras_name: []}
        for r in range(args.tta_rounds):  # ABAB again
            print(f"time to {args.target_accuracy} validation accuracy, B={args.tta_batch_size}, "
                  f"round {r + 1}/{args.tta_rounds}", flush=True)
            runs["lowtf (XLA auto)"].append(time_to_accuracy_lowtf(
                full, args.tta_batch_size, args.target_accuracy, args.tta_max_epochs))
            gc.collect()
            runs[keras_name].append(time_to_accuracy_keras(
                full, args.tta_batch_size, args.target_accuracy, args.tta_max_epochs, best_spe))
            gc.collect()
        result["time_to_accuracy"] = {
            "target": args.target_accuracy, "batch_size": args.tta_batch_size,
            "max_epochs": args.tta_max_epochs, "rounds": args.tta_rounds,
            "keras_spe_from_batch_size": int(spe_from),
            "summary": {name: {"seconds": summarize([x["seconds"] for x in v]),
                               "epochs": [x["epochs"] for x in v],
                               "reached": all(x["reached"] for x in v)}
                        for name, v in runs.items()},
            "runs": runs}

    if not args.skip_memory:
        print("peak RSS children ...", flush=True)
        result["memory"] = measure_memory(args.rss_epochs, args.child_timeout)

    result["load_average"] = {"start": load_start, "end": load_average()}
    result["wall_seconds"] = time.perf_counter() - began
    result["benchmark_process_peak_rss_mib"] = \
        __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss / 1024

    text = report(result)
    print(text)
    out = Path(args.out) if args.out else \
        REPO / "logs" / "benchmarks" / f"train_speed-{now.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result["table"] = text
    with open(out, "w") as f:
        json.dump(result, f, indent=2, default=str)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
