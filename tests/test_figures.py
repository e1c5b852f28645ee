"""Evaluation figures for TensorBoard: the sample grid, the confident mistakes and the
confusion matrix, drawn with matplotlib.

The figures are checked as matplotlib objects where their content is text (counts, class
names, predictions: the Text artists) and as rasters where it is colour (frames), and
TensorBoard's own loader reads what `write_evaluation_images` writes.
"""

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import lowtf as lt
from conftest import make_prototype_data
from lowtf import figures

NAMES = lt.data.FASHION_MNIST_CLASS_NAMES
IDS = [str(i) for i in range(10)]


def images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), \
        (np.arange(n) % 10).astype(np.int32)


def one_hot_probabilities(predicted, confidence):
    p = np.zeros((len(predicted), 10), np.float32)
    for i, (c, q) in enumerate(zip(predicted, confidence)):
        p[i] = (1 - q) / 9
        p[i, c] = q
    return p


def texts(figure):
    """The strings of the figure-level Text artists, in drawing order."""
    return [t.get_text() for t in figure.texts]


def matrix_annotations(figure, n):
    """`[n, n]` ints from the count written in each cell of the confusion-matrix axes."""
    (axis,) = figure.axes
    found = np.full((n, n), -1)
    for t in axis.texts:
        j, i = t.get_position()
        found[int(round(i)), int(round(j))] = int(t.get_text())
    return found


def read_events(path):
    """`{tag: [(step, [width, height, png])]}` of the image summaries, as TensorBoard's
    loader reads them (TF2 writes images as tensors of the `images` plugin)."""
    acc = event_accumulator.EventAccumulator(
        str(path), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0})
    acc.Reload()
    found = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "images":
            continue  # scalars
        found[tag] = [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
    return found


def test_as_images_accepts_flat_square_and_float():
    x, _ = images(3)
    np.testing.assert_array_equal(figures.as_images(x.reshape(3, 784)), x)
    as_float = figures.as_images(x.astype(np.float32) / 255.0)
    assert as_float.dtype == np.uint8 and np.abs(as_float.astype(int) - x).max() <= 1
    assert figures.as_images(np.zeros((3, 64), np.float32)).shape == (3, 8, 8)
    assert figures.as_images(np.zeros((3, 10), np.float32)) is None


def test_confusion_matrix_counts_and_labels_are_the_data_and_names_as_written():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 500)
    p = np.where(rng.random(500) < 0.7, y, rng.integers(0, 10, 500))
    expected = np.zeros((10, 10), int)
    for a, b in zip(y, p):
        expected[a, b] += 1
    np.testing.assert_array_equal(figures.confusion_counts(y, p, 10), expected)
    figure = figures.confusion_matrix_figure(y, p, NAMES)
    np.testing.assert_array_equal(matrix_annotations(figure, 10), expected)
    (axis,) = figure.axes
    assert [t.get_text() for t in axis.get_yticklabels()] == list(NAMES)
    assert [t.get_text() for t in axis.get_xticklabels()] == list(NAMES)
    assert "T-shirt/top" in NAMES  # as written, not upper-cased
    # shading: the image is the fraction of each true class (row)
    shown = axis.images[0].get_array()
    np.testing.assert_allclose(shown, expected / expected.sum(axis=1, keepdims=True))
    assert axis.images[0].get_cmap().name == figures.CMAP


def test_without_class_names_the_labels_are_the_ids_once():
    y = np.arange(30) % 10
    figure = figures.confusion_matrix_figure(y, y)
    (axis,) = figure.axes
    assert [t.get_text() for t in axis.get_yticklabels()] == IDS
    assert [t.get_text() for t in axis.get_xticklabels()] == IDS
    x, _ = images(10)
    sample = figures.sample_figure(x, y[:10])
    assert texts(sample)[1:] == IDS  # after the title: one id per image, not "0 0"
    assert figures.class_labels(None, 3) == ["0", "1", "2"]
    assert figures.class_labels(["a"], 2) == ["a", "1"]


def test_sample_figure_marks_right_and_wrong_in_colour_blind_safe_colours():
    x, y = images(8)
    predicted = y.copy()
    predicted[3] = 6
    figure = figures.sample_figure(x, y, predicted, NAMES, n=8, cols=4)
    lines = texts(figure)[1:]
    assert lines[0::2] == [NAMES[i] for i in y]
    assert lines[1::2] == ["✓"] * 3 + ["✗ Shirt"] + ["✓"] * 4
    colours = [t.get_color() for t in figure.texts[2::2]]
    assert colours == [figures.RIGHT] * 3 + [figures.WRONG] + [figures.RIGHT] * 4
    assert {figures.RIGHT, figures.WRONG} <= set(figures.OKABE_ITO)
    assert figures.RIGHT != figures.WRONG
    image = figures.to_image(figure)
    assert image.dtype == np.uint8 and image.shape == (
        int(figure.bbox.height), int(figure.bbox.width), 3)
    assert image.shape[1] == figures.WIDTH

    def frame_pixels(colour):  # rows holding a long run of exactly this colour
        rgb = figures._rgb(colour)
        return (image == rgb).all(axis=2).sum(axis=1)

    # 8 framed images of 28*3 px, frames 3 px: 7 blue frames and one vermillion
    assert frame_pixels(figures.WRONG).max() == 84 + 2 * 3
    assert frame_pixels(figures.RIGHT).max() == 4 * (84 + 2 * 3)


