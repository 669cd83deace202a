"""The package's one default random generator, and ``manual_seed`` to make it reproducible.

Every random choice tinygrad_edu makes without an explicit ``seed=`` or ``rng=`` draws from one
``numpy.random.Generator`` held here: ``Tensor.randn`` and ``Tensor.uniform``, the ``nn.init``
functions, the default init of layers such as ``nn.Linear``, ``nn.Dropout`` and ``F.dropout`` masks,
and the order in which a ``DataLoader`` built without a seed shuffles. ``manual_seed(s)`` resets that
generator (as ``torch.manual_seed`` resets PyTorch's), so a program that calls it first repeats
exactly, run after run. An explicit ``seed=`` or ``rng=`` always wins and leaves the default generator
untouched.

Until ``manual_seed`` is called, the generator is seeded from the operating system's entropy, so
unseeded runs differ.

>>> import tinygrad_edu.random as random
>>> _ = random.manual_seed(0)
>>> first = random.generator().random(3)
>>> _ = random.manual_seed(0)
>>> bool((random.generator().random(3) == first).all())
True
>>> random.generator(seed=5) is random.generator()     # an explicit seed gets a generator of its own
False
"""

from __future__ import annotations

import numbers

import numpy as np

# One object for the whole life of the process: manual_seed resets its state in place, so a module
# that looked it up earlier still holds the generator that manual_seed controls.
_default = np.random.Generator(np.random.PCG64())


def _check_seed(seed, fn: str = "") -> int:
    """``seed`` as a Python int: a non-negative integer (``bool`` and ``3.0`` are refused).

    ``fn`` names the function the user called, for the error message.
    """
    where = f"{fn}: " if fn else ""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{where}seed must be a non-negative integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{where}seed must be a non-negative integer, got {seed}")
    return int(seed)


def manual_seed(seed) -> np.random.Generator:
    """Reset the package's default generator to a state determined by ``seed``; return it.

    Args:
        seed: a non-negative integer (Python or NumPy). The same seed gives the same sequence of
            draws: after ``manual_seed(s)``, the same program makes the same random choices.

    Raises:
        TypeError: ``seed`` is not an integer (a float, a string, ``None``, ``True``).
        ValueError: ``seed`` is negative.

    >>> gen = manual_seed(42)
    >>> gen is generator()
    True
    """
    seed = _check_seed(seed, "manual_seed")
    _default.bit_generator.state = np.random.PCG64(seed).state
    return _default


def generator(seed=None, rng=None) -> np.random.Generator:
    """The generator a random operation should draw from.

    Args:
        seed: a non-negative integer: a fresh ``numpy.random.Generator`` seeded with it (the same seed
            gives the same draws, independently of the default generator).
        rng: a ``numpy.random.Generator`` to draw from as it is (its state advances).

    Returns:
        ``rng`` if given, else a new generator seeded with ``seed`` if given, else the package's
        default generator (the one ``manual_seed`` resets).

    Raises:
        ValueError: both ``seed`` and ``rng`` are given, or ``seed`` is negative.
        TypeError: ``rng`` is not a ``numpy.random.Generator``, or ``seed`` is not an integer.

    >>> a, b = generator(seed=3).random(), generator(seed=3).random()
    >>> a == b
    True
    """
    if seed is not None and rng is not None:
        raise ValueError("pass either seed= or rng=, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is None:
        return _default
    return np.random.default_rng(_check_seed(seed))


__all__ = ["generator", "manual_seed"]
