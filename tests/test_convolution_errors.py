"""Bad input to the convolution, pooling and normalisation functions gets a ValueError that names the
shapes involved; batch_norm's running statistics follow PyTorch's update rule in place."""

import numpy as np
import pytest

import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, ops


def _x(*shape):
    return Tensor(np.zeros(shape))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.conv2d(_x(1, 3, 5, 5), _x(4, 2, 3, 3)),
     r"the input has 3 channels \(shape \(1, 3, 5, 5\)\) but the weight \(4, 2, 3, 3\) with groups=1 expects 2"),
    (lambda: F.conv2d(_x(1, 2, 5, 5), _x(4, 2, 7, 3)),
     r"the kernel \(7, 3\) .* is larger than the padded input \(5, 5\) \(input \(1, 2, 5, 5\), padding \(0, 0\)\)"),
    (lambda: F.conv2d(_x(1, 2, 5, 5), _x(4, 2, 3, 3), dilation=3),
     r"the kernel \(3, 3\) \(spanning \(7, 7\) with dilation \(3, 3\)\) is larger than the padded input"),
    (lambda: F.conv2d(_x(2, 5, 5), _x(4, 2, 3, 3)),
     r"conv2d: expected a 4-D input \(N, C, H, W\), got shape \(2, 5, 5\) \(add the batch axis"),
    (lambda: F.conv2d(_x(1, 3, 5, 5), _x(4, 1, 3, 3), groups=2),
     r"groups=2 must divide both the input's 3 channels \(input \(1, 3, 5, 5\)\) and the weight's 4 output"),
    (lambda: F.conv2d(_x(1, 2, 5, 5), _x(3, 1, 3, 3), groups=2),
     r"groups=2 must divide .* the weight's 3 output channels \(weight \(3, 1, 3, 3\)\)"),
    (lambda: F.conv2d(_x(1, 2, 5, 5), _x(4, 2, 3, 3), padding=-1), r"conv2d: padding must be >= 0, got \(-1, -1\)"),
    (lambda: F.conv2d(_x(1, 2, 5, 5), _x(4, 2, 3), padding=1), r"expected a 4-D weight .* got shape \(4, 2, 3\)"),
    (lambda: F.conv2d(_x(1, 2, 5, 5), _x(4, 2, 3, 3), _x(3)),
     r"bias must have shape \(4,\) for a weight of shape \(4, 2, 3, 3\), got \(3,\)"),
    (lambda: F.max_pool2d(_x(3, 4, 4), 2), r"max_pool2d: expected a 4-D input \(N, C, H, W\), got shape \(3, 4, 4\)"),
    (lambda: F.max_pool2d(_x(1, 1, 4, 4), 2, padding=2), r"padding \(2, 2\) must be at most half the kernel \(2, 2\)"),
    (lambda: F.avg_pool2d(_x(1, 1, 2, 2), (3, 5)),
     r"avg_pool2d: the kernel \(3, 5\) .* is larger than the padded input \(2, 2\)"),
    (lambda: F.unfold(_x(1, 1, 4, 4), 2, stride=0), r"kernel_size, stride and dilation must be >= 1, got kernel_size=\(2, 2\), stride=\(0, 0\)"),
    (lambda: F.unfold(_x(1, 1, 4, 4), (2, 2, 2)), r"unfold: kernel_size must be an int or a pair of ints, got \(2, 2, 2\)"),
    (lambda: F.fold(_x(1, 5, 9), (4, 4), 2), r"fold: the input's 5 rows \(shape \(1, 5, 9\)\) are not a multiple of kH\*kW = 4"),
    (lambda: F.fold(_x(1, 4, 8), (4, 4), 2),
     r"fold: an input of shape \(1, 4, 8\) has 8 columns, but 9 windows of kernel \(2, 2\) fit output_size \(4, 4\)"),
    (lambda: F.fold(_x(4, 8), (4, 4), 2), r"fold: expected a 3-D input \(N, C\*kH\*kW, L\), got shape \(4, 8\)"),
    (lambda: F.pad(_x(2, 3), (1, 1, 1)), r"pad tuple must hold \(before, after\) pairs for at most 2 axes .* got \(1, 1, 1\)"),
    (lambda: F.batch_norm(_x(4, 3, 2, 2), np.zeros(2), np.ones(2)),
     r"batch_norm: running_mean has shape \(2,\) but the input \(4, 3, 2, 2\) has 3 features"),
    (lambda: F.batch_norm(_x(1, 3), np.zeros(3), np.ones(3), training=True),
     r"expected more than 1 value per channel when training, got input of shape \(1, 3\)"),
    (lambda: F.batch_norm(_x(4, 3), None, None), r"evaluation \(training=False\) needs running_mean and running_var"),
    (lambda: F.batch_norm(_x(3), None, None, training=True), r"at least 2 axes, got shape \(3,\)"),
    (lambda: F.layer_norm(_x(2, 3, 4), (3,)),
     r"layer_norm: normalized_shape \(3,\) must equal the trailing axes of the input, got shape \(2, 3, 4\)"),
], ids=["channels", "kernel_too_large", "dilated_kernel_too_large", "3d_input", "groups_input", "groups_output",
        "negative_padding", "3d_weight", "bias_shape", "pool_3d_input", "pool_padding", "pool_kernel_too_large",
        "zero_stride", "kernel_triple", "fold_rows", "fold_columns", "fold_2d_input", "pad_odd_tuple",
        "batch_norm_features", "batch_norm_batch_of_one", "batch_norm_eval_without_stats", "batch_norm_1d",
        "layer_norm_shape"])
