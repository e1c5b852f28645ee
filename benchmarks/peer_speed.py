#!/usr/bin/env python
"""lowtf's training speed against JAX and PyTorch (and Keras) on the same network, data,
initial weights and optimizer, each framework in its own process.

    make benchmark-peers                                   # creates .venv-peers, ~6 minutes on 2 cores
    .venv/bin/python benchmarks/peer_speed.py --quick      # 1 round on 11,000 examples

lowtf's own loader reads the Fashion-MNIST training split and lowtf's initialiser draws the
reference 784-300-100-10 ReLU MLP (`lt.dnn(seed=42)`); both go to one temporary .npz that
every worker reads, so all train the same network from the same start on the same data.
Each round starts every variant once, in the same order, as a fresh process (lowtf and
Keras in this Python, JAX and PyTorch in `.venv-peers`): one warm-up epoch, then
`--epochs-per-round` timed epochs of plain SGD(0.01) on sparse softmax cross-entropy,
shuffled each epoch. The driver then computes each variant's training loss from its final
weights with numpy, one formula for all, and warns when a peer's differs from lowtf's.
See benchmarks/README.md.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lowtf as lt  # first: it keeps TensorFlow's start-up chatter quiet
import numpy as np

BENCH = Path(__file__).resolve().parent
REPO, PEERS = BENCH.parent, BENCH / "peers"
sys.path[:0] = [str(BENCH), str(PEERS)]
import train_speed  # noqa: E402  (machine facts, the seed and learning rate, formatting)
import worker  # noqa: E402  (the data file's layout and the workers' result line)

LOWTF, JAX, EAGER, COMPILED = "lowtf (XLA auto)", "JAX jit+scan", "PyTorch eager", "torch.compile"
PEER_RATIOS = (("lowtf / JAX", JAX), ("lowtf / PyTorch eager", EAGER),
               ("lowtf / torch.compile", COMPILED))
LOWTF_NAMES = [f"dnn/{layer}/{kind}" for layer in ("hidden1", "hidden2", "outputs")
               for kind in ("kernel", "bias")]
DEFAULT_PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"


# ---- the shared data file -----------------------------------------------------------------
def training_data(train_examples=None, data_dir=None):
    """The Fashion-MNIST training split as lowtf loads it: uint8 [N, 784], int32 labels."""
    train = lt.load_dataset("fashion_mnist", data_dir=data_dir, raw=True).train
    x, y = train.images.reshape(len(train.images), -1), train.labels.astype(np.int32)
    return (x[:train_examples], y[:train_examples]) if train_examples else (x, y)


def initial_weights(seed=train_speed.SEED):
    """lowtf's initial weights of the reference network, `[kernel1, bias1, ...]`."""
    weights = lt.dnn(seed=seed).get_weights()
    return [weights[name] for name in LOWTF_NAMES]


def write_data(path, x, y, weights):
    np.savez(path, x=x, y=y, **dict(zip(worker.WEIGHT_NAMES, weights)))


def training_loss(weights, x, y, chunk=5000):
    """Mean sparse softmax cross-entropy of the network `weights` on uint8 `x`, in float64:
    the one formula that checks every framework's final weights."""
    total = 0.0
    for start in range(0, len(x), chunk):
        h = x[start:start + chunk].astype(np.float64) / 255.0
        for i in range(0, len(weights), 2):
            h = h @ weights[i].astype(np.float64) + weights[i + 1]
            if i + 2 < len(weights):
                h = np.maximum(h, 0.0)
        h -= h.max(axis=1, keepdims=True)
        logp = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
        total -= logp[np.arange(len(logp)), y[start:start + chunk]].sum()
    return total / len(x)


