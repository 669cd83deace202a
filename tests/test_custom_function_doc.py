"""The mistakes docs/custom-function.md shows, each as a test: a user-written Function that is wrong in one
way, and the message it gets. The page's own examples run in test_docs.py; these pin the messages here
too, so a change to one of them shows up as a named failure."""

import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor
from tinygrad_edu.ops import unbroadcast

PAGE = Path(__file__).resolve().parent.parent / "docs" / "custom-function.md"


class MulAdd(tg.Function):
    """z = a * b + a, correct: the base the broken variants below change in one place."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b + a

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * (b + 1), g * a


class AddBias(tg.Function):
    @staticmethod
    def forward(ctx, x, bias):
        ctx.shapes = (x.shape, bias.shape)
        return x + bias

    @staticmethod
    def backward(ctx, g):
        x_shape, bias_shape = ctx.shapes
        return unbroadcast(g, x_shape), unbroadcast(g, bias_shape)


def pair():
    return Tensor(np.array([1.0, 2.0]), requires_grad=True), Tensor(np.array([3.0, 4.0]), requires_grad=True)


def test_the_correct_primitives_pass_gradcheck():
    a, b = pair()
    assert tg.gradcheck(MulAdd.apply, (a, b))
    m, bias = Tensor(np.zeros((2, 3)), requires_grad=True), Tensor(np.arange(3.0), requires_grad=True)
    assert tg.gradcheck(AddBias.apply, (m, bias))


def test_one_gradient_for_two_inputs_is_refused_naming_the_count():
    class OneGradient(MulAdd):
        @staticmethod
        def backward(ctx, g):
            _, b = ctx.saved
            return g * (b + 1)

    with pytest.raises(RuntimeError, match=r"^OneGradient\.backward returned one gradient, but forward took 2 inputs; "
                                           r"return a tuple with one gradient \(or None\) per input$"):
        OneGradient.apply(*pair()).sum().backward()


def test_three_gradients_for_two_inputs_are_refused_naming_both_counts():
    class ThreeGradients(MulAdd):
        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved
            return g * (b + 1), g * a, g

    with pytest.raises(RuntimeError, match=r"ThreeGradients\.backward returned 3 gradients, but forward took 2 inputs"):
        ThreeGradients.apply(*pair()).sum().backward()


def test_a_list_of_gradients_is_refused_with_the_tuple_to_write_instead():
    class ListGradients(MulAdd):
        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved
            return [g * (b + 1), g * a]

    with pytest.raises(TypeError, match=r"ListGradients\.backward returned a list; return a tuple with one gradient "
                                        r"per input \(2 here\), e.g\. return gx, gy"):
        ListGradients.apply(*pair()).sum().backward()


@pytest.mark.parametrize("name", ["forward", "backward"])
def test_a_forgotten_staticmethod_is_refused_when_the_class_is_written(name):
    def plain(ctx, *args):
        return args[0]

    with pytest.raises(TypeError, match=f"NoStaticmethod.{name} must be a @staticmethod: write @staticmethod on "
                                        f"the line above 'def {name}\\(ctx, ...\\)'"):
        type("NoStaticmethod", (MulAdd,), {name: plain})


def test_a_forward_returning_a_float_is_refused_with_how_to_wrap_it():
    class FloatSum(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return float(x.sum())

        @staticmethod
        def backward(ctx, g):
            return g * np.ones(2)

    with pytest.raises(TypeError, match=r"FloatSum\.forward must return a NumPy array, got float; wrap it, "
                                        r"e\.g\. return np\.asarray\(value\)"):
        FloatSum.apply(pair()[0])


def test_a_forward_returning_a_tensor_is_refused_saying_forward_works_on_arrays():
    class TensorForward(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return Tensor(x * 2)

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with pytest.raises(TypeError, match=r"TensorForward\.forward returned a Tensor; forward works on NumPy arrays"):
        TensorForward.apply(pair()[0])


def test_a_gradient_not_unbroadcast_is_refused_naming_both_shapes():
    class NoUnbroadcast(AddBias):
        @staticmethod
        def backward(ctx, g):
            return g, g

    m, bias = Tensor(np.zeros((2, 3)), requires_grad=True), Tensor(np.arange(3.0), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"NoUnbroadcast\.backward returned a gradient of shape \(2, 3\) for an "
                                           r"input of shape \(3,\)"):
        NoUnbroadcast.apply(m, bias).sum().backward()


def test_an_array_only_backward_fails_gradgradcheck_and_the_declared_one_passes():
    class Cube(tg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return g * 3 * x ** 2

    class TwiceDifferentiableCube(Cube):
        differentiable_backward = True

    x = Tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    with pytest.raises(tg.GradcheckError, match=r"analytic 0 vs numeric .*backward sent no gradient"):
        tg.gradgradcheck(Cube.apply, (x,))
    assert tg.gradgradcheck(TwiceDifferentiableCube.apply, (x,))


def test_the_page_shows_every_mistake_tested_here():
    text = PAGE.read_text(encoding="utf-8")
    mistakes = re.findall(r"^\*\*(.+?)\*\*", text.split("## 6. Common mistakes")[1], flags=re.MULTILINE)
    assert mistakes == ["Too few gradients.", "A list instead of a tuple.", "A forgotten `@staticmethod`.",
                        "forward returns a Python float.", "forward returns a Tensor.", "A gradient of the wrong shape."]
