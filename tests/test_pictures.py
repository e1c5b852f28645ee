"""Image summaries: the sample grid, the confident mistakes and the confusion matrix.

The pictures are numpy arrays drawn without matplotlib; the tests check their content
pixel by pixel where it matters (frame colours, shading, text) and that TensorBoard reads
them back as images of the right size.
"""

import inspect

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

import lowtf as lt
from conftest import make_prototype_data
from lowtf import pictures

NAMES = lt.data.FASHION_MNIST_CLASS_NAMES


def images(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), \
        (np.arange(n) % 10).astype(np.int32)


def one_hot_probabilities(predicted, confidence):
    p = np.full((len(predicted), 10), 0.0, np.float32)
    for i, (c, q) in enumerate(zip(predicted, confidence)):
        p[i] = (1 - q) / 9
        p[i, c] = q
    return p


def read_images(path):
    acc = event_accumulator.EventAccumulator(
        str(path), size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    found = {}
    for tag in acc.Tags()["tensors"]:
        events = acc.Tensors(tag)
        found[tag] = [(e.step, tf.make_ndarray(e.tensor_proto)) for e in events]
    return found


def test_text_mask_draws_known_glyphs():
    mask = pictures.text_mask("Ab1")
    assert mask.shape == (7, 17) and mask.dtype == bool
    np.testing.assert_array_equal(mask[:, :5], pictures.FONT["A"])
    np.testing.assert_array_equal(mask[:, 6:11], pictures.FONT["B"])  # upper-cased
    assert not mask[:, 5].any() and not mask[:, 11].any()              # gaps
    np.testing.assert_array_equal(pictures.text_mask("~")[:, :5], pictures.FONT["?"])
    assert pictures.text_mask("AB", scale=2).shape == (14, 22)
    assert all(g.shape == (7, 5) for g in pictures.FONT.values())
    # every class name of both data sets can be written
    assert set("".join(NAMES).upper()) <= set(pictures.FONT)


def test_text_is_clipped_at_the_canvas_edge():
    canvas = np.zeros((5, 8, 3), np.uint8)
    pictures.draw_text(canvas, "WWWW", 2, 3)
    assert canvas.any() and canvas.shape == (5, 8, 3)
    assert pictures.fit_text("ANKLE BOOT", 30) == "ANKLE"


def test_as_images_accepts_flat_square_and_float():
    x, _ = images(3)
    np.testing.assert_array_equal(pictures.as_images(x.reshape(3, 784)), x)
    as_float = pictures.as_images(x.astype(np.float32) / 255.0)
    assert as_float.dtype == np.uint8 and np.abs(as_float.astype(int) - x).max() <= 1
    assert pictures.as_images(np.zeros((3, 10), np.float32)) is None


def test_sample_grid_frames_right_green_and_wrong_red():
    x, y = images(10)
    predicted = y.copy()
    predicted[3] = (y[3] + 1) % 10
    grid = pictures.sample_grid(x, y, NAMES, predicted, n=10, cols=5, scale=2)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    cell_w = max(60, max(pictures.text_width(NAMES[i]) for i in y))
    cell_h = 60 + 3 + 7

    def frame_pixel(i):
        r, c = divmod(i, 5)
        top, left = 4 + r * (cell_h + 4), 4 + c * (cell_w + 4) + (cell_w - 60) // 2
        return tuple(grid[top, left])

    assert frame_pixel(3) == pictures.RED
    assert all(frame_pixel(i) == pictures.GREEN for i in range(10) if i != 3)
    assert grid.shape[0] == 4 + 2 * (cell_h + 4) and grid.shape[1] == 4 + 5 * (cell_w + 4)


def test_sample_grid_image_pixels_are_the_input_upscaled():
    x, y = images(1)
    grid = pictures.sample_grid(x, y, NAMES, n=1, scale=2)
    cell_w = max(60, pictures.text_width(NAMES[y[0]]))
    top, left = 4 + 2, 4 + (cell_w - 60) // 2 + 2
    pasted = grid[top:top + 56, left:left + 56, 0]
    np.testing.assert_array_equal(pasted[::2, ::2], x[0])
    np.testing.assert_array_equal(pasted[1::2, 1::2], x[0])


def test_confident_mistakes_are_the_most_confident_wrong_ones():
    y = np.arange(20) % 10
    predicted = y.copy()
    confidence = np.full(20, 0.9)
    for i, q in ((2, 0.5), (7, 0.99), (11, 0.7), (15, 0.3)):
        predicted[i] = (y[i] + 3) % 10
        confidence[i] = q
    p = one_hot_probabilities(predicted, confidence)
    np.testing.assert_array_equal(pictures.confident_mistakes(y, p, n=3), [7, 11, 2])
    np.testing.assert_array_equal(pictures.confident_mistakes(y, p), [7, 11, 2, 15])
    x, _ = images(20)
    grid = pictures.mistakes_grid(x, y, p, NAMES, n=16, cols=4)
    assert grid.shape[2] == 3
    # four cells in one row: the red frames of four images
    assert (grid == np.array(pictures.RED, np.uint8)).all(axis=2).sum() > 4 * 4 * 60


def test_no_mistakes_says_so():
    x, y = images(10)
    grid = pictures.mistakes_grid(x, y, one_hot_probabilities(y, np.full(10, 0.8)), NAMES)
    assert grid.shape == (40, 160, 3)
    assert (grid == np.array(pictures.GREEN, np.uint8)).all(axis=2).any()


def test_confusion_matrix_counts():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 500)
    p = np.where(rng.random(500) < 0.7, y, rng.integers(0, 10, 500))
    counts = pictures.confusion_matrix(y, p, 10)
    expected = np.zeros((10, 10), int)
    for a, b in zip(y, p):
        expected[a, b] += 1
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == 500


