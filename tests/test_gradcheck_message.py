"""gradcheck's error shows numbers a learner can compare with what they printed: the gradient itself for a
one-element output, and otherwise the random projection named with the line that rebuilds it."""

import re

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor


class HalfSquare(tg.Function):
    """x^2 with a backward that forgets the factor 2: analytic is half of numeric everywhere."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved
        return grad_output * x


def leaf():
    return Tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)


def test_one_element_output_reports_the_gradient_that_backward_puts_in_grad():
    x = leaf()
    HalfSquare.apply(x).sum().backward()
    printed = x.grad.tolist()  # what a learner sees: [0.5, -1.5, 2.0]
    x.zero_grad()
    with pytest.raises(tg.GradcheckError,
                       match=r"at element \(2,\): analytic 2 vs numeric 4 \(the gradient of fn's one-element "
                             r"output itself; tolerance") as caught:
        tg.gradcheck(lambda t: HalfSquare.apply(t).sum(), (x,))
    assert "random r" not in str(caught.value)
    analytic_line = str(caught.value).splitlines()[1]
    assert analytic_line.split(":", 1)[1].split() == ["[", "0.5,", "-1.5,", "2.", "]"]
    assert printed == [0.5, -1.5, 2.0]


def test_a_0d_output_is_not_projected_either():
    x = leaf()
    with pytest.raises(tg.GradcheckError, match=r"analytic 2 vs numeric 4 \(the gradient of fn's one-element"):
        tg.gradcheck(lambda t: HalfSquare.apply(t).sum().reshape(1, 1), (x,))


def test_a_vector_output_names_the_projection_and_how_to_rebuild_it():
    x = leaf()
    with pytest.raises(tg.GradcheckError,
                       match=r"\(derivatives of sum\(fn\(\*inputs\) \* r\) for a fixed random r of shape \(3,\), "
                             r"r = np\.random\.default_rng\(5\)\.standard_normal\(\(3,\)\), what backward\(r\) "
                             r"computes; tolerance") as caught:
        tg.gradcheck(HalfSquare.apply, (x,), seed=5)
    found = re.search(r"at element \((\d),\): analytic (\S+) vs", str(caught.value))
    element, analytic = int(found.group(1)), float(found.group(2))
    # the recipe in the message reproduces the reported analytic number with backward(r)
    r = np.random.default_rng(5).standard_normal((3,))
    HalfSquare.apply(x).backward(r)
    assert analytic == pytest.approx(x.grad.data[element], rel=1e-7)
