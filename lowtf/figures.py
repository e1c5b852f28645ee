"""Figures of an evaluation or a run, drawn with matplotlib, as images for TensorBoard.

Three figures per evaluation, each a `matplotlib.figure.Figure` (inspectable before it is
rasterised) that `to_image` turns into the RGB uint8 array `tf.summary.image` takes:

- `sample_figure`: the first images of a split with their true class; the frame is blue
  and marked ✓ where the model is right, vermillion and marked ✗ with the predicted class
  where it is wrong.
- `mistakes_figure`: the most confidently wrong images, the predicted class and its
  probability over the true class.
- `confusion_matrix_figure`: counts (`tf.math.confusion_matrix`) of true (rows) against
  predicted (columns) classes, shaded by the fraction of each true class.

`write_evaluation_images` writes all three to a summary writer. The figures are sized for
TensorBoard's image cards (500 px wide, text at least 10 px tall), with class names
as written and colour-blind-safe colours (Okabe-Ito; viridis). `new_figure` and
`run_colors` are the shared style of `lowtf.plot` and `lowtf.lr_finder` too.

matplotlib is imported only when a figure is drawn, so `import lowtf` stays fast, and
only through `Figure` and the Agg canvas: no pyplot state, safe from any thread.
TensorFlow too is imported only where it is used, so `lowtf plot` does not load it.
"""

import numpy as np

# Okabe & Ito's colour-blind-safe palette; yellow last, it is faint on white.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
             "#F0E442")
BLUE, VERMILLION = OKABE_ITO[0], OKABE_ITO[3]
RIGHT, WRONG, NEUTRAL = BLUE, VERMILLION, "#808080"
CMAP = "viridis"  # perceptually uniform and colour-blind safe
DPI = 100
WIDTH = 500  # px: TensorBoard's image card shows this at natural size
FONT_SIZE = 10  # pt: 14 px at DPI, capitals about 10 px tall
LINE_H, TITLE_H, PAD = 17, 28, 6  # px


