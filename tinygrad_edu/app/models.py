"""The two networks ``tinygrad-edu train`` builds, and the recipe each is trained with: the one place to tune them.

An architecture is a small frozen description that builds its network and is stored in the model file,
so ``evaluate`` and ``predict`` rebuild exactly the network that was trained:

- ``MLPArchitecture((784, 512, 256, 10), "relu")``: ``nn.MLP`` (``--arch 784-512-256-10``);
- ``CNNArchitecture((32, 64, 128))``: the default convolutional network (``--arch cnn``)::

      (n, 784) -> Unflatten -> (n, 1, 28, 28)
      Conv2d(1, 32, 3, padding=1)  - BatchNorm2d(32) - MaxPool2d(2) - ReLU   -> (n, 32, 14, 14)
      Conv2d(32, 64, 3, padding=1) - BatchNorm2d(64) - MaxPool2d(2) - ReLU   -> (n, 64, 7, 7)
      Flatten - Linear(3136, 128) - ReLU - Dropout(0.25) - Linear(128, 10)   -> (n, 10) logits

  Max pooling comes before ReLU: the two commute (ReLU is monotone, so the largest of four values after
  ReLU is ReLU of the largest), and pooling first runs ReLU, forward and backward, on a quarter of the
  values. The network is the usual Conv-BN-ReLU-MaxPool one; a state_dict moves between the two orders.

Both take float32 rows of 784 pixels, so the data path, the preprocessing and the model file are the
same for both. A ``Recipe`` holds what ``train`` uses when the user does not say otherwise.

>>> import numpy as np
>>> from tinygrad_edu import Tensor
>>> cnn = CNNArchitecture()
>>> str(cnn), cnn.inputs, cnn.outputs, f"{cnn.parameter_count():,}"
('cnn 32-64-128', 784, 10, '421,834')
>>> model = cnn.build(seed=0).eval()
>>> model(Tensor(np.zeros((2, 784), dtype=np.float32))).shape
(2, 10)
>>> RECIPES["cnn"].epochs, RECIPES["cnn"].augment_shift, RECIPES["mlp"].epochs
(8, 2, 8)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import nn

IMAGE_SIDE = 28  # the networks read MNIST-sized images: rows of 28 * 28 = 784 pixels
CLASSES = 10     # digits 0..9

# ---- the recipes: what `train` does unless told otherwise ------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How a network is trained by default.

    ``augment_shift``: each training image is moved by a random whole number of pixels in
    ``[-augment_shift, augment_shift]`` along each axis, anew every epoch (0: no augmentation; see
    ``augment.random_shift``). ``eval_batch_size``: images per forward pass when testing, small
    enough for the convolution's intermediate arrays to stay within a few hundred MB.
    """

    epochs: int
    batch_size: int
    lr: float
    optimizer: str        # "adam" or "sgd" (Nesterov momentum 0.9)
    schedule: str         # "cosine" (per step, to 0 at the last step), "step" (x0.3 every third of the run), "none"
    augment_shift: int
    eval_batch_size: int


# The MLP's recipe, chosen by measurement on MNIST (see the README for accuracy and time).
MLP_ARCH = "784-512-256-10"
MLP_RECIPE = Recipe(epochs=8, batch_size=128, lr=1e-3, optimizer="adam", schedule="cosine", augment_shift=0,
                    eval_batch_size=2000)

# The CNN: channels of the two convolutions, then the hidden units of the classifier.
CNN_WIDTHS = (32, 64, 128)
CNN_DROPOUT = 0.25
CNN_RECIPE = Recipe(epochs=8, batch_size=128, lr=1e-3, optimizer="adam", schedule="cosine", augment_shift=2,
                    eval_batch_size=256)

RECIPES = {"mlp": MLP_RECIPE, "cnn": CNN_RECIPE}


