"""The public API fits on one screen: a curated top level and namespaces for the families."""

import pytest

import lowtf as lt


def test_every_top_level_name_and_namespace_resolves():
    for name in lt.__all__:
        assert getattr(lt, name) is not None, name
    assert set(lt.NAMESPACES) <= set(lt.__all__)
    assert len(lt.__all__) <= 25  # one screen
    assert lt.optimizers.SGD(0.1).get_config()["name"] == "SGD"
    assert lt.data.load_dataset is lt.load_dataset
    assert lt.actions.EarlyStopping(patience=2).settings()["patience"] == 2
    assert lt.sweep.Sweep and lt.layers.neuron_layer and lt.losses.get_loss and lt.metrics.Mean
    assert lt.layers.Sequential and lt.layers.Conv2D and lt.initializers.get_initializer


def test_every_namespace_is_documented_and_lists_its_names():
    for namespace in lt.NAMESPACES:
        assert f"`lt.{namespace}`" in lt.__doc__, namespace
    for name in lt.layers.__all__:
        assert name in lt.layers.__doc__ and getattr(lt.layers, name), name


@pytest.mark.parametrize("old, new", [("SGD", "optimizers"), ("EarlyStopping", "actions"),
                                      ("read_idx", "data"), ("Sweep", "sweep")])
def test_a_name_of_the_old_flat_api_says_where_it_went(old, new):
    with pytest.raises(AttributeError, match=rf"lowtf.{old} is now lowtf.{new}.{old}"):
        getattr(lt, old)
    assert getattr(getattr(lt, new), old) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        lt.nonsense  # noqa: B018
