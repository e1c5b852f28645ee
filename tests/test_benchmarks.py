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


def test_step_matmul_floor_times_every_product_with_both_libraries():
    floor = train_speed.step_matmul_floor(8, rounds=1, flop_budget=2e6)
    assert set(floor["dots"]) == {d[0] for d in train_speed.step_matmuls(8)}
    for lib in ("xla", "numpy"):
        seconds = floor["step_seconds"][lib]
        assert seconds == pytest.approx(sum(d[f"{lib}_seconds"] for d in floor["dots"].values()))
        assert floor["ceiling_samples_per_second"][lib] == pytest.approx(8 / seconds)
