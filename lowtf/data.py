"""`lt.data`: everything about data in one namespace.

Data sets (`load_dataset`, Fashion-MNIST and MNIST from IDX files), IDX files
(`read_idx`, `write_idx`), image files (`load_image(s)`), batching helpers
(`array_batches`, `eval_batches`) and the warning for unscaled float images.
"""

from lowtf.datasets import (FASHION_MNIST_CLASS_NAMES, MNIST_CLASS_NAMES, DataSplits, Split,
                            find_dataset, load_dataset, load_fashion_mnist, load_mnist)
from lowtf.feeds import array_batches, eval_batches
from lowtf.idx import read_idx, write_idx
from lowtf.images import load_image, load_images
from lowtf.inputs import InputScaleWarning

__all__ = ["FASHION_MNIST_CLASS_NAMES", "MNIST_CLASS_NAMES", "DataSplits", "InputScaleWarning",
           "Split", "array_batches", "eval_batches", "find_dataset", "load_dataset",
           "load_fashion_mnist", "load_image", "load_images", "load_mnist", "read_idx",
           "write_idx"]
