"""Running a sweep: each unfinished trial trained as an ordinary run (one after another,
or in `parallel` spawned processes sharing out the CPU cores), its end recorded in
`<trial>/sweep_trial.json`, and the table of every trial (`trial_row`) ranked at the end.

A failed trial is recorded and the sweep goes on; a finished trial whose settings changed
since it ran is continued.
"""

import dataclasses
import multiprocessing
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed

from lowtf import history as run_history
from lowtf.experiment import Experiment, file_modules, reload_file_modules, run_experiment
from lowtf.run_config import differences
from lowtf.run_dir import RunDir
from lowtf.sweep.description import write_description
from lowtf.sweep.jsonio import _jsonable
from lowtf.sweep.results import SweepResult
from lowtf.sweep.space import DASHBOARD_NAMES, dashboard_value

# Experiment fields that do not change what a trial learns.
# Not settings of the training: where things go, how fast, what is drawn, and the actions
# (code, compared by nobody: a sweep's trials each get a fresh copy of them).
_COMPARED_AWAY = ("name", "run_dir", "data_dir", "xla", "resident", "image_summaries", "actions")


def _changed_settings(trial, results):
    """What differs between the trial and the experiment its results.json records.

    A field the record does not have (added to `Experiment` since) counts only when the
    trial sets it to something other than its default.
    """
    stored = (results or {}).get("experiment") or {}
    # As results.json records it: a schedule by its config, a model builder by its name.
    now = _jsonable(trial.experiment.as_record())
    defaults = _jsonable({f.name: f.default for f in dataclasses.fields(Experiment)})
    return differences({k: v for k, v in stored.items() if k in now}, now,
                       ignore=_COMPARED_AWAY, defaults=defaults)


def _first_line(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text.split('; ')[0]}"


def run_trial(trial, verbose=0):
    """Trains one trial (resuming it if it was interrupted) and records how it ended.

    Errors other than an interrupt are caught: the trial is recorded as failed (with the
    traceback in `<trial>/error.txt`) so the rest of the sweep goes on.
    """
    os.makedirs(trial.run_dir, exist_ok=True)
    start = time.perf_counter()
    try:
        run_experiment(trial.experiment, verbose=verbose, hparams=trial.hparams,
                       trial_id=trial.id, show_test=False)
        status = {"status": "finished"}
    except Exception as e:  # noqa: BLE001 - one failed trial must not end the sweep
        RunDir(trial.run_dir).write_trial_error(traceback.format_exc())
        status = {"status": "failed", "error": _first_line(e)}
    status["seconds"] = time.perf_counter() - start
    RunDir(trial.run_dir).write_trial_status(status)
    return trial_row(trial, status)


def trial_row(trial, status=None):
    """What a trial's folder says about it: status, metrics, checkpoint (one table row)."""
    values = {DASHBOARD_NAMES.get(k, k): dashboard_value(v) for k, v in trial.params.items()}
    return folder_row(trial.id, trial.run_dir, values, trial.hparams.get("n_params"), status)


def folder_row(trial_id, run_dir, values, n_params=None, status=None):
    """The table row of the trial `trial_id` in `run_dir`, read from its files; `values`
    are its swept values as the table names them (`{"layers": "300-100"}`)."""
    folder = RunDir(run_dir)
    status = status or folder.read_trial_status() or {}
    results = folder.read_results()
    history = run_history.load(run_dir)[0] or {}
    row = {"trial": trial_id, **values}
    if status.get("status") == "failed":
        row["status"] = "failed"
    elif results is not None:
        row["status"] = "finished"  # without sweep_trial.json: its summaries are not written yet
    elif os.path.isdir(folder.checkpoints) and history:
        row["status"] = "interrupted"
    else:
        row["status"] = "pending"
    val_acc = [v for v in history.get("val_accuracy", []) if v == v]
    best = run_history.best_values(history)
    row.update(
        epochs=len(history.get("loss", [])),
        step=(history.get("step") or [0])[-1],
        best_val_accuracy=best.get("best_val_accuracy"),
        best_val_loss=best.get("best_val_loss"),
        final_val_accuracy=val_acc[-1] if val_acc else None,
        n_params=n_params)
    if results is not None:
        for key, value in results.get("test", {}).items():
            row[f"test_{key}"] = value
        row.update(train_seconds=results.get("train_seconds"),
                   examples_per_second=results.get("examples_per_second_median"),
                   checkpoint=results.get("checkpoint"))
    row["run_dir"] = run_dir
    if status.get("error"):
        row["error"] = status["error"]
    return row