def test_confusion_matrix_image_shades_by_row_fraction():
    y = np.repeat(np.arange(3), 10)
    p = y.copy()
    p[:5] = 1  # class 0: half right, half called class 1
    image = pictures.confusion_matrix_image(y, p, ["A", "B", "C"])
    assert image.dtype == np.uint8 and image.shape[2] == 3
    left = max(pictures.text_width(f"{i} {n}") for i, n in enumerate("ABC")) + 10
    top, cell_w, cell_h = 2 * (7 + 6) + 4, 22, 7 + 9
    low, high = np.array([247, 251, 255]), np.array([8, 48, 107])

    def cell(i, j):  # a corner pixel of the cell (the count is written in the middle)
        return image[top + i * cell_h + 1, left + j * cell_w + 1].astype(int)

    np.testing.assert_array_equal(cell(1, 1), high)           # 10/10 right
    np.testing.assert_allclose(cell(0, 0), low + (high - low) * 0.5, atol=1)
    np.testing.assert_allclose(cell(0, 1), low + (high - low) * 0.5, atol=1)
    np.testing.assert_array_equal(cell(2, 0), low)             # never
    # the count is written in the cell: white ink on the dark cell
    middle = image[top + cell_h + 2:top + 2 * cell_h - 2, left + cell_w + 2:left + 2 * cell_w - 2]
    assert (middle == 255).all(axis=2).any()


def test_evaluation_images_for_non_image_features_is_only_the_matrix():
    y = np.arange(20) % 4
    p = np.eye(4)[y]
    pics = pictures.evaluation_images(np.zeros((20, 10), np.float32), y, p)
    assert list(pics) == ["confusion_matrix"]


def test_write_evaluation_images_reads_back_in_tensorboard(tmp_path):
    x, y = images(60)
    rng = np.random.default_rng(0)
    p = tf.nn.softmax(rng.normal(0, 2, (60, 10))).numpy()
    writer = tf.summary.create_file_writer(str(tmp_path))
    drawn = pictures.write_evaluation_images(writer, 7, x.reshape(60, 784), y, p, NAMES)
    writer.close()
    found = read_images(tmp_path)
    assert set(found) == {"samples", "confident_mistakes", "confusion_matrix"}
    for tag, points in found.items():
        assert [s for s, _ in points] == [7]
        width, height, png = points[0][1][:3]
        decoded = tf.io.decode_png(png).numpy()
        assert (int(width), int(height)) == (drawn[tag].shape[1], drawn[tag].shape[0])
        np.testing.assert_array_equal(decoded, drawn[tag])


@pytest.mark.skipif("image_summaries" not in inspect.signature(lt.Trainer).parameters,
                    reason="Trainer(image_summaries=...) comes with /tmp/issue6_trainer.patch")
def test_trainer_writes_pictures_of_every_evaluation(tmp_path):
    train, validation = make_prototype_data(400, 300)
    trainer = lt.Trainer(lt.dnn(784, (16,), 10, seed=0), optimizer=lt.optimizers.SGD(0.1),
                         run_dir=tmp_path / "run", verbose=0, image_summaries=True,
                         metadata={"class_names": list(NAMES)})
    history = trainer.fit(train, validation, epochs=2, batch_size=50)
    found = read_images(tmp_path / "run" / "validation")
    for tag in ("samples", "confident_mistakes", "confusion_matrix"):
        assert [s for s, _ in found[tag]] == history["step"], tag
    assert not {"samples"} & set(read_images(tmp_path / "run" / "train"))