def new_figure(width, height, dpi=DPI):
    """A `Figure` of `width` x `height` inches on its own Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def to_image(figure):
    """The figure rasterised at its dpi: RGB uint8 `[height, width, 3]`."""
    figure.canvas.draw()
    return np.array(figure.canvas.buffer_rgba())[:, :, :3]


def run_colors(n):
    """`n` distinguishable colour-blind-safe colours for the curves of `n` runs: the
    Okabe-Ito palette, or evenly spaced viridis colours when there are more runs."""
    if n <= len(OKABE_ITO):
        return list(OKABE_ITO[:n])
    from matplotlib import colormaps

    return [colormaps[CMAP](v) for v in np.linspace(0.0, 0.9, n)]


def as_images(x):
    """uint8 `[n, side, side]` grayscale images from uint8 or float ([0, 1]) arrays of
    `side * side` values per example (`[n, 784]`, `[n, 28, 28]`); None if not square."""
    x = np.asarray(x)
    per_example = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    side = int(round(per_example ** 0.5))
    if side * side != per_example or side < 2:
        return None
    x = x.reshape(len(x), side, side)
    if x.dtype != np.uint8:
        x = np.round(np.clip(x.astype(np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    return x


def class_labels(class_names, n_classes):
    """The label of each class id: its name as written, else the id ("0", "1", ...)."""
    names = list(class_names or [])
    return [str(names[i]) if i < len(names) else str(i) for i in range(n_classes)]


def _rgb(color):
    from matplotlib import colors

    return np.round(np.array(colors.to_rgb(color)) * 255).astype(np.uint8)


def _fit(figure, text, width, keep=""):
    """`text + keep`, `text` cut with an ellipsis until it is at most `width` px wide at
    FONT_SIZE (`keep`, e.g. a percentage, is never cut)."""
    from matplotlib.font_manager import FontProperties

    renderer, font = figure.canvas.get_renderer(), FontProperties(size=FONT_SIZE)
    fitted = text + keep
    while len(text) > 1 and renderer.get_text_width_height_descent(
            fitted, font, ismath=False)[0] > width:
        text = text[:-1]
        fitted = text.rstrip() + "…" + keep
    return fitted


def _grid_figure(images, cells, title, cols, n_lines):
    """Framed images in a grid with lines of text below each, on a 1:1 pixel canvas.

    `cells`: per image, `(frame colour, [(text, colour), ...])`; a text may be a pair
    `(cut if too long, kept)`. Cells are sized for `cols` columns (fewer images are
    centred, not enlarged); images are scaled up by a whole factor to fill them.
    """
    side, frame = images.shape[1], 3
    cell_w = (WIDTH - 2 * PAD) // cols
    scale = max(1, (cell_w - 2 * frame - 8) // side)
    framed = side * scale + 2 * frame
    cell_w = max(cell_w, framed + 8)
    cols = max(1, min(cols, len(images)))
    rows = -(-len(images) // cols)
    cell_h = framed + 4 + n_lines * LINE_H + 8
    width = max(WIDTH, 2 * PAD + cols * cell_w)
    height = TITLE_H + rows * cell_h + PAD
    margin = (width - cols * cell_w) // 2
    canvas = np.full((height, width, 3), 255, np.uint8)
    figure = new_figure(width / DPI, height / DPI)
    figure.text(0.5, 1 - 6 / height, title, ha="center", va="top", fontsize=FONT_SIZE)
    for i, (image, (color, lines)) in enumerate(zip(images, cells)):
        r, c = divmod(i, cols)
        top = TITLE_H + r * cell_h
        left = margin + c * cell_w + (cell_w - framed) // 2
        canvas[top:top + framed, left:left + framed] = _rgb(color)
        big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
        canvas[top + frame:top + framed - frame, left + frame:left + framed - frame] = \
            big[:, :, None]
        centre = margin + c * cell_w + cell_w / 2
        for k, (text, ink) in enumerate(lines):
            y = top + framed + 4 + k * LINE_H
            text, keep = text if isinstance(text, tuple) else (text, "")
            figure.text(centre / width, 1 - y / height, _fit(figure, text, cell_w - 2, keep),
                        ha="center", va="top", fontsize=FONT_SIZE, color=ink)
    figure.figimage(canvas, origin="upper", zorder=0)
    return figure


def sample_figure(images, labels, predictions=None, class_names=None, n=20, cols=4):
    """The first `n` images with their true class below; with `predictions`, a blue frame
    and ✓ where right, a vermillion frame and ✗ and the predicted class where wrong."""
    images = as_images(images)
    if images is None:
        raise ValueError("sample_figure needs square images ([n, 28, 28] or [n, 784])")
    labels = np.asarray(labels)[:n]
    images = images[:len(labels)]
    n_classes = int(max(labels.max(initial=0),
                        -1 if predictions is None else np.max(predictions, initial=0))) + 1
    names = class_labels(class_names, max(n_classes, len(class_names or [])))
    cells = []
    for i, label in enumerate(labels):
        if predictions is None:
            cells.append((NEUTRAL, [(names[label], "black")]))
        elif predictions[i] == label:
            cells.append((RIGHT, [(names[label], "black"), ("✓", RIGHT)]))
        else:
            cells.append((WRONG, [(names[label], "black"),
                                  (f"✗ {names[predictions[i]]}", WRONG)]))
    title = "First images, true class" + ("" if predictions is None else
                                          " (✓ right, ✗ predicted wrong)")
    return _grid_figure(images, cells, title, cols, 1 if predictions is None else 2)


def confident_mistakes(labels, probabilities, n=16):
    """Indices of the `n` wrong predictions with the highest predicted probability."""
    probabilities = np.asarray(probabilities)
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(labels))
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")[:n]]


def _percent(p):
    text = f"{p:.0%}"
    return ">99%" if text == "100%" and p < 1 else text


def mistakes_figure(images, labels, probabilities, class_names=None, n=16, cols=4):
    """The most confidently wrong images, most confident first: the predicted class and
    its probability (vermillion) over "is" and the true class (blue); a line saying so when
    there are none."""
    images = as_images(images)
    if images is None:
        raise ValueError("mistakes_figure needs square images ([n, 28, 28] or [n, 784])")
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    names = class_labels(class_names, probabilities.shape[1])
    chosen = confident_mistakes(labels, probabilities, n)
    if len(chosen) == 0:
        figure = new_figure(WIDTH / DPI, 60 / DPI)
        figure.text(0.5, 0.5, f"No wrong predictions among {len(labels):,} images",
                    ha="center", va="center", fontsize=FONT_SIZE, color=RIGHT)
        return figure
    predicted = np.argmax(probabilities, axis=1)
    cells = [(WRONG, [((names[predicted[i]], f" {_percent(probabilities[i, predicted[i]])}"),
                       WRONG), (f"is {names[labels[i]]}", RIGHT)]) for i in chosen]
    return _grid_figure(images[chosen], cells,
                        "Most confident mistakes: predicted (probability), is: true",
                        cols, 2)


def confusion_counts(labels, predictions, n_classes):
    """`[n_classes, n_classes]` int counts, rows the true class, columns the predicted."""
    import tensorflow as tf

    return tf.math.confusion_matrix(np.asarray(labels, np.int64),
                                    np.asarray(predictions, np.int64),
                                    num_classes=n_classes, dtype=tf.int64).numpy()


def confusion_matrix_figure(labels, predictions, class_names=None, n_classes=None):
    """The confusion matrix: a row per true class, a column per predicted class, the count
    written in each cell (up to 20 classes) and the cell shaded by the fraction of its row."""
    from matplotlib import colormaps

    n_classes = n_classes or (len(class_names) if class_names else
                              int(max(np.max(labels), np.max(predictions))) + 1)
    counts = confusion_counts(labels, predictions, n_classes)
    fraction = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    names = class_labels(class_names, n_classes)
    figure = new_figure(WIDTH / DPI, WIDTH / DPI)
    axis = figure.add_subplot()
    cmap = colormaps[CMAP]
    axis.imshow(fraction, cmap=cmap, vmin=0.0, vmax=1.0)
    size = FONT_SIZE if n_classes <= 12 else max(5, FONT_SIZE * 12 // n_classes)
    axis.set_xticks(range(n_classes))
    if max(map(len, names)) > 3:
        axis.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor",
                             fontsize=size)
    else:
        axis.set_xticklabels(names, fontsize=size)
    axis.set_yticks(range(n_classes))
    axis.set_yticklabels(names, fontsize=size)
    axis.tick_params(length=0)
    axis.set_xlabel("predicted class", fontsize=FONT_SIZE)
    axis.set_ylabel("true class", fontsize=FONT_SIZE)
    axis.set_title(f"Confusion matrix, {counts.sum():,} images", fontsize=FONT_SIZE)
    if n_classes <= 20:
        count_size = FONT_SIZE if counts.max() < 1000 else FONT_SIZE - 1
        for i in range(n_classes):
            for j in range(n_classes):
                r, g, b, _ = cmap(fraction[i, j])
                ink = "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45 else "black"
                axis.text(j, i, str(int(counts[i, j])), ha="center", va="center",
                          fontsize=min(size, count_size), color=ink)
    figure.tight_layout(pad=0.4)
    return figure


def evaluation_figures(images, labels, probabilities, class_names=None, n_samples=20,
                       n_mistakes=16):
    """`{"samples": ..., "confident_mistakes": ..., "confusion_matrix": ...}` Figures; the
    two image grids are left out when the inputs are not square images."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    predictions = np.argmax(probabilities, axis=1)
    figures = {}
    if as_images(images[:1]) is not None:
        figures["samples"] = sample_figure(images[:n_samples], labels[:n_samples],
                                           predictions[:n_samples], class_names, n=n_samples)
        figures["confident_mistakes"] = mistakes_figure(images, labels, probabilities,
                                                        class_names, n=n_mistakes)
    figures["confusion_matrix"] = confusion_matrix_figure(
        labels, predictions, class_names, n_classes=probabilities.shape[1])
    return figures


