#!/usr/bin/env python
"""Does `Trainer(xla=None)` pick the faster loop? Its throughput against xla=True and xla=False.

    .venv/bin/python benchmarks/xla_choice.py            # default: 3 rounds, ~7 min on 2 cores
    .venv/bin/python benchmarks/xla_choice.py --quick    # smoke run: 1 round on 3,000 examples

Two models, each with its experiment's settings, on the first `--train-examples` images of
the real Fashion-MNIST training split (uint8, resident): the reference MLP 784-300-100-10
(ReLU, SGD(0.01), batch 50) and the small CNN of experiments/custom_cnn.py (Adam(0.001),
batch 64). For each model three variants train: `xla=None` (the default: both loops are
timed on the first call and the faster is kept), `xla=True` and `xla=False` (forced).

A variant's run is a fresh `lt.Trainer` in a fresh process (no XLA compile cache or memory
carries over) and one `fit` of one warm-up epoch (tracing, compiling and, for xla=None, the
measurement) plus `--epochs` timed epochs; examples/s is the timed epochs' examples over
their wall time (the trainer's own `history["epoch_time"]`). Rounds run every variant once
in the same order (A B C A B C ...), so a noisy spell of the machine hits all of them; each
figure is the median over rounds with its min-max range. See benchmarks/README.md.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name: (batch size, what builds it, what trains it)
MODELS = {
    "mlp": {"batch_size": 50, "optimizer": "SGD(0.01)",
            "model": 'lt.dnn(784, (300, 100), 10, activation="relu", seed=42)'},
    "cnn": {"batch_size": 64, "optimizer": "Adam(0.001)",
            "model": "experiments/custom_cnn.py: cnn() (default args)"},
}
VARIANTS = (None, True, False)  # the order within a round: A B C
WITHIN = 0.90  # "never more than 10% slower than the better choice": rate ratio >= 0.90


def xla_name(xla):
    return {None: "None", True: "True", False: "False"}[xla]


def parse_xla(text):
    return {"none": None, "true": True, "false": False}[text.lower()]


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# ---- one variant, in its own process ----------------------------------------------------
def build_fn(model):
    """The function the Trainer calls to build the model (it builds it in its own scope)."""
    import lowtf as lt

    if model == "mlp":
        return lambda: lt.dnn(784, (300, 100), 10, activation="relu", seed=42)
    from lowtf.experiment import load_module

    return load_module(str(REPO / "experiments" / "custom_cnn.py")).cnn


def optimizer(model):
    import lowtf as lt

    return lt.optimizers.SGD(0.01) if model == "mlp" else lt.optimizers.Adam(0.001)


def run_one(model, xla, train_examples, epochs):
    """One variant: a fresh Trainer, one fit of 1 warm-up + `epochs` timed epochs."""
    import warnings

    import lowtf as lt
    from lowtf.machine import describe

    data = lt.load_dataset("fashion_mnist", raw=True)
    x, y = data.train.images[:train_examples], data.train.labels[:train_examples]
    batch_size = MODELS[model]["batch_size"]

    class EpochClock(lt.actions.Action):
        """Process CPU seconds (all threads) from each epoch's start to its end."""

        def __init__(self):
            super().__init__(name="epoch_clock")
            self.cpu = []

        def on_epoch_start(self, run):
            self._cpu = time.process_time()

        def on_epoch(self, run, logs):
            self.cpu.append(time.process_time() - self._cpu)

    start = time.perf_counter()
    trainer = lt.Trainer(build_fn(model), optimizer=optimizer(model), run_dir=None,
                         verbose=0, histograms=False, xla=xla)
    built = time.perf_counter()
    clock = EpochClock()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = trainer.fit((x, y), epochs=1 + epochs, batch_size=batch_size,
                              actions=[clock])
    fit_seconds = time.perf_counter() - built
    times, rates = history["epoch_time"], history["examples_per_second"]
    examples = [r * t for r, t in zip(rates, times)]
    timed_seconds, timed_examples = sum(times[1:]), sum(examples[1:])
    return {
        "model": model, "xla": xla, "batch_size": batch_size,
        "train_examples": len(x), "epochs_timed": epochs,
        "examples_per_second": timed_examples / timed_seconds,
        "examples_per_cpu_second": timed_examples / max(sum(clock.cpu[1:]), 1e-9),
        "epoch_examples_per_second": rates, "epoch_seconds": times,
        "epoch_cpu_seconds": clock.cpu,
        "warmup_seconds": times[0], "timed_seconds": timed_seconds,
        "trainer_seconds": built - start, "fit_seconds": fit_seconds,
        "decision": trainer.loop.xla, "traces": trainer.train_traces,
        "machine": describe(),
        "final_loss": history["loss"][-1], "warnings": [str(w.message) for w in caught],
    }