def test_bad_input_names_the_shapes(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_batch_norm_updates_running_statistics_in_place_as_pytorch_does():
    """running = (1 - momentum) * running + momentum * batch statistic, the variance unbiased; three steps
    against torch's F.batch_norm when torch is installed, against the formula otherwise."""
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((4, 3, 2, 2)) * (i + 1) + i for i in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    expected_mean, expected_var = np.zeros(3), np.ones(3)
    for x in batches:
        F.batch_norm(Tensor(x), mean, var, training=True, momentum=0.2)
        expected_mean = 0.8 * expected_mean + 0.2 * x.mean(axis=(0, 2, 3))
        expected_var = 0.8 * expected_var + 0.2 * x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(var, expected_var, rtol=1e-12)
    torch = pytest.importorskip("torch", reason="the comparison with PyTorch needs torch installed")
    torch_mean, torch_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for x in batches:
        torch.nn.functional.batch_norm(torch.tensor(x), torch_mean, torch_var, training=True, momentum=0.2)
    np.testing.assert_allclose(mean, torch_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var, torch_var.numpy(), rtol=1e-12)


def test_conv2d_of_float32_stays_float32_and_matches_the_float64_result():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    single = F.conv2d(Tensor(x.astype(np.float32)), Tensor(w.astype(np.float32)), padding=1, stride=(2, 1))
    double = F.conv2d(Tensor(x), Tensor(w), padding=1, stride=(2, 1))
    assert single.dtype == np.float32
    np.testing.assert_allclose(single.data, double.data, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True], ids=["windows channels first", "windows channels last"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.bool_])
def test_conv2d_of_integer_images_in_a_float32_layer_is_float32_and_equals_the_float_images(dtype, channels_last,
                                                                                           monkeypatch):
    """Integer (and boolean) images, which do not widen float32, go into a float32 layer as they are: the
    result is float32 and equals the convolution of the same images given as float32, with the windows
    laid out either way, and (channels first) in both product layouts (3 and 8 input channels)."""
    monkeypatch.setattr(ops, "_windows_channels_last", lambda *geometry: channels_last)
    rng = np.random.default_rng(2)
    for channels in (3, 8):
        x = rng.integers(0, 2 if dtype is np.bool_ else 200, size=(2, channels, 5, 4)).astype(dtype)
        w = Tensor(rng.standard_normal((4, channels, 3, 3)).astype(np.float32))
        out = F.conv2d(Tensor(x), w, padding=1)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.data, F.conv2d(Tensor(x.astype(np.float32)), w, padding=1).data, rtol=1e-6)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: F.conv2d(_x(1, 1, 4, 4), Tensor(np.zeros((2, 1, 3, 3), np.float32))), TypeError,
     r"conv2d: input is float64 but the weight is float32; convert the input first"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 1, 4, 4), np.float32)), Tensor(np.zeros((2, 1, 3, 3), np.float32)), _x(2)),
     TypeError, r"conv2d: the bias is float64 but the weight is float32; give both one dtype"),
    (lambda: nn.Conv2d(3, 8, 0), ValueError, r"Conv2d: kernel_size must be at least 1 on both axes, got \(0, 0\)"),
    (lambda: nn.Conv2d(3, 8, 3.0), TypeError, r"Conv2d: kernel_size must be an int or a pair of ints, got 3\.0"),
    (lambda: nn.Conv2d(3, 8, 3, padding="same"), TypeError, r"padding must be .* got 'same' \(sizes given by name"),
    (lambda: F.pad(_x(1, 5), (-3, -3)), ValueError, r"pad: the negative widths \(-3, -3\) crop more than the input of shape \(1, 5\)"),
    (lambda: F.batch_norm(_x(4, 3), np.zeros(3, np.int64), np.ones(3, np.int64), training=True), TypeError,
     r"batch_norm: running_mean and running_var must be floating-point arrays .* got int64 and int64"),
    (lambda: F.pad(_x(4), (2, -5)), ValueError, r"pad: the negative widths \(2, -5\) crop more than the input of shape \(4,\)"),
    (lambda: F.pad(_x(4), (1.5, 1)), TypeError, r"pad: the pad widths must be ints, got \(1\.5, 1\)"),
    (lambda: F.fold(_x(1, 9, 4), (3, 3), 2, stride=0), ValueError,
     r"fold: kernel_size, stride and dilation must be >= 1, got kernel_size=\(2, 2\), stride=\(0, 0\)"),
    (lambda: F.fold(_x(1, 9, 4), (3, 3), 0), ValueError, r"fold: kernel_size, stride and dilation must be >= 1"),
    (lambda: F.conv2d(_x(1, 3, 5, 5), _x(0, 3, 3, 3)), ValueError, r"conv2d: the weight \(0, 3, 3, 3\) has no output channels"),
    (lambda: F.conv2d(_x(1, 4, 5, 5), _x(2, 2, 3, 3), groups=2.0), TypeError, r"conv2d: groups must be a positive int, got 2\.0"),
    (lambda: F.conv2d(_x(1, 4, 5, 5), _x(2, 4, 3, 3), stride=True), TypeError, r"conv2d: stride must be an int or a pair"),
    (lambda: F.layer_norm(_x(2, 3, 6), (6,), None, _x(3, 1, 6)), ValueError,
     r"layer_norm: bias has shape \(3, 1, 6\) but must have the shape normalized_shape \(6,\)"),
    (lambda: F.batch_norm(_x(4, 3), np.zeros(3), np.ones(3), training=True, momentum=None), TypeError,
     r"batch_norm: momentum must be a number to update the running statistics"),
], ids=["float64_input_float32_weight", "float64_bias_float32_weight", "zero_kernel", "float_kernel", "padding_same", "pad_crops_too_much",
        "integer_running_statistics", "pad_crops_more_than_the_input_after_padding", "pad_float_width", "fold_zero_stride",
        "fold_zero_kernel", "conv_no_output_channels", "conv_float_groups", "conv_bool_stride", "layer_norm_bias_shape",
        "batch_norm_function_momentum_none"])
