"""Turn user image files into model inputs shaped like Fashion-MNIST.

Fashion-MNIST images are light objects on a black background, 28x28 gray.
Photos and drawings are usually the opposite (dark on white), in colour, of
any size and sometimes transparent, so each file is flattened onto a
background, made gray, inverted when needed, padded to a square and resized.
"""

import numbers
import os

import numpy as np
import tensorflow as tf

from lowtf.errors import ConfigError, DataError

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def load_image(path, size=28, invert="auto", keep_aspect=True):
    """Load an image file as a flat float32 vector of size*size pixels in [0, 1].

    Args:
        path: a PNG, JPEG, BMP or GIF file (the first frame of an animation).
        size: the side of the square output, 28 for Fashion-MNIST models.
        invert: "auto" inverts dark-on-light images (background brightness,
            the median of the border pixels, above 0.5), True always inverts,
            False never does.
        keep_aspect: pad a non-square image to a square with its background
            colour before resizing, instead of stretching it.

    Returns:
        np.ndarray of float32, shape [size * size].

    Raises:
        ConfigError: bad size or invert.
        DataError: the file is missing or is not a readable image.
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ConfigError(f"size must be a positive integer, got {size!r}.")
    if invert != "auto" and not isinstance(invert, bool):
        raise ConfigError(f'invert must be "auto", True or False, got {invert!r}.')
    gray = _to_gray(_decode(os.fspath(path)))
    if invert is True or (invert == "auto" and _background(gray) > 0.5):
        gray = 1.0 - gray
    if keep_aspect:
        gray = _pad_to_square(gray)
    resized = tf.image.resize(gray[:, :, None], [size, size], antialias=True)
    return np.clip(resized.numpy().reshape(-1), 0.0, 1.0)


def load_images(paths, size=28, invert="auto", keep_aspect=True):
    """Load several image files as a float32 array of shape [n, size * size].

    Args and Raises: as for `load_image`, applied to each path.
    """
    images = [load_image(path, size=size, invert=invert, keep_aspect=keep_aspect) for path in paths]
    if not images:
        return np.zeros((0, size * size), dtype=np.float32)
    return np.stack(images)


def _decode(path):
    """Read and decode an image file to float32 [height, width, channels] in [0, 1]."""
    if not os.path.exists(path):
        raise DataError(f"{path}: image file not found.")
    if not os.path.isfile(path):
        raise DataError(f"{path}: is not a file; expected a PNG, JPEG, BMP or GIF image.")
    try:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, dtype=tf.float32, expand_animations=False)
    except (tf.errors.OpError, ValueError) as exc:
        reason = getattr(exc, "message", str(exc)).strip().splitlines()[0]
        raise DataError(
            f"{path}: not a readable image ({reason}). Use a PNG, JPEG, BMP or GIF file."
        ) from exc
    image = image.numpy()
    if image.size == 0:
        raise DataError(f"{path}: the image has no pixels.")
    return image


def _to_gray(image):
    """Flatten transparency and colour: [h, w, c] -> gray [h, w]."""
    channels = image.shape[-1]
    color, alpha = (image[..., :-1], image[..., -1:]) if channels in (2, 4) else (image, None)
    gray = color @ _LUMA if color.shape[-1] == 3 else color[..., 0]
    if alpha is not None:
        alpha = alpha[..., 0]
        weight = alpha.sum()
        content = (gray * alpha).sum() / weight if weight > 0 else 0.0
        background = 1.0 if content < 0.5 else 0.0
        gray = gray * alpha + background * (1.0 - alpha)
    return gray.astype(np.float32)


def _background(gray):
    """Estimate the background brightness as the median of the edge pixels.

    The median ignores an object that touches the edge, where the mean of the
    whole image would be swayed by a large object.
    """
    return float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))


def _pad_to_square(gray):
    """Centre a 2-D image on a square filled with its background colour."""
    height, width = gray.shape
    side = max(height, width)
    if height == width:
        return gray
    top, left = (side - height) // 2, (side - width) // 2
    padding = ((top, side - height - top), (left, side - width - left))
    return np.pad(gray, padding, constant_values=_background(gray))
