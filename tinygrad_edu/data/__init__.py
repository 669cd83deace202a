"""Data for tinygrad_edu: MNIST from wherever it is (IDX, Kaggle CSV, Nielsen's pickle, cache, download),
and a mini-batch ``DataLoader``.

>>> from tinygrad_edu import data
>>> import numpy as np
>>> batches = data.DataLoader(np.zeros((5, 784), np.float32), np.arange(5), batch_size=4, shuffle=False)
>>> [tuple(xb.shape) for xb, _ in batches]
[(4, 784), (1, 784)]

Modules: ``mnist`` (load_mnist, the lookup order), ``idx`` (IDX files), ``kaggle`` (digit-recognizer CSVs),
``nielsen`` (``mnist.pkl.gz``, hash-checked before unpickling), ``fetch`` (mirrors and the package-index
route), ``loader`` (DataLoader). Turning a photo of a digit into an MNIST-style input is the
application's job: ``tinygrad_edu.app.images``.
"""

from .files import DataError, sha256_of
from .idx import read_idx, read_idx_pair, write_idx
from .kaggle import read_kaggle_csv, split_kaggle_train, write_kaggle_submission
from .loader import DataLoader
from .mnist import cache_dir, load_mnist
from .nielsen import NIELSEN_SHA256, read_nielsen_pkl

__all__ = ["NIELSEN_SHA256", "DataError", "DataLoader", "cache_dir", "load_mnist", "read_idx", "read_idx_pair",
           "read_kaggle_csv", "read_nielsen_pkl", "sha256_of", "split_kaggle_train", "write_idx",
           "write_kaggle_submission"]
