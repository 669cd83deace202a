"""The application built on tinygrad_edu: a digit classifier you train, evaluate and use from the command line.

It uses the library the way any user would (``tinygrad_edu.nn``, ``optim``, ``data``) and nothing in the library
imports this package, so ``import tinygrad_edu`` never loads it. Modules:

- ``cli``: ``python -m tinygrad_edu train|evaluate|predict`` (also installed as ``tinygrad-edu``);
- ``training``: the training loop (``fit``), batched ``evaluate`` / ``predict_proba``, the confusion matrix;
- ``checkpoint``: the model file, an ``.npz`` holding the weights, the architecture and the preprocessing;
- ``images``: a photo or drawing of a digit turned into a 28 x 28 MNIST-style input (needs Pillow).
"""