def test_a_layer_refuses_what_it_cannot_compute_and_names_it(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
@pytest.mark.parametrize("training", [True, False], ids=["training", "evaluation"])
def test_integer_images_are_normalised_in_the_layers_float32(dtype, training):
    """Batch norm of integer images computes in float32, as the other floating functions of integer tensors
    do (not float64 from NumPy's integer mean), and equals the result on the same images as float32."""
    x = np.random.default_rng(0).integers(0, 255, size=(4, 3, 2, 2)).astype(dtype)
    layers = [nn.BatchNorm2d(3), nn.BatchNorm2d(3)]
    outs = []
    for layer, images in zip(layers, (x, x.astype(np.float32))):
        layer.train(training)
        outs.append(layer(Tensor(images)))
    assert outs[0].dtype == np.float32
    np.testing.assert_allclose(outs[0].data, outs[1].data, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(layers[0].running_mean.data, layers[1].running_mean.data, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.int64, np.bool_])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 2, 1), (2, 1, 1), ((1, 3), (1, 2), (0, 1))])
def test_max_pool_of_padded_integer_and_boolean_images_keeps_the_dtype_and_never_lets_padding_win(dtype, kernel,
                                                                                                  stride, padding):
    """The padding of an integer image is the type's lowest value (of a boolean one, False) where a float's
    is -inf: the max of each window equals the max over its elements inside the image."""
    rng = np.random.default_rng(0)
    low = 0 if dtype in (np.uint8, np.bool_) else np.iinfo(dtype).min
    x = (rng.integers(0, 2, size=(2, 3, 5, 6)) if dtype is np.bool_ else rng.integers(-4, 5, size=(2, 3, 5, 6)))
    x = np.where(rng.random(x.shape) < 0.3, low, x).astype(dtype)
    with np.errstate(all="raise"):
        out = F.max_pool2d(Tensor(x), kernel, stride=stride, padding=padding)
    as_float = F.max_pool2d(Tensor(x.astype(np.float64)), kernel, stride=stride, padding=padding)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.data.astype(np.float64), as_float.data)


def test_dropout_of_an_integer_tensor_computes_in_float32():
    """1 / (1 - p) cast to an integer type would be 1: the kept values would not be scaled."""
    out = F.dropout(Tensor(np.full(64, 10)), 0.3, seed=0)
    assert out.dtype == np.float32
    kept = out.data[out.data != 0]
    np.testing.assert_allclose(kept, 10 / 0.7, rtol=1e-6)