def _init_worker(threads, modules):
    import tensorflow as tf  # quietly: importing lowtf armed lowtf.tf_chatter

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started in this process
        pass
    reload_file_modules(modules)  # before the trials, which may name their functions


def available_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _describe(row):
    if row["status"] == "failed":
        return f"failed: {row.get('error', '?')}"
    parts = []
    if row.get("best_val_accuracy") is not None:
        parts.append(f"best val acc {row['best_val_accuracy']:.4f}")
    parts.append(f"{row['epochs']} epochs")
    if row.get("train_seconds") is not None:
        parts.append(f"{row['train_seconds']:.0f}s")
    return ", ".join(parts)


def run_sweep(sweep, parallel=1, verbose=1, retry_failed=False, train=True):
    """Runs the sweep's trials that are not finished and returns the ranked results.

    Args:
        sweep: a `Sweep`.
        parallel: trials trained at once, each in its own process (capped at the CPU
            cores available; the cores are shared out among them).
        verbose: 0 silent, 1 a line per trial and the final table, 2 also each trial's
            training log (one trial at a time only).
        retry_failed: run trials again that failed before (e.g. after a fix).
        train: False only reports what is on disk.

    Returns:
        A `SweepResult`; also written to `<root>/results.csv` and `<root>/results.json`.
    """
    trials = sweep.trials()
    if train:
        write_description(sweep, trials)
    say = print if verbose else (lambda *a, **k: None)
    pending = []
    for i, trial in enumerate(trials, 1):
        row = trial_row(trial)
        status = row["status"]
        tag = f"[{i}/{len(trials)}] {trial.id}"
        if status == "finished":
            changed = _changed_settings(trial, RunDir(trial.run_dir).read_results())
            if changed:
                say(f"{tag}: settings changed since it ran ("
                    + "; ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
                    + "); continuing it")
                pending.append((i, trial))
            elif not os.path.exists(RunDir(trial.run_dir).trial_status) and train:
                row = record_finished(trial)
                say(f"{tag}: already trained; {_describe(row)}")
            else:
                say(f"{tag}: already finished; {_describe(row)}")
        elif status == "failed" and not retry_failed:
            say(f"{tag}: failed before ({row.get('error', '?')}); retry with retry_failed=True "
                "(--retry-failed)")
        else:
            pending.append((i, trial))
    if train and pending:
        cores = available_cores()
        workers = max(1, min(int(parallel), cores, len(pending)))
        if parallel > workers and parallel > cores:
            say(f"{sweep.name}: {parallel} parallel trials requested but {cores} cores "
                f"available; running {workers} at a time")
        if workers == 1:
            for i, trial in pending:
                resuming = trial_row(trial)["status"] in ("interrupted", "finished")
                say(f"[{i}/{len(trials)}] {trial.id}: "
                    f"{'resuming from its checkpoint' if resuming else 'training'}", flush=True)
                row = run_trial(trial, verbose=1 if verbose >= 2 else 0)
                say(f"[{i}/{len(trials)}] {trial.id}: {_describe(row)}", flush=True)
        else:
            _run_parallel(sweep, trials, pending, workers, cores, say)
    result = SweepResult(sweep, [trial_row(t) for t in trials])
    if train or os.path.isdir(sweep.root):
        result.save()
    if verbose:
        print(result.report(), flush=True)
    return result


def record_finished(trial):
    """For a trial trained but not yet recorded as finished (the sweep stopped in between)."""
    status = {"status": "finished"}
    RunDir(trial.run_dir).write_trial_status(status)
    return trial_row(trial, status)


def _run_parallel(sweep, trials, pending, workers, cores, say):
    threads = max(1, cores // workers)
    say(f"{sweep.name}: {len(pending)} trials, {workers} at a time in separate processes "
        f"({threads} TensorFlow thread{'s' if threads > 1 else ''} each)", flush=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(threads, file_modules())) as pool:
        futures = {pool.submit(run_trial, trial, 0): (i, trial) for i, trial in pending}
        try:
            for future in as_completed(futures):
                i, trial = futures[future]
                row = future.result()
                say(f"[{i}/{len(trials)}] {trial.id}: {_describe(row)}", flush=True)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