def test_mistakes_are_the_most_confident_wrong_ones_in_order():
    y = np.arange(20) % 10
    predicted = y.copy()
    confidence = np.full(20, 0.9)
    for i, q in ((2, 0.5), (7, 0.999), (11, 0.7), (15, 0.3)):
        predicted[i] = (y[i] + 3) % 10
        confidence[i] = q
    p = one_hot_probabilities(predicted, confidence)
    np.testing.assert_array_equal(figures.confident_mistakes(y, p, n=3), [7, 11, 2])
    np.testing.assert_array_equal(figures.confident_mistakes(y, p), [7, 11, 2, 15])
    x, _ = images(20)
    lines = texts(figures.mistakes_figure(x, y, p, NAMES))[1:]
    assert lines == [f"{NAMES[(y[7] + 3) % 10]} >99%", f"is {NAMES[y[7]]}",
                     f"{NAMES[(y[11] + 3) % 10]} 70%", f"is {NAMES[y[11]]}",
                     f"{NAMES[(y[2] + 3) % 10]} 50%", f"is {NAMES[y[2]]}",
                     f"{NAMES[(y[15] + 3) % 10]} 30%", f"is {NAMES[y[15]]}"]


def test_long_names_are_cut_but_keep_the_probability():
    x, y = images(8)
    p = one_hot_probabilities((y + 1) % 10, np.full(8, 0.8))
    names = ["a very long class name indeed"] * 10
    lines = texts(figures.mistakes_figure(x, y, p, names, cols=4))[1:]
    assert lines[0].endswith("… 80%") and lines[0].startswith("a very")
    assert len(lines[0]) < len(names[0])
    assert lines[1].endswith("…") and lines[1].startswith("is a very")


def test_no_mistakes_is_said():
    x, y = images(10)
    figure = figures.mistakes_figure(x, y, one_hot_probabilities(y, np.full(10, 0.8)), NAMES)
    assert texts(figure) == ["No wrong predictions among 10 images"]
    assert figures.to_image(figure).shape[1] == figures.WIDTH


def test_text_is_legible_at_a_tensorboard_card_size():
    x, y = images(20)
    for figure in figures.evaluation_figures(x, y, np.eye(10)[(y + 1) % 10], NAMES).values():
        assert figure.bbox.width <= 500
        for t in figure.findobj(lambda a: hasattr(a, "get_fontsize") and a.get_text()):
            assert t.get_fontsize() * figure.dpi / 72 >= 12.5, t.get_text()


def test_run_colors_are_distinct_and_colour_blind_safe():
    assert figures.run_colors(3) == list(figures.OKABE_ITO[:3])
    many = figures.run_colors(12)
    assert len({tuple(c) for c in many}) == 12


def test_only_the_matrix_for_non_image_features():
    y = np.arange(20) % 4
    drawn = figures.evaluation_figures(np.zeros((20, 10), np.float32), y, np.eye(4)[y])
    assert list(drawn) == ["confusion_matrix"]


def test_write_evaluation_images_reads_back_in_tensorboard(tmp_path):
    x, y = images(60)
    p = tf.nn.softmax(np.random.default_rng(0).normal(0, 2, (60, 10))).numpy()
    writer = tf.summary.create_file_writer(str(tmp_path))
    drawn = figures.write_evaluation_images(writer, 7, x.reshape(60, 784), y, p, NAMES)
    writer.close()
    found = read_events(tmp_path)
    assert set(found) == {"samples", "confident_mistakes", "confusion_matrix"}
    for tag, points in found.items():
        assert [s for s, _ in points] == [7]
        width, height, png = points[0][1][:3]
        decoded = tf.io.decode_png(png).numpy()
        assert decoded.dtype == np.uint8 and decoded.shape[2] == 3
        assert (int(width), int(height)) == (drawn[tag].shape[1], drawn[tag].shape[0])
        np.testing.assert_array_equal(decoded, drawn[tag])


def test_trainer_writes_figures_of_every_evaluation(tmp_path):
    train, validation = make_prototype_data(400, 300)
    trainer = lt.Trainer(lt.dnn(784, (16,), 10, seed=0), optimizer=lt.optimizers.SGD(0.1),
                         run_dir=tmp_path / "run", verbose=0, image_summaries=True,
                         metadata={"class_names": list(NAMES)})
    history = trainer.fit(train, validation, epochs=2, batch_size=50)
    found = read_events(tmp_path / "run" / "validation")
    for tag in ("samples", "confident_mistakes", "confusion_matrix"):
        assert [s for s, _ in found[tag]] == history["step"], tag


def test_fewer_images_than_columns_keep_their_size_and_the_width():
    x, y = images(1)
    image = figures.to_image(figures.sample_figure(x, y, y, NAMES))
    assert image.shape[1] == figures.WIDTH
    blue = (image == figures._rgb(figures.RIGHT)).all(axis=2)
    assert blue.sum(axis=1).max() == 84 + 2 * 3  # one 3x image with its frame, not bigger
    empty = figures.sample_figure(x[:0], y[:0], y[:0], NAMES)
    assert texts(empty) == [texts(empty)[0]] and figures.to_image(empty).shape[1] == 500
