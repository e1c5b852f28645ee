"""lt.initializers: each initialiser's spread against its formula and against Keras's
(statistics, not bits: the generators differ), fans of conv kernels, and seeding."""

import keras
import numpy as np
import pytest

import lowtf as lt
from lowtf.initializers import TRUNCATED_STDDEV, fans, get_initializer

SHAPE = (400, 300)  # 120,000 draws: the sample std is within ~0.5% of the true one
FAN_IN, FAN_OUT = SHAPE

# name: (Keras initialiser or None, the std the weights should have, their bound)
EXPECTED = {
    "course": (None, 2 / np.sqrt(FAN_IN) * TRUNCATED_STDDEV, 2 * 2 / np.sqrt(FAN_IN)),
    "he": (keras.initializers.HeNormal, np.sqrt(2 / FAN_IN),
           2 * np.sqrt(2 / FAN_IN) / TRUNCATED_STDDEV),
    "glorot": (keras.initializers.GlorotUniform, np.sqrt(2 / (FAN_IN + FAN_OUT)),
               np.sqrt(6 / (FAN_IN + FAN_OUT))),
    "glorot_normal": (keras.initializers.GlorotNormal, np.sqrt(2 / (FAN_IN + FAN_OUT)),
                      2 * np.sqrt(2 / (FAN_IN + FAN_OUT)) / TRUNCATED_STDDEV),
    "lecun": (keras.initializers.LecunNormal, np.sqrt(1 / FAN_IN),
              2 * np.sqrt(1 / FAN_IN) / TRUNCATED_STDDEV),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_spread_follows_the_formula_and_keras(name):
    keras_init, std, bound = EXPECTED[name]
    _, fn = get_initializer(name)
    w = fn(SHAPE, FAN_IN, FAN_OUT, [7, 1]).numpy()
    assert w.dtype == np.float32 and w.shape == SHAPE
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 0.02 * std
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.95 * bound          # the draws reach out to the bound
    if keras_init is not None:
        k = np.asarray(keras_init(seed=3)(SHAPE))
        assert w.std() == pytest.approx(k.std(), rel=0.02)
        assert np.abs(k).max() == pytest.approx(np.abs(w).max(), rel=0.05)


def test_aliases_and_zeros():
    assert get_initializer("xavier")[1] is get_initializer("glorot")[1]
    assert get_initializer("He-Normal")[1] is get_initializer("he")[1]
    assert get_initializer("lecun_normal")[1] is get_initializer("lecun")[1]
    assert not get_initializer("zeros")[1]((3, 2), 3, 2, None).numpy().any()


def test_the_same_seed_gives_the_same_weights():
    for name in EXPECTED:
        fn = get_initializer(name)[1]
        a, b = fn((20, 10), 20, 10, [1, 2]).numpy(), fn((20, 10), 20, 10, [1, 2]).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, fn((20, 10), 20, 10, [1, 3]).numpy())
        assert not np.array_equal(fn((20, 10), 20, 10, None).numpy(),
                                  fn((20, 10), 20, 10, None).numpy())


def test_conv_fans_count_the_receptive_field():
    assert fans((3, 5, 4, 8)) == (3 * 5 * 4, 3 * 5 * 8)
    assert fans((784, 300)) == (784, 300)
    conv = lt.layers.Conv2D(64, 5, in_channels=16, kernel_initializer="he", seed=0)
    k = conv.kernel.numpy()
    assert k.std() == pytest.approx(np.sqrt(2 / (5 * 5 * 16)), rel=0.03)
    keras_k = np.asarray(keras.initializers.HeNormal(seed=0)((5, 5, 16, 64)))
    assert k.std() == pytest.approx(keras_k.std(), rel=0.03)


def test_a_callable_is_taken_and_an_unknown_name_refused():
    ones = lambda shape, fan_in, fan_out, seed: np.ones(shape, np.float32)  # noqa: E731
    assert get_initializer(ones)[1] is ones
    dense = lt.layers.Dense(2, kernel_initializer=ones, n_inputs=3)
    assert (dense.kernel.numpy() == 1).all()
    with pytest.raises(lt.ConfigError, match="unknown initializer 'uniformish'"):
        get_initializer("uniformish")
    with pytest.raises(lt.ConfigError, match="unknown initializer"):
        lt.layers.Conv2D(2, 3, kernel_initializer="nope")
    with pytest.raises(lt.ConfigError, match="name or a callable"):
        get_initializer(3)
