"""Hypothesis strategies for float64 test inputs that stay away from kinks and outside domains by construction.

Values are drawn from a range and then *moved* out of a small gap around each kink (0 for relu/abs,
the bounds for clip), rather than filtered: every drawn example is used.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg

GAP = 1e-2  # finite differences use eps = 1e-6, so a kink further than GAP away is never crossed


def push_away(value, kinks, gap=GAP):
    """``value`` moved to the nearer side of [k - gap, k + gap] for every kink k it falls into."""
    for k in kinks:
        if abs(value - k) < gap:
            value = k + gap if value >= k else k - gap
    return value


def floats(lo=-3.0, hi=3.0, kinks=()):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda v: push_away(v, kinks))


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape, lo=-3.0, hi=3.0, kinks=()):
    return hnp.arrays(np.float64, shape, elements=floats(lo, hi, kinks))


@st.composite
def distinct_arrays(draw, shape, spacing=0.37):
    """Arrays whose elements differ pairwise by at least ``spacing`` (no ties: max has one winner)."""
    n = int(np.prod(shape))
    order = draw(st.permutations(range(n)))
    jitter = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 0.1)))
    return ((np.asarray(order, dtype=np.float64) - n / 2) * spacing + jitter).reshape(shape)


@st.composite
def axis_for(draw, ndim):
    """None, one axis (possibly negative) or a tuple of distinct axes of an ``ndim``-dim array."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


def leaf(array):
    return tg.Tensor(np.array(array, dtype=np.float64), requires_grad=True)
