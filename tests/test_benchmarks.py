"""The benchmark's FLOP accounting: the products it times are the work the bound counts."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import train_speed  # noqa: E402


def test_flops_per_sample_of_the_reference_network():
    fl = train_speed.flops_per_sample()
    assert fl["forward"] == 2 * (784 * 300 + 300 * 100 + 100 * 10) == 532_400
    assert fl["exact"] == 1_126_800 and fl["three_x"] == 1_597_200


@pytest.mark.parametrize("batch_size", [1, 50, 256])
def test_the_timed_products_are_exactly_the_counted_flops(batch_size):
    dots = train_speed.step_matmuls(batch_size)
    assert [d[0] for d in dots] == ["fwd1", "wgrad1", "fwd2", "wgrad2", "igrad2",
                                    "fwd3", "wgrad3", "igrad3"]
    total = sum(train_speed.dot_flops(*d[1:]) for d in dots)
    assert total == batch_size * train_speed.flops_per_sample()["exact"]


def test_step_matmul_floor_times_every_product_with_every_kernel_family():
    floor = train_speed.step_matmul_floor(8, rounds=1, flop_budget=2e6)
    assert set(floor["dots"]) == {d[0] for d in train_speed.step_matmuls(8)}
    for lib in ("xla", "graph", "numpy"):
        seconds = floor["step_seconds"][lib]
        assert seconds == pytest.approx(sum(d[f"{lib}_seconds"] for d in floor["dots"].values()))
        assert floor["ceiling_samples_per_second"][lib] == pytest.approx(8 / seconds)


def test_the_loss_only_variant_checks_the_loss_alone():
    """The benchmark times the full NaN guard against this older, weaker check."""
    import numpy as np
    import tensorflow as tf

    import lowtf as lt

    variable = tf.Variable([1.0, 2.0])
    optimizer = lt.optimizers.SGD(1.0)
    optimizer.build([variable])
    gradient = tf.constant([np.nan, 1.0])
    assert not bool(optimizer.apply([gradient], [variable], if_finite=tf.constant(True)))
    train_speed.loss_only_guard(optimizer)
    assert not bool(optimizer.apply([gradient], [variable], if_finite=tf.constant(False)))
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])
    assert bool(optimizer.apply([gradient], [variable], if_finite=tf.constant(True)))
    assert np.isnan(variable.numpy()[0])


def test_xla_choice_benchmark_runs_every_variant(tmp_path):
    """benchmarks/xla_choice.py --quick at its smallest: each variant trains in its own
    process, and the JSON holds a positive rate for each and xla=None's decision."""
    import json
    import subprocess

    out = tmp_path / "xla_choice.json"
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "xla_choice.py")
    proc = subprocess.run([sys.executable, script, "--quick", "--train-examples", "1000",
                           "--rounds", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "examples/s" in proc.stdout and "xla=None chose" in proc.stdout
    result = json.loads(out.read_text())
    runs = {(r["model"], r["xla"]): r for r in result["runs"]}
    assert set(runs) == {(m, x) for m in ("mlp", "cnn") for x in (None, True, False)}
    for (model, xla), run in runs.items():
        assert run["examples_per_second"] > 0 and run["warmup_seconds"] > 0
        if xla is not None:
            assert run["decision"] == {"xla": xla, "why": "forced"}
    for model in ("mlp", "cnn"):
        decision = runs[(model, None)]["decision"]
        assert decision["why"] == "measured" and set(decision["ms_per_step"]) == {"xla", "graph"}
        default = result["summary"][model]["variants"]["None"]
        assert default["examples_per_second_ratio_to_best_forced"] > 0
    assert result["load_average_start"] is None or len(result["load_average_start"]) == 3


def test_the_step_scalars_benchmark_runs_and_no_variant_retraces():
    import step_scalars
    record = step_scalars.main(["--quick"])
    variants = {"epoch_only", "every_100", "plain", "logged"}
    assert set(record["median_seconds"]) == variants
    assert all(r > 0 for r in record["ratios"].values())
    assert len(record["epoch_seconds"]["logged"]) == 2
    assert record["traces"] == {name: 1 for name in variants}


def test_memory_growth_measures_rss_after_each_run_in_one_process():
    import memory_growth

    rss = memory_growth.runs_in_one_process(2, 200, "off")
    assert len(rss) == 2 and all(100 < r < 8000 for r in rss)