# ---- the variants and their processes -----------------------------------------------------
def variants(keras_spe, peers_python):
    """`[(name, argv without the data options)]` in the order each round runs them."""
    tf_worker = [sys.executable, str(PEERS / "tf_mlp.py")]
    out = [(LOWTF, tf_worker + ["--framework", "lowtf"])]
    out += [(f"Keras spe={s}", tf_worker + ["--framework", "keras", "--steps-per-execution", str(s)])
            for s in keras_spe]
    if peers_python:
        torch_worker = [str(peers_python), str(PEERS / "torch_mlp.py")]
        out += [(JAX, [str(peers_python), str(PEERS / "jax_mlp.py")]),
                (EAGER, torch_worker + ["--compile", "none"]),
                (COMPILED, torch_worker + ["--compile", "default"])]
    return out


def run_worker(argv, timeout):
    """Runs one worker; its result dict, or `{"error": ...}` when it gave none."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(worker.RESULT_PREFIX):
            return json.loads(line[len(worker.RESULT_PREFIX):])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"error": f"exit {proc.returncode}: {tail[-500:]}"}


def run_variant(argv, data_path, batch_size, epochs, seed, x, y, timeout):
    """One fresh process of a variant, and the numpy training loss of its final weights."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "weights.npz")
        result = run_worker(argv + ["--data", str(data_path), "--batch-size", str(batch_size),
                                    "--epochs", str(epochs), "--seed", str(seed),
                                    "--weights-out", out], timeout)
        if "error" not in result:
            with np.load(out) as f:
                result["final_loss"] = training_loss([f[n] for n in worker.WEIGHT_NAMES], x, y)
    return result


# ---- figures --------------------------------------------------------------------------------
def median(values):
    return train_speed.summarize(values)["median"]


def analyse(runs, names, tolerance):
    """Per batch size: throughput summaries, the ratios of lowtf's median to each peer's,
    median final losses, and the warnings of losses more than `tolerance` from lowtf's."""
    out = {"throughput": {}, "cpu_efficiency": {}, "ratios": {}, "losses": {}, "warnings": []}
    for b, by_name in runs.items():
        ok = {n: [r for r in by_name[n] if "error" not in r] for n in names}
        out["throughput"][b] = {n: train_speed.summarize([r["samples_per_second"] for r in ok[n]])
                                for n in names}
        out["cpu_efficiency"][b] = {n: median([r["samples_per_cpu_second"] for r in ok[n]])
                                    for n in names}
        med = {n: out["throughput"][b][n]["median"] for n in names}
        ratio = lambda n: med[LOWTF] / med[n] if med.get(LOWTF) and med.get(n) else None
        ratios = {label: ratio(n) for label, n in PEER_RATIOS}
        keras = [n for n in names if n.startswith("Keras") and med[n]]
        best = max(keras, key=lambda n: med[n]) if keras else None
        ratios["lowtf / Keras best"] = ratio(best) if best else None
        ratios["keras_best"] = best
        out["ratios"][b] = ratios
        losses = {n: {"final": median([r["final_loss"] for r in ok[n]]),
                      "epoch": median([r["epoch_loss"] for r in ok[n]])} for n in names}
        out["losses"][b] = losses
        reference = losses.get(LOWTF, {}).get("final")
        for n in names:
            loss = losses[n]["final"]
            if reference and loss is not None and n != LOWTF:
                losses[n]["relative_to_lowtf"] = loss / reference - 1
                if abs(loss / reference - 1) > tolerance:
                    out["warnings"].append(
                        f"B={b}: {n}'s final training loss {loss:.4f} differs from lowtf's "
                        f"{reference:.4f} by {100 * (loss / reference - 1):+.1f}% (more than "
                        f"{100 * tolerance:.0f}%): it may not train the same network (shuffling alone "
                        f"moves one round's loss by up to ~6% at B=50)")
    return out


def errors(runs):
    """`{variant: first error}` of the variants that failed in some run."""
    found = {}
    for by_name in runs.values():
        for n, results in by_name.items():
            for r in results:
                if "error" in r:
                    found.setdefault(n, r["error"])
    return found


