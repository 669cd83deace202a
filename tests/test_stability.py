"""softmax, log_softmax and sigmoid stay finite and correct for inputs of magnitude 1e4, float32 and float64."""

import numpy as np
import pytest

from tinygrad_edu import Tensor

DTYPES = [np.float32, np.float64]
BIG = 1e4


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_huge_logits_is_finite_and_exact(dtype):
    x = Tensor(np.array([[BIG, 0.0, -BIG], [BIG, BIG, -BIG]], dtype=dtype), requires_grad=True)
    s = x.softmax()
    assert s.dtype == dtype and np.isfinite(s.data).all()
    np.testing.assert_allclose(s.data, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-7)
    s[:, 0].sum().backward()
    assert np.isfinite(x.grad.data).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_of_huge_logits_is_finite_and_exact(dtype):
    x = Tensor(np.array([[BIG, 0.0, -BIG]], dtype=dtype), requires_grad=True)
    out = x.log_softmax()
    assert out.dtype == dtype and np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, [[0.0, -BIG, -2 * BIG]], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, [[1 - 3, 1, 1]], atol=1e-6)  # 1 - 3 * softmax


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_of_huge_inputs_is_finite_and_exact(dtype):
    x = Tensor(np.array([-BIG, -50.0, 0.0, 50.0, BIG], dtype=dtype), requires_grad=True)
    s = x.sigmoid()
    assert s.dtype == dtype and np.isfinite(s.data).all()
    np.testing.assert_allclose(s.data, [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], rtol=1e-6, atol=0)
    s.sum().backward()
    assert np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(x.grad.data[2], 0.25)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_of_huge_values_is_exact(dtype):
    x = Tensor(np.array([BIG, BIG], dtype=dtype))
    np.testing.assert_allclose(x.logsumexp().item(), BIG + np.log(2), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_float32_computation_is_upcast(dtype):
    """Numbers mixed into a computation take the tensor's dtype, so a float32 graph stays float32."""
    x = Tensor(np.ones((2, 3), dtype=dtype), requires_grad=True)
    y = ((x * 2.5 + 1) / 3 - 0.5) ** 2
    out = (y.exp().log().sigmoid().tanh().relu().softmax().log_softmax() @ np.ones((3, 1), dtype)).mean()
    assert out.dtype == dtype
    out.backward()
    assert x.grad.dtype == dtype
