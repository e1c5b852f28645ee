"""Tests for lowtf.images: formats, channels, sizes, inversion and errors."""

import struct

import numpy as np
import pytest
import tensorflow as tf

from lowtf.errors import ConfigError, DataError
from lowtf.images import load_image, load_images


def picture(height, width, channels=1, object_value=255, background=0, dtype=np.uint8):
    """An image with a filled rectangle in the middle third on a plain background."""
    image = np.full((height, width, channels), background, dtype=dtype)
    image[height // 3: 2 * height // 3, width // 3: 2 * width // 3] = object_value
    return image


def write_png(path, image):
    tf.io.write_file(str(path), tf.io.encode_png(image))
    return path


def write_jpeg(path, image):
    tf.io.write_file(str(path), tf.io.encode_jpeg(image, quality=95))
    return path


def write_bmp(path, image):
    """Write an RGB uint8 image as a 24-bit BMP (TensorFlow has no BMP encoder)."""
    height, width, _ = image.shape
    row_size = (3 * width + 3) // 4 * 4
    rows = b"".join(image[y, :, ::-1].tobytes().ljust(row_size, b"\0") for y in reversed(range(height)))
    header = b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    path.write_bytes(header + info + rows)
    return path


def write_gif(path, rgb):
    """Write a 1x1 GIF whose single pixel has colour `rgb`."""
    path.write_bytes(
        b"GIF89a" + struct.pack("<HH", 1, 1) + bytes([0x80, 0, 0]) + bytes(rgb) + b"\xff\xff\xff"
        + b"," + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00\x02\x02\x44\x01\x00;"
    )
    return path


def centre_and_corner(flat, size=28):
    image = flat.reshape(size, size)
    return image[size // 2, size // 2], image[0, 0]


def check_light_on_dark(flat, size=28):
    assert flat.dtype == np.float32 and flat.shape == (size * size,)
    assert 0.0 <= flat.min() and flat.max() <= 1.0
    centre, corner = centre_and_corner(flat, size)
    assert centre > 0.9 and corner < 0.1


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("writer", [write_png, write_jpeg])
def test_light_on_dark_is_kept(tmp_path, writer, channels):
    path = writer(tmp_path / "img", picture(60, 60, channels))
    check_light_on_dark(load_image(path))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("writer", [write_png, write_jpeg])
def test_dark_on_light_is_inverted(tmp_path, writer, channels):
    path = writer(tmp_path / "img", picture(60, 60, channels, object_value=0, background=255))
    check_light_on_dark(load_image(path))


def test_auto_uses_background_not_overall_mean(tmp_path):
    image = np.full((30, 30, 1), 255, np.uint8)
    image[2:-2, 2:-2] = 20
    path = write_png(tmp_path / "big_dark_object.png", image)
    check_light_on_dark(load_image(path))


def test_explicit_invert(tmp_path):
    path = write_png(tmp_path / "img.png", picture(28, 28))
    kept, flipped = load_image(path, invert=False), load_image(path, invert=True)
    np.testing.assert_allclose(kept + flipped, 1.0, atol=1e-6)
    assert centre_and_corner(flipped) == (0.0, 1.0)
    dark = write_png(tmp_path / "dark.png", picture(28, 28, object_value=0, background=255))
    assert centre_and_corner(load_image(dark, invert=False)) == (0.0, 1.0)


def test_exact_28x28_gray_png_is_unchanged(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
    image[0, :] = 0
    flat = load_image(write_png(tmp_path / "img.png", image), invert=False)
    np.testing.assert_allclose(flat, image.reshape(-1) / 255.0, atol=1e-6)


@pytest.mark.parametrize("object_value,transparent", [(0, "dark object"), (255, "light object")])
def test_rgba_transparent_background(tmp_path, object_value, transparent):
    image = np.zeros((40, 40, 4), np.uint8)
    image[..., :3] = 128
    image[13:27, 13:27] = [object_value] * 3 + [255]
    check_light_on_dark(load_image(write_png(tmp_path / "rgba.png", image)))


def test_gray_alpha_png(tmp_path):
    image = np.zeros((40, 40, 2), np.uint8)
    image[13:27, 13:27] = [0, 255]
    check_light_on_dark(load_image(write_png(tmp_path / "la.png", image)))


def test_sixteen_bit_png(tmp_path):
    path = write_png(tmp_path / "deep.png", picture(28, 28, object_value=65535, dtype=np.uint16))
    check_light_on_dark(load_image(path))


@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (200, 120), (15, 12)])
@pytest.mark.parametrize("size", [28, 16])
def test_sizes(tmp_path, shape, size):
    path = write_png(tmp_path / "img.png", picture(*shape, channels=3))
    check_light_on_dark(load_image(path, size=size), size=size)


def test_keep_aspect_pads_instead_of_stretching(tmp_path):
    image = np.zeros((28, 56, 1), np.uint8)
    image[:, 14:42] = 255
    path = write_png(tmp_path / "wide.png", image)
    padded = load_image(path, invert=False).reshape(28, 28)
    stretched = load_image(path, invert=False, keep_aspect=False).reshape(28, 28)
    assert padded[0].max() == 0.0 and padded[14, 14] == pytest.approx(1.0)
    assert stretched[0, 14] == pytest.approx(1.0) and stretched[14, 0] == 0.0


def test_bmp_and_gif(tmp_path):
    check_light_on_dark(load_image(write_bmp(tmp_path / "img.bmp", picture(30, 30, 3))))
    np.testing.assert_allclose(load_image(write_gif(tmp_path / "black.gif", [0, 0, 0])), 0.0)
    np.testing.assert_allclose(load_image(write_gif(tmp_path / "white.gif", [255, 255, 255]), invert=False), 1.0)


def test_load_images(tmp_path):
    paths = [write_png(tmp_path / f"{i}.png", picture(20 + i, 30, 3)) for i in range(3)]
    batch = load_images(paths, size=16)
    assert batch.shape == (3, 256) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1], load_image(paths[1], size=16))
    assert load_images([]).shape == (0, 784)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_garbage_file(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a readable image") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_truncated_png(tmp_path):
    data = tf.io.encode_png(picture(64, 64, 3)).numpy()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=str(path)):
        load_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope.png'}: image file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(DataError, match="is not a file"):
        load_image(tmp_path)
    with pytest.raises(DataError, match="nope.png"):
        load_images([write_png(tmp_path / "ok.png", picture(28, 28)), tmp_path / "nope.png"])


@pytest.mark.parametrize("kwargs", [{"size": 0}, {"size": 2.5}, {"size": True}, {"invert": "maybe"}, {"invert": 1}])
def test_bad_arguments(tmp_path, kwargs):
    path = write_png(tmp_path / "img.png", picture(28, 28))
    with pytest.raises(ConfigError):
        load_image(path, **kwargs)