def versions(runs):
    """Every framework's version, as its workers reported it."""
    found = {}
    for by_name in runs.values():
        for results in by_name.values():
            for r in results:
                if "framework" in r and "version" in r:
                    found[r["framework"]] = r["version"]
                for key in ("jaxlib", "tensorflow"):
                    if key in r:
                        found[key] = r[key]
                if "numpy" in r and r.get("framework") in ("jax", "torch"):
                    found["numpy (peers)"] = r["numpy"]
    return found


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def report(result):
    m, cfg = result["machine"], result["config"]
    bss = [str(b) for b in cfg["batch_sizes"]]
    width, col = 24, 30
    head = lambda title: [title, f"  {'':<{width}}" + "".join(f"{'B=' + b:>{col}}" for b in bss)]
    row = lambda name, cells: f"  {name:<{width}}" + "".join(f"{c:>{col}}" for c in cells)
    out = ["=" * 86, f"lowtf against JAX and PyTorch   {result['date']}",
           f"machine   {m['cpu_model']}, {m['cpu_count']} cores ({m['usable_cores']} usable), "
           f"TensorFlow oneDNN {'on' if m.get('onednn') else 'off'}; python {m['python']}",
           "versions  " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
           f"load avg  start {result['load_average']['start']}  end "
           f"{result['load_average']['end']}  (other processes skew every figure)",
           f"setup     784-300-100-10 ReLU MLP, lowtf's initial weights (seed "
           f"{train_speed.SEED}), SGD(lr {train_speed.LEARNING_RATE}), Fashion-MNIST train "
           f"{cfg['train_examples']:,} examples; {cfg['rounds']} round(s); per process 1 "
           f"warm-up + {cfg['epochs_per_round']} timed epoch(s); wall {result['wall_seconds']:.0f}s",
           ""]
    out += head("Training throughput, samples/second: median over rounds [min-max]")
    for n in result["variant_order"]:
        out.append(row(n, [train_speed.fmt_rate(result["throughput"][b][n]) for b in bss]))
    out += [""] + head("Samples per CPU-second (all threads of the process), median")
    for n in result["variant_order"]:
        out.append(row(n, [fmt(result["cpu_efficiency"][b][n], ",.0f") for b in bss]))
    out += [""] + head("Ratios of median samples/s (above 1: lowtf is faster)")
    for label in [label for label, _ in PEER_RATIOS] + ["lowtf / Keras best"]:
        cells = []
        for b in bss:
            r = result["ratios"][b]
            cell = fmt(r[label], ".2f") + "x" if r[label] else "-"
            if label == "lowtf / Keras best" and r["keras_best"]:
                cell += f" ({r['keras_best'].split(' ')[1]})"
            cells.append(cell)
        out.append(row(label, cells))
    out += [""] + head(f"Training loss after the run: numpy on the final weights | the framework's "
                       f"own last-epoch mean (initial {result['initial_loss']:.4f})")
    for n in result["variant_order"]:
        cells = []
        for b in bss:
            loss = result["losses"][b][n]
            rel = loss.get("relative_to_lowtf")
            cells.append(f"{fmt(loss['final'], '.4f')}{'' if rel is None else f' ({rel:+.1%})'}"
                         f" | {fmt(loss['epoch'], '.4f')}")
        out.append(row(n, cells))
    for n, error in result["errors"].items():
        out.append(f"  FAILED {n}: {error}")
    for w in result["warnings"]:
        out.append(f"  !!! WARNING: {w}")
    if result.get("peers_missing"):
        out.append(f"  {result['peers_missing']}")
    out.append("=" * 86)
    return "\n".join(out)