# ---- the rounds, in the parent ----------------------------------------------------------
def cpu_line():
    """The CPU and its cores, without TensorFlow (the parent never imports it)."""
    sys.path.insert(0, str(REPO))
    from lowtf.machine import cpu_model  # lowtf imports TensorFlow lazily

    return f"{cpu_model()[0]}, {os.cpu_count()} cores"


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_child(model, xla, args):
    """Runs one variant in a fresh process; its result dict, or {"error": ...}."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        argv = [sys.executable, str(Path(__file__).resolve()), "--one",
                f"{model}:{xla_name(xla)}", "--result", out,
                "--train-examples", str(args.train_examples), "--epochs", str(args.epochs)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO,
                                  env=child_env(), timeout=args.child_timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.child_timeout:.0f} s"}
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not os.path.exists(out):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
        with open(out) as f:
            result = json.load(f)
        result["process_seconds"] = wall
        return result


def summarize(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def analyse(runs, models):
    """Per model and variant: medians, ranges, ratios to the better forced choice.

    The better forced choice is the forced variant with the higher median, by wall time
    (`examples_per_second`) and separately by CPU time (`examples_per_cpu_second`, which
    other processes on the machine disturb much less).
    """
    summary = {}
    for model in models:
        mine = [r for r in runs if r["model"] == model]
        by_variant = {xla_name(x): [r for r in mine if r["xla"] == x] for x in VARIANTS}
        rows, best = {}, {}
        for key in ("examples_per_second", "examples_per_cpu_second"):
            medians = {v: summarize([r.get(key) for r in rs]) for v, rs in by_variant.items()}
            forced = {v: medians[v]["median"] for v in ("True", "False") if medians[v]}
            best[key] = max(forced, key=forced.get) if forced else None
            for v, rs in by_variant.items():
                row = rows.setdefault(v, {})
                row[key] = medians[v]
                row[f"{key}_ratio_to_best_forced"] = (
                    medians[v]["median"] / forced[best[key]] if medians[v] and forced else None)
                # The same ratio round by round (each round's variants ran back to back).
                per_round = []
                for rnd in sorted({r["round"] for r in rs}):
                    this = [r.get(key) for r in rs if r["round"] == rnd and r.get(key)]
                    others = [r.get(key) for r in mine if r["round"] == rnd
                              and r["xla"] is not None and r.get(key)]
                    if this and others:
                        per_round.append(this[0] / max(others))
                row[f"{key}_per_round_ratio_to_best_forced"] = summarize(per_round)
        for v, rs in by_variant.items():
            rows[v].update(warmup_seconds=summarize([r.get("warmup_seconds") for r in rs]),
                           decisions=[r.get("decision") for r in rs],
                           errors=[r["error"] for r in rs if "error" in r])
        chose = [d["xla"] for d in rows["None"]["decisions"] if d]
        wall = rows["None"]["examples_per_second_ratio_to_best_forced"]
        cpu = rows["None"]["examples_per_cpu_second_ratio_to_best_forced"]
        summary[model] = {
            "best_forced": {k: None if b is None else f"xla={b}" for k, b in best.items()},
            "default_chose_the_better_forced_loop": {
                k: None if b is None else sum(c == (b == "True") for c in chose)
                for k, b in best.items()},
            "rounds_decided": len(chose),
            "default_within_10_percent": None if wall is None else wall >= WITHIN,
            "default_within_10_percent_per_cpu_second": None if cpu is None else cpu >= WITHIN,
            "variants": rows}
    return summary


def fmt_decision(d):
    if not d:
        return "?"
    if d.get("why") == "measured":
        ms = d["ms_per_step"]
        return f"{'XLA' if d['xla'] else 'graph'} ({ms['xla']:.1f}/{ms['graph']:.1f} ms)"
    return f"{'XLA' if d['xla'] else 'graph'} ({d.get('why')})"


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def report(result):
    print()
    print(f"machine: {result['machine']}")
    print(f"load average: start {result['load_average_start']}, "
          f"end {result['load_average_end']}")
    s = result["settings"]
    print(f"{s['rounds']} round(s), {s['train_examples']} training examples, "
          f"1 warm-up + {s['epochs']} timed epoch(s); medians over rounds [min-max]; "
          "ratios: to the better forced choice's median (per-round: median of each round's "
          "ratio to that round's faster forced run)")
    for model, summ in result["summary"].items():
        spec = MODELS[model]
        best = summ["best_forced"]
        print(f"\n{model}: {spec['model']}, {spec['optimizer']}, batch {spec['batch_size']}; "
              f"better forced choice: {best['examples_per_second']} by wall time, "
              f"{best['examples_per_cpu_second']} per CPU-second")
        print(f"  {'variant':<10} {'examples/s':>10} {'[min-max]':>17} {'ratio':>6} "
              f"{'per-round':>9} {'ex/CPU-s':>9} {'ratio':>6} {'warm-up s':>9} "
              f"{'[min-max]':>11}  xla=None chose (ms/step xla/graph)")
        for v, row in summ["variants"].items():
            rate, warm, cpu = (row["examples_per_second"], row["warmup_seconds"],
                               row["examples_per_cpu_second"])
            if rate is None:
                print(f"  xla={v:<6} failed: {row['errors'][:1]}")
                continue
            per_round = row["examples_per_second_per_round_ratio_to_best_forced"]
            choices = ", ".join(fmt_decision(d) for d in row["decisions"]) if v == "None" else ""
            print(f"  xla={v:<6} {rate['median']:>10,.0f} "
                  f"{rate['min']:>8,.0f}-{rate['max']:<8,.0f} "
                  f"{fmt(row['examples_per_second_ratio_to_best_forced'], '.2f'):>6} "
                  f"{fmt(per_round and per_round['median'], '.2f'):>9} "
                  f"{fmt(cpu and cpu['median'], ',.0f'):>9} "
                  f"{fmt(row['examples_per_cpu_second_ratio_to_best_forced'], '.2f'):>6} "
                  f"{warm['median']:>9.1f} {warm['min']:>5.1f}-{warm['max']:<5.1f}  {choices}")
        within, within_cpu = (summ["default_within_10_percent"],
                              summ["default_within_10_percent_per_cpu_second"])
        chose, n = summ["default_chose_the_better_forced_loop"], summ["rounds_decided"]
        yes = {None: "?", True: "yes", False: "NO"}
        print(f"  default within 10% of the better forced choice: {yes[within]} by wall time, "
              f"{yes[within_cpu]} per CPU-second; it chose that loop in "
              f"{chose['examples_per_second']}/{n} rounds (by wall time), "
              f"{chose['examples_per_cpu_second']}/{n} (per CPU-second)")
    print(f"\nraw numbers: {result['out']}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, help="A B C rounds (default 3; --quick 1)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs after the warm-up one")
    p.add_argument("--train-examples", type=int,
                   help="first N training examples (default 11000; --quick 3000)")
    p.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    p.add_argument("--child-timeout", type=float, default=1800,
                   help="seconds per variant's process")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 round on 3000 examples (explicit flags win)")
    p.add_argument("--out", help="JSON path (default logs/benchmarks/xla_choice-<timestamp>.json)")
    p.add_argument("--one", help=argparse.SUPPRESS)     # MODEL:XLA, run by the parent
    p.add_argument("--result", help=argparse.SUPPRESS)  # where --one writes its JSON
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.train_examples is None:
        args.train_examples = 3000 if args.quick else 11000
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or args.rounds < 1 or args.epochs < 1 or args.train_examples < 1:
        p.error(f"bad settings (unknown models {unknown}?)")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.one:
        model, xla = args.one.split(":")
        result = run_one(model, parse_xla(xla), args.train_examples, args.epochs)
        with open(args.result, "w") as f:
            json.dump(result, f, indent=2, default=str)
        return 0

    now = datetime.datetime.now()
    out = Path(args.out) if args.out else (
        REPO / "logs" / "benchmarks" / f"xla_choice-{now.strftime('%Y%m%d-%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    load_start = load_average()
    print(f"CPU: {cpu_line()}")
    print(f"load average at start: {load_start}", flush=True)
    runs = []
    for rnd in range(args.rounds):
        for model in args.models:
            for xla in VARIANTS:
                r = run_child(model, xla, args)
                r.update(round=rnd, model=model, xla=xla)
                runs.append(r)
                if "error" in r:
                    print(f"round {rnd + 1}: {model} xla={xla_name(xla)}: FAILED {r['error']}",
                          flush=True)
                    continue
                print(f"round {rnd + 1}: {model} xla={xla_name(xla):<5} "
                      f"{r['examples_per_second']:>8,.0f} examples/s, "
                      f"warm-up {r['warmup_seconds']:.1f} s, "
                      f"{fmt_decision(r['decision'])}, load {load_average()}", flush=True)
    machines = sorted({r["machine"] for r in runs if "machine" in r})
    machine = " / ".join(machines) or cpu_line()  # describe() in each variant's process
    result = {
        "date": now.isoformat(timespec="seconds"), "machine": machine,
        "load_average_start": load_start, "load_average_end": load_average(),
        "command": " ".join([os.path.relpath(sys.executable, REPO)
                             if sys.executable.startswith(str(REPO)) else sys.executable,
                             "benchmarks/xla_choice.py", *(sys.argv[1:] if argv is None
                                                           else argv)]),
        "settings": {"rounds": args.rounds, "epochs": args.epochs,
                     "train_examples": args.train_examples, "models": args.models,
                     "variants": [xla_name(x) for x in VARIANTS]},
        "models": {m: MODELS[m] for m in args.models},
        "summary": analyse(runs, args.models), "runs": runs, "out": str(out),
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=2, default=str)
    report(result)
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
