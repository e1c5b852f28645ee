"""Sweeps: one experiment run many times over a grid or a random sample of its settings.

    import lowtf as lt
    sweep = lt.sweep.Sweep("lr", base=lt.Experiment(epochs=5, patience=None),
                     grid={"learning_rate": [0.003, 0.01, 0.03]})
    result = lt.sweep.run_sweep(sweep)        # trials in logs/lr/<trial>/, ranked in logs/lr/results.csv
    result.best["checkpoint"]           # the best trial's best checkpoint

Each trial is an ordinary run (`run_experiment`) in `logs/<sweep>/<trial>`, named after
the values it tries (`lr=0.01`, `h=300-100,opt=adam`). Besides the Experiment's fields
(also l2, ema, accumulate, precision), a sweep varies one keyword of the model builder or
the optimizer as `model_args.<key>` / `optimizer_args.<key>` (trials `dropout=0.3`), and
learning-rate schedules (`lr=CosineDecay`, or the `"label"` of a schedule's config dict). On TensorBoard's HParams
dashboard each trial is a row like any run's (the Trainer writes its values, its best
validation metrics and whether it finished; the trial's name is its id), so
`tensorboard --logdir logs` shows one table over sweeps and single runs alike, and
`--logdir logs/<sweep>` the table, parallel-coordinates and scatter views of one sweep.

Trials are ranked on validation (`rank_by`); the table shows no test figures, and the
chosen trial's are `result.test_report()` (`lowtf sweep ... --test`).
`report_sweep_dir("logs/<sweep>")` ranks a sweep again from its folder alone.

A sweep resumes: finished trials are skipped, an interrupted one continues from its
latest checkpoint (the Trainer resumes it), a failed one is kept as failed unless
`retry_failed=True`. Trials run one after another, or in `parallel` processes.

The package, one job a module:

    space       what may vary: parameters, aliases, LogUniform/Uniform, trial names
    definition  Sweep and its Trials; load_target/load_sweep from experiments/
    running     run_sweep/run_trial: training the trials, one by one or in processes
    description sweep.json: the sweep's settings and trials
    results     SweepResult (ranked table, results.csv/.json) and read_results
    ondisk      report_sweep_dir: a sweep ranked again from its directory alone
    jsonio      JSON helpers the others share

The names of the files in a sweep directory and its trials are `lowtf.run_dir`'s.
"""

from lowtf.sweep.definition import Sweep, Trial, load_sweep, load_target
from lowtf.sweep.ondisk import report_sweep_dir
from lowtf.sweep.results import RANK_BY, SweepResult, read_results
from lowtf.sweep.running import run_sweep, run_trial, trial_row
from lowtf.sweep.space import PARAMS, LogUniform, Uniform, normalize, trial_name

__all__ = ["PARAMS", "RANK_BY", "LogUniform", "Sweep", "SweepResult", "Trial", "Uniform",
           "load_sweep", "load_target", "normalize", "read_results", "report_sweep_dir",
           "run_sweep", "run_trial", "trial_name", "trial_row"]
