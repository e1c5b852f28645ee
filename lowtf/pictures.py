"""Pictures of an evaluation for TensorBoard, drawn with numpy alone (no matplotlib).

Three images per evaluation, each an RGB uint8 array `[height, width, 3]` ready for
`tf.summary.image` (add a batch axis):

- `sample_grid`: the first images of a split with their true class; the frame is green
  where the model is right and red where it is wrong.
- `mistakes_grid`: the most confidently wrong images, with the predicted class and its
  probability (red) over the true class (green).
- `confusion_matrix_image`: counts of true (rows) against predicted (columns) classes,
  shaded by the fraction of each true class.

Text is drawn with a built-in 5x7 pixel font (upper case, digits, a few signs).
`write_evaluation_images` writes all three to a summary writer.
"""

import numpy as np
import tensorflow as tf

# A 5x7 pixel font: 7 rows of 5 pixels per character, '#' on.
_GLYPHS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    " ": "..... ..... ..... ..... ..... ..... .....",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "=": "..... ..... ##### ..... ##### ..... .....",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "'": "..#.. ..#.. .#... ..... ..... ..... .....",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
}
FONT = {c: np.array([[p == "#" for p in row] for row in g.split()], dtype=bool)
        for c, g in _GLYPHS.items()}
CHAR_W, CHAR_H = 6, 7  # advance per character (5 pixels and a gap), glyph height

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GRAY = (128, 128, 128)
RED = (235, 70, 60)
GREEN = (80, 200, 90)
BACKGROUND = (24, 24, 24)


def text_mask(text, scale=1):
    """A boolean `[7 * scale, (6 * len(text) - 1) * scale]` bitmap of `text` (upper-cased)."""
    text = str(text).upper()
    if not text:
        return np.zeros((CHAR_H * scale, 0), bool)
    mask = np.zeros((CHAR_H, CHAR_W * len(text) - 1), bool)
    for i, char in enumerate(text):
        mask[:, i * CHAR_W:i * CHAR_W + 5] = FONT.get(char, FONT["?"])
    return np.kron(mask, np.ones((scale, scale), bool)) if scale > 1 else mask


def text_width(text, scale=1):
    return max(0, (CHAR_W * len(str(text)) - 1) * scale)


def draw_text(canvas, text, top, left, color=WHITE, scale=1):
    """Draws `text` onto an RGB canvas in place, clipped at its edges."""
    mask = text_mask(text, scale)
    h = min(mask.shape[0], canvas.shape[0] - top)
    w = min(mask.shape[1], canvas.shape[1] - left)
    if h <= 0 or w <= 0:
        return canvas
    region = canvas[top:top + h, left:left + w]
    region[mask[:h, :w]] = color
    return canvas


