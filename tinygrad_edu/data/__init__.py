"""Data for tinygrad_edu: MNIST from wherever it is (IDX, Kaggle CSV, Nielsen's pickle, cache, download),
a mini-batch ``DataLoader``, and MNIST-style preprocessing of digit images.

>>> from tinygrad_edu import data
>>> import numpy as np
>>> batches = data.DataLoader(np.zeros((5, 784), np.float32), np.arange(5), batch_size=4, shuffle=False)
>>> [tuple(xb.shape) for xb, _ in batches]
[(4, 784), (1, 784)]

Modules: ``mnist`` (load_mnist, the lookup order), ``idx`` (IDX files), ``kaggle`` (digit-recognizer CSVs),
``nielsen`` (``mnist.pkl.gz``, hash-checked before unpickling), ``fetch`` (mirrors and the package-index
route), ``loader`` (DataLoader), ``images`` (preprocessing for ``predict``; needs Pillow).
"""

from .files import DataError, sha256_of
from .idx import read_idx, read_idx_pair, write_idx
from .kaggle import read_kaggle_csv, split_kaggle_train, write_kaggle_submission
from .nielsen import NIELSEN_SHA256, read_nielsen_pkl
from .mnist import cache_dir, load_mnist
from .loader import DataLoader
from .images import load_grey, preprocess_image, preprocess_images, render_digit_on_canvas

__all__ = ["load_mnist", "DataLoader", "DataError", "cache_dir", "read_idx", "write_idx", "read_idx_pair",
           "read_kaggle_csv", "split_kaggle_train", "write_kaggle_submission", "read_nielsen_pkl", "NIELSEN_SHA256",
           "sha256_of", "load_grey", "preprocess_image", "preprocess_images", "render_digit_on_canvas"]