DESCRIPTIONS = {
    "samples": "First images of the split with their true class; blue frame and ✓: "
               "predicted right; vermillion frame and ✗ with the predicted class: wrong.",
    "confident_mistakes": "The most confidently wrong images, most confident first: "
                          "predicted class and probability (vermillion), true class (blue).",
    "confusion_matrix": "Counts of true (rows) vs predicted (columns) classes, shaded by the "
                        "fraction of each true class (viridis).",
}


def write_evaluation_images(writer, step, images, labels, probabilities, class_names=None,
                            n_samples=20, n_mistakes=16):
    """Writes the `evaluation_figures` as `tf.summary.image`s (tags `samples`,
    `confident_mistakes`, `confusion_matrix`) with `writer` at `step`; returns the RGB
    uint8 arrays by tag.

    Args:
        writer: a `tf.summary` writer, e.g. the one of `<run>/validation`.
        images: uint8 or float ([0, 1]) images, `[n, 28, 28]` or `[n, 784]`.
        labels: int class ids `[n]`.
        probabilities: `[n, n_classes]` model probabilities (or logits: only the argmax
            and the ordering of the mistakes use them, the shown percentages assume
            probabilities).
    """
    import tensorflow as tf

    arrays = {tag: to_image(figure) for tag, figure in evaluation_figures(
        images, labels, probabilities, class_names, n_samples, n_mistakes).items()}
    with writer.as_default(step=int(step)):
        for tag, array in arrays.items():
            tf.summary.image(tag, array[None], description=DESCRIPTIONS[tag])
    writer.flush()
    return arrays