# ---- the run ----------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, help="rounds of every variant (default 3)")
    p.add_argument("--batch-sizes", default="50,256")
    p.add_argument("--epochs-per-round", type=int, default=1,
                   help="timed epochs after the warm-up epoch, per process")
    p.add_argument("--train-examples", type=int, help="first N training examples (default all)")
    p.add_argument("--keras-spe", default="100,1000",
                   help="Keras steps_per_execution values; the best median is Keras's figure")
    p.add_argument("--quick", action="store_true", help="1 round on 11,000 examples")
    p.add_argument("--peers-python", default=str(DEFAULT_PEERS_PYTHON),
                   help="the Python with JAX and PyTorch (made by `make benchmark-peers`)")
    p.add_argument("--loss-tolerance", type=float, default=0.05,
                   help="relative difference of a peer's final loss from lowtf's that is warned of")
    p.add_argument("--child-timeout", type=float, default=600, help="seconds per worker process")
    p.add_argument("--data-dir", help="Fashion-MNIST folder (default: where lowtf finds it)")
    p.add_argument("--out", help="JSON path (default logs/benchmarks/peer_speed-<timestamp>.json)")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.quick and args.train_examples is None:
        args.train_examples = 11000
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    args.keras_spe = [int(s) for s in args.keras_spe.split(",") if s.strip()]
    if args.rounds < 1 or args.epochs_per_round < 1 or not args.batch_sizes:
        p.error("--rounds, --epochs-per-round and --batch-sizes must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    began, now = time.perf_counter(), datetime.datetime.now().astimezone()
    load_start = train_speed.load_average()
    peers_python, missing = Path(args.peers_python), None
    if not peers_python.exists():
        missing = (f"peer_speed: no JAX/PyTorch environment at {peers_python}: run `make "
                   f"benchmark-peers` to create it; running lowtf and Keras only")
        print(missing, flush=True)
        peers_python = None
    x, y = training_data(args.train_examples, args.data_dir)
    weights = initial_weights()
    todo = variants(args.keras_spe, peers_python)
    names = [n for n, _ in todo]
    runs = {str(b): {n: [] for n in names} for b in args.batch_sizes}
    print(f"peer_speed: {args.rounds} round(s) x batch sizes {args.batch_sizes} x {len(todo)} "
          f"variants, {len(x):,} training examples, each run in its own process", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "data.npz"
        write_data(data_path, x, y, weights)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            for b in args.batch_sizes:
                for name, argv in todo:
                    res = run_variant(argv, data_path, b, args.epochs_per_round, r, x, y,
                                      args.child_timeout)
                    runs[str(b)][name].append(res)
                    print(f"  B={b:<4} {name:<18} " + (
                        f"FAILED: {res['error'][:200]}" if "error" in res else
                        f"{res['samples_per_second']:>9,.0f} samples/s, loss "
                        f"{res['final_loss']:.4f} (warm-up {res['warmup_seconds']:.1f}s)"),
                        flush=True)
    import keras
    import tensorflow as tf
    result = {"date": now.isoformat(timespec="seconds"), "machine": train_speed.machine_info(),
              "versions": dict({"lowtf": lt.__version__, "tensorflow": tf.__version__,
                                "keras": keras.__version__, "numpy": np.__version__},
                               **versions(runs)),
              "config": {"rounds": args.rounds, "batch_sizes": args.batch_sizes,
                         "epochs_per_round": args.epochs_per_round, "train_examples": len(x),
                         "keras_spe": args.keras_spe, "quick": args.quick,
                         "peers_python": str(peers_python) if peers_python else None,
                         "loss_tolerance": args.loss_tolerance},
              "variant_order": names, "initial_loss": training_loss(weights, x, y),
              "runs": runs, "errors": errors(runs), "peers_missing": missing}
    result.update(analyse(runs, names, args.loss_tolerance))
    result["load_average"] = {"start": load_start, "end": train_speed.load_average()}
    result["wall_seconds"] = time.perf_counter() - began
    result["table"] = text = report(result)
    print(text)
    out = Path(args.out) if args.out else \
        REPO / "logs" / "benchmarks" / f"peer_speed-{now.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
