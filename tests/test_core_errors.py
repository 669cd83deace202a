"""Every error path of the core names the op and the offending shapes, dtypes or values."""

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor

A, B = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))


@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "add"),
    (lambda a, b: a - b, "sub"),
    (lambda a, b: a * b, "mul"),
    (lambda a, b: a / b, "div"),
])
def test_broadcast_mismatch_names_the_op_and_both_shapes(op, name):
    with pytest.raises(ValueError, match=rf"{name}: operands with shapes \(2, 3\) and \(4, 5\) cannot be broadcast"):
        op(A, B)


def test_matmul_mismatch_names_both_shapes_and_the_inner_sizes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align: x has 3 columns but y has 4"):
        A @ B


def test_matmul_of_a_scalar_is_refused():
    with pytest.raises(ValueError, match="at least 1-D"):
        Tensor(2.0) @ A


def test_matmul_batch_mismatch_is_named():
    with pytest.raises(ValueError, match=r"matmul \(batch axes\)"):
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((5, 4, 2)))


def test_reshape_to_an_incompatible_shape_names_both():
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into shape \(4, 2\)"):
        A.reshape(4, 2)


def test_transpose_with_a_wrong_permutation_is_named():
    with pytest.raises(ValueError, match=r"not a permutation"):
        A.transpose(0, 0)


def test_reduction_over_a_missing_axis_is_named():
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor with 2 dimensions"):
        A.sum(axis=2)
    with pytest.raises(ValueError, match="same axis twice"):
        A.sum(axis=(1, -1))


def test_max_of_an_empty_tensor_is_refused():
    with pytest.raises(ValueError, match=r"empty tensor of shape \(0,\)"):
        Tensor(np.zeros(0)).max()


def test_out_of_range_index_names_the_shape():
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        A[5]


def test_non_numeric_data_is_refused():
    with pytest.raises(TypeError, match="not numeric"):
        Tensor({"a": 1})


def test_gradcheck_refuses_float32_and_non_grad_inputs():
    with pytest.raises(TypeError, match="input 0 must be a float64 Tensor with requires_grad=True"):
        tg.gradcheck(lambda t: t * 2, (Tensor([1.0], requires_grad=True),))
    with pytest.raises(TypeError, match="input 0"):
        tg.gradcheck(lambda t: t * 2, (Tensor(np.ones(1)),))


def test_gradcheck_refuses_a_function_that_does_not_return_a_tensor():
    with pytest.raises(TypeError, match="must return a Tensor"):
        tg.gradcheck(lambda t: 3.0, (Tensor(np.ones(1), requires_grad=True),))


def test_linear_feature_mismatch_names_both_shapes():
    from tinygrad_edu import ops

    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) has 3 features but the weight of shape \(4, 5\) expects 5"):
        ops.Linear.apply(A, B)