def fit_text(text, width, scale=1):
    """`text` cut so it is at most `width` pixels wide."""
    text = str(text)
    max_chars = (width // scale + 1) // CHAR_W
    return text if len(text) <= max_chars else text[:max(0, max_chars)]


def as_images(x, side=None):
    """uint8 `[n, side, side]` grayscale images from uint8/float `[n, side*side]` or
    `[n, side, side]` arrays (floats are taken to be in [0, 1]); None if not square."""
    x = np.asarray(x)
    n = len(x)
    per_example = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    side = side or int(round(per_example ** 0.5))
    if side * side != per_example or side < 2:
        return None
    x = x.reshape(n, side, side)
    if x.dtype != np.uint8:
        x = np.round(np.clip(x.astype(np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    return x


def _names(class_names, n_classes):
    if class_names:
        return [str(c) for c in class_names]
    return [str(i) for i in range(n_classes)]


def _grid(cells, cols, cell_h, cell_w, pad=4):
    rows = max(1, -(-len(cells) // cols))
    cols = min(cols, max(1, len(cells)))
    canvas = np.empty((pad + rows * (cell_h + pad), pad + cols * (cell_w + pad), 3), np.uint8)
    canvas[:] = BACKGROUND
    for i, draw in enumerate(cells):
        r, c = divmod(i, cols)
        draw(canvas, pad + r * (cell_h + pad), pad + c * (cell_w + pad))
    return canvas


def _paste(canvas, image, top, left, scale, frame=None, frame_width=2):
    """Pastes a grayscale uint8 image (upscaled) with an optional coloured frame."""
    big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    h, w = big.shape
    f = frame_width if frame is not None else 0
    if frame is not None:
        canvas[top:top + h + 2 * f, left:left + w + 2 * f] = frame
    canvas[top + f:top + f + h, left + f:left + f + w] = big[:, :, None]
    return h + 2 * f, w + 2 * f


def sample_grid(images, labels, class_names=None, predictions=None, n=25, cols=5, scale=2):
    """The first `n` images with their true class; frames green (right) / red (wrong)
    when `predictions` are given. Returns RGB uint8 `[height, width, 3]`."""
    images = as_images(images)
    if images is None:
        raise ValueError("sample_grid needs square images ([n, 28, 28] or [n, 784])")
    labels = np.asarray(labels)
    n = min(n, len(images))
    names = _names(class_names, int(labels.max()) + 1 if len(labels) else 1)
    side = images.shape[1] * scale + 4
    cell_w = max(side, max(text_width(names[int(l)]) for l in labels[:n]) if n else side)
    cell_h = side + 3 + CHAR_H

    def cell(i):
        def draw(canvas, top, left):
            frame = GRAY if predictions is None else (
                GREEN if predictions[i] == labels[i] else RED)
            _paste(canvas, images[i], top, left + (cell_w - side) // 2, scale, frame)
            name = fit_text(names[int(labels[i])], cell_w)
            draw_text(canvas, name, top + side + 3, left + (cell_w - text_width(name)) // 2)
        return draw

    return _grid([cell(i) for i in range(n)], cols, cell_h, cell_w)


def confident_mistakes(labels, probabilities, n=16):
    """Indices of the `n` wrong predictions with the highest predicted probability."""
    probabilities = np.asarray(probabilities)
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(labels))
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:n]]


def mistakes_grid(images, labels, probabilities, class_names=None, n=16, cols=4, scale=2):
    """The most confidently wrong images: predicted class and probability in red, the
    true class in green. Returns RGB uint8 `[height, width, 3]`."""
    images = as_images(images)
    if images is None:
        raise ValueError("mistakes_grid needs square images ([n, 28, 28] or [n, 784])")
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    names = _names(class_names, probabilities.shape[1])
    chosen = confident_mistakes(labels, probabilities, n)
    if len(chosen) == 0:
        canvas = np.empty((40, 160, 3), np.uint8)
        canvas[:] = BACKGROUND
        return draw_text(canvas, "NO MISTAKES", 16, 47, GREEN)
    predicted = np.argmax(probabilities, axis=1)
    lines = {int(i): (f"{names[predicted[i]]} {probabilities[i, predicted[i]]:.0%}",
                      f"TRUE {names[labels[i]]}") for i in chosen}
    side = images.shape[1] * scale + 4
    cell_w = max(side, max(text_width(t) for pair in lines.values() for t in pair) + 6)
    cell_h = side + 2 * (CHAR_H + 3)

    def cell(i):
        def draw(canvas, top, left):
            _paste(canvas, images[i], top, left + (cell_w - side) // 2, scale, RED)
            said, truth = lines[int(i)]
            draw_text(canvas, said, top + side + 3, left, RED)
            draw_text(canvas, truth, top + side + 6 + CHAR_H, left, GREEN)
        return draw

    return _grid([cell(i) for i in chosen], cols, cell_h, cell_w)


def confusion_matrix(labels, predictions, n_classes):
    """`[n_classes, n_classes]` int64 counts, rows the true class, columns the predicted."""
    labels, predictions = np.asarray(labels, np.int64), np.asarray(predictions, np.int64)
    return np.bincount(labels * n_classes + predictions,
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def confusion_matrix_image(labels, predictions, class_names=None, n_classes=None):
    """The confusion matrix as a picture: a row per true class, a column per predicted
    class, counts written in the cells, shading by the fraction of the row. Returns RGB
    uint8 `[height, width, 3]`."""
    n_classes = n_classes or (len(class_names) if class_names else
                              int(max(np.max(labels), np.max(predictions))) + 1)
    counts = confusion_matrix(labels, predictions, n_classes)
    names = _names(class_names, n_classes)
    row_names = [f"{i} {fit_text(names[i], 16 * CHAR_W)}" for i in range(n_classes)]
    cell_w = max(text_width(str(int(counts.max()))) + 6, text_width(str(n_classes - 1)) + 6, 22)
    cell_h = CHAR_H + 9
    left = max(text_width(r) for r in row_names) + 10
    top = 2 * (CHAR_H + 6) + 4
    width = max(left + n_classes * cell_w + 6, text_width("TRUE ROWS, PREDICTED COLUMNS") + 12)
    height = top + n_classes * cell_h + 6
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = WHITE
    draw_text(canvas, "TRUE ROWS, PREDICTED COLUMNS", 4, 6, BLACK)
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fraction = counts / totals
    low, high = np.array([247, 251, 255], float), np.array([8, 48, 107], float)
    for j in range(n_classes):
        label = str(j)
        draw_text(canvas, label, top - CHAR_H - 4,
                  left + j * cell_w + (cell_w - text_width(label)) // 2, BLACK)
    for i in range(n_classes):
        y = top + i * cell_h
        draw_text(canvas, row_names[i], y + (cell_h - CHAR_H) // 2,
                  left - 6 - text_width(row_names[i]), BLACK)
        for j in range(n_classes):
            x = left + j * cell_w
            color = low + (high - low) * fraction[i, j]
            canvas[y:y + cell_h - 1, x:x + cell_w - 1] = np.round(color).astype(np.uint8)
            if i == j:
                canvas[y + cell_h - 1, x:x + cell_w - 1] = BLACK
            text = str(int(counts[i, j]))
            ink = WHITE if fraction[i, j] > 0.45 else BLACK
            draw_text(canvas, text, y + (cell_h - CHAR_H) // 2,
                      x + (cell_w - 1 - text_width(text)) // 2, ink)
    return canvas


def evaluation_images(images, labels, probabilities, class_names=None, n_samples=25,
                      n_mistakes=16):
    """`{"samples": ..., "confident_mistakes": ..., "confusion_matrix": ...}` RGB arrays.

    The two image grids are left out when the inputs are not square images.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities)
    predictions = np.argmax(probabilities, axis=1)
    pictures = {}
    if as_images(images[:1]) is not None:
        pictures["samples"] = sample_grid(images[:n_samples], labels[:n_samples], class_names,
                                          predictions[:n_samples], n=n_samples)
        pictures["confident_mistakes"] = mistakes_grid(images, labels, probabilities,
                                                       class_names, n=n_mistakes)
    pictures["confusion_matrix"] = confusion_matrix_image(
        labels, predictions, class_names, n_classes=probabilities.shape[1])
    return pictures


def write_evaluation_images(writer, step, images, labels, probabilities, class_names=None,
                            n_samples=25, n_mistakes=16):
    """Writes `evaluation_images` as `tf.summary.image`s (tags `samples`,
    `confident_mistakes`, `confusion_matrix`) with `writer` at `step`.

    Args:
        writer: a `tf.summary` writer, e.g. the one of `<run>/validation`.
        images: uint8 or float ([0, 1]) images, `[n, 28, 28]` or `[n, 784]`.
        labels: int class ids `[n]`.
        probabilities: `[n, n_classes]` model probabilities (or logits: only the argmax
            and the ordering of the mistakes use them, the shown percentages assume
            probabilities).
    """
    pictures = evaluation_images(images, labels, probabilities, class_names, n_samples,
                                 n_mistakes)
    descriptions = {
        "samples": "First images of the split with their true class; green frame: "
                   "predicted right, red: wrong.",
        "confident_mistakes": "The most confidently wrong images: predicted class and "
                              "probability (red), true class (green).",
        "confusion_matrix": "Counts of true (rows) vs predicted (columns) classes, shaded by "
                            "the fraction of each true class.",
    }
    with writer.as_default(step=int(step)):
        for tag, picture in pictures.items():
            tf.summary.image(tag, picture[None], description=descriptions[tag])
    writer.flush()
    return pictures