# ---- the architectures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPArchitecture:
    """``nn.MLP(sizes, activation)``: Linear layers of these sizes (input first) with ``activation`` between.

    >>> arch = MLPArchitecture((784, 32, 10))
    >>> str(arch), arch.parameter_count(), arch.record()
    ('784-32-10', 25450, {'kind': 'mlp', 'sizes': [784, 32, 10], 'activation': 'relu'})
    """

    sizes: tuple
    activation: str = "relu"
    kind: ClassVar[str] = "mlp"

    @property
    def inputs(self) -> int:
        return int(self.sizes[0])

    @property
    def outputs(self) -> int:
        return int(self.sizes[-1])

    def parameter_count(self) -> int:
        return sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(self.sizes))

    def build(self, seed=None, dtype=np.float32) -> nn.MLP:
        """The network, initialised from ``seed`` (None: the package's default generator)."""
        return nn.MLP(list(self.sizes), activation=self.activation, seed=seed, dtype=dtype)

    def record(self) -> dict:
        """What the model file stores under ``architecture``."""
        return {"kind": self.kind, "sizes": [int(s) for s in self.sizes], "activation": str(self.activation)}

    def __str__(self) -> str:
        return "-".join(str(int(s)) for s in self.sizes)


@dataclass(frozen=True)
class CNNArchitecture:
    """The default convolutional network (see the module docstring) with ``widths = (conv1, conv2, hidden)``.

    ``classes`` output logits; ``dropout`` is the probability before the last layer. BatchNorm keeps
    running statistics (buffers in the ``state_dict``) that ``model.eval()`` normalises with.

    >>> CNNArchitecture((8, 16, 32)).record()
    {'kind': 'cnn', 'widths': [8, 16, 32], 'classes': 10, 'dropout': 0.25, 'image': [1, 28, 28]}
    """

    widths: tuple = CNN_WIDTHS
    classes: int = CLASSES
    dropout: float = CNN_DROPOUT
    kind: ClassVar[str] = "cnn"

    @property
    def inputs(self) -> int:
        return IMAGE_SIDE * IMAGE_SIDE

    @property
    def outputs(self) -> int:
        return int(self.classes)

    @property
    def flat_features(self) -> int:
        """Features after the second pooling: conv2 channels x 7 x 7 (two halvings of 28)."""
        return int(self.widths[1]) * (IMAGE_SIDE // 4) ** 2

    def parameter_count(self) -> int:
        c1, c2, hidden = (int(w) for w in self.widths)
        convolutions = (1 * 9 * c1 + c1) + (c1 * 9 * c2 + c2)
        batch_norms = 2 * c1 + 2 * c2
        return convolutions + batch_norms + (self.flat_features * hidden + hidden) + (hidden * self.classes
                                                                                      + self.classes)

    def build(self, seed=None, dtype=np.float32) -> nn.Sequential:
        """The network: init and dropout masks drawn from ``seed`` (None: the package's default generator)."""
        c1, c2, hidden = (int(w) for w in self.widths)
        rng = np.random.default_rng(seed) if seed is not None else None
        return nn.Sequential(
            nn.Unflatten(1, (1, IMAGE_SIDE, IMAGE_SIDE)),
            nn.Conv2d(1, c1, 3, padding=1, dtype=dtype, rng=rng), nn.BatchNorm2d(c1, dtype=dtype),
            nn.MaxPool2d(2), nn.ReLU(),                  # pooling first: ReLU on a quarter of the values
            nn.Conv2d(c1, c2, 3, padding=1, dtype=dtype, rng=rng), nn.BatchNorm2d(c2, dtype=dtype),
            nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(self.flat_features, hidden, dtype=dtype, rng=rng), nn.ReLU(),
            nn.Dropout(self.dropout, rng=rng),
            nn.Linear(hidden, self.classes, dtype=dtype, rng=rng))

    def record(self) -> dict:
        """What the model file stores under ``architecture``."""
        return {"kind": self.kind, "widths": [int(w) for w in self.widths], "classes": int(self.classes),
                "dropout": float(self.dropout), "image": [1, IMAGE_SIDE, IMAGE_SIDE]}

    def __str__(self) -> str:
        return "cnn " + "-".join(str(int(w)) for w in self.widths)
