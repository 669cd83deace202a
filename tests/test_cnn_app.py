"""``train --arch cnn`` and its model file: the network, the shift augmentation, BatchNorm buffers saved and
restored, old MLP files still read, bad architectures refused by name; ``evaluate`` and ``predict`` on a CNN.

Everything here is small on purpose: the command line trains the default CNN for one step on 40 random
images, and the model-file tests use a CNN with widths (4, 8, 16).
"""

from __future__ import annotations

import numpy as np
import pytest
from cli_runs import last_json
from cli_runs import run_in_process as run

import tinygrad_edu as tg
from tinygrad_edu import Tensor, nn
from tinygrad_edu.app import checkpoint, cli
from tinygrad_edu.app.augment import ShiftedBatches, random_shift
from tinygrad_edu.app.checkpoint import ModelFileError, Preprocessing
from tinygrad_edu.app.models import CNN_RECIPE, MLP_RECIPE, CNNArchitecture, MLPArchitecture
from tinygrad_edu.data import DataLoader, write_idx

SMALL_CNN = CNNArchitecture((4, 8, 16))


# ---- nn.Unflatten, the CNN's first layer ------------------------------------------------------------------


def test_unflatten_turns_rows_into_images_and_its_gradient_is_the_reshape_back():
    x = Tensor(np.random.default_rng(0).normal(size=(3, 12)), requires_grad=True)
    assert nn.Unflatten(1, (1, 3, 4))(x).shape == (3, 1, 3, 4)
    assert nn.Unflatten(-1, (2, -1))(x).shape == (3, 2, 6)
    assert nn.Flatten()(nn.Unflatten(1, (3, 4))(x)).tolist() == x.tolist()
    assert tg.gradcheck(nn.Unflatten(1, (3, 4)), (x,))


def test_unflatten_names_the_sizes_that_do_not_fit():
    with pytest.raises(ValueError, match=r"axis 1 of the input has 12 elements, which cannot be split into \(5, 5\)"):
        nn.Unflatten(1, (5, 5))(Tensor(np.zeros((2, 12))))
    with pytest.raises(ValueError, match=r"Unflatten needs the sizes to split the axis into"):
        nn.Unflatten(1, ())


# ---- the network --------------------------------------------------------------------------------------------


def test_default_cnn_has_the_documented_layers_widths_and_float32_weights():
    model = CNNArchitecture().build(seed=0)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Unflatten", "Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU", "Conv2d", "BatchNorm2d", "MaxPool2d",
                     "ReLU", "Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert [tuple(p.shape) for p in model.parameters()] == [
        (32, 1, 3, 3), (32,), (32,), (32,), (64, 32, 3, 3), (64,), (64,), (64,), (128, 3136), (128,), (10, 128), (10,)]
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    assert model[12].p == 0.25
    assert sum(p.size for p in model.parameters()) == CNNArchitecture().parameter_count()


@pytest.mark.parametrize("seed", range(5))
def test_pooling_before_relu_gives_the_values_and_gradients_of_relu_before_pooling(seed):
    """The default network pools before ReLU; that is the usual Conv-BN-ReLU-MaxPool network because ReLU is
    monotone. Small integers make ties, zeros and all-negative windows common, where a difference would show."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 3, size=(2, 3, 6, 8)).astype(np.float64)
    upstream = rng.normal(size=(2, 3, 3, 4))
    results = []
    for layers in ([nn.MaxPool2d(2), nn.ReLU()], [nn.ReLU(), nn.MaxPool2d(2)]):
        xt = Tensor(x, requires_grad=True)
        out = nn.Sequential(*layers)(xt)
        out.backward(Tensor(upstream))
        results.append((out.numpy(), xt.grad.numpy()))
    (pool_first, grad_pool_first), (relu_first, grad_relu_first) = results
    np.testing.assert_array_equal(pool_first, relu_first)
    np.testing.assert_array_equal(grad_pool_first, grad_relu_first)


def test_the_same_seed_builds_the_same_cnn():
    first, again, other = (SMALL_CNN.build(seed=s).state_dict() for s in (3, 3, 4))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["1.weight"], other["1.weight"])


# ---- the shift augmentation ----------------------------------------------------------------------------------


def one_pixel_images(n, side=28, row=14, col=14):
    x = np.zeros((n, side * side), np.float32)
    x[:, row * side + col] = 1.0
    return x


def test_random_shift_moves_each_image_by_whole_pixels_within_the_bound_and_uses_every_offset():
    shifted = random_shift(one_pixel_images(2000), 2, np.random.default_rng(0))
    assert np.count_nonzero(shifted, axis=1).tolist() == [1] * 2000  # moved, not blurred
    rows, cols = np.divmod(shifted.argmax(axis=1), 28)
    offsets = set(zip((rows - 14).tolist(), (cols - 14).tolist()))
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}


def test_random_shift_is_a_translation_with_zero_fill():
    rng_seed, x = 5, np.random.default_rng(1).random((50, 784)).astype(np.float32)
    markers = random_shift(one_pixel_images(50), 2, np.random.default_rng(rng_seed))  # same draws: same offsets
    shifted = random_shift(x, 2, np.random.default_rng(rng_seed))
    for image, marker, out in zip(x.reshape(-1, 28, 28), markers, shifted.reshape(-1, 28, 28)):
        dy, dx = (int(v) - 14 for v in np.divmod(marker.argmax(), 28))
        expected = np.zeros((28, 28), np.float32)
        expected[max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = \
            image[max(-dy, 0):28 - max(dy, 0), max(-dx, 0):28 - max(dx, 0)]
        np.testing.assert_array_equal(out, expected)


def test_random_shift_leaves_its_input_alone_fills_with_the_given_value_and_repeats_with_the_seed():
    x = np.ones((30, 784), np.float32)
    before = x.copy()
    filled = random_shift(x, 2, np.random.default_rng(0), fill=-0.5)
    assert np.array_equal(x, before) and filled.dtype == np.float32 and filled.shape == (30, 784)
    assert set(np.unique(filled).tolist()) == {-0.5, 1.0}
    again = random_shift(x, 2, np.random.default_rng(0), fill=-0.5)
    assert np.array_equal(filled, again)
    unmoved = random_shift(x, 0, np.random.default_rng(0))
    assert np.array_equal(unmoved, x) and unmoved is not x


def test_random_shift_refuses_images_that_are_not_square_and_shifts_past_the_edge():
    with pytest.raises(ValueError, match=r"random_shift: rows of 780 pixels are not 27 x 27 images"):
        random_shift(np.zeros((2, 780)), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"max_shift must be from 0 to 3 for 4 x 4 images, got 4"):
        random_shift(np.zeros((2, 16)), 4, np.random.default_rng(0))


def test_shifted_batches_give_new_offsets_every_epoch_and_keep_the_labels():
    x, y = one_pixel_images(64), np.arange(64) % 10
    batches = ShiftedBatches(DataLoader(x, y, batch_size=16, shuffle=False), 2, seed=0)
    first, second = ([xb.data.copy() for xb, _ in batches] for _ in range(2))
    assert len(batches) == 4 and len(first) == 4
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))
    assert [yb.tolist() for _, yb in batches] == [y[i:i + 16].tolist() for i in range(0, 64, 16)]
    repeat = [xb.data for xb, _ in ShiftedBatches(DataLoader(x, y, batch_size=16, shuffle=False), 2, seed=0)]
    assert all(np.array_equal(a, b) for a, b in zip(first, repeat))


# ---- the model file --------------------------------------------------------------------------------------------


def trained_small_cnn(seed=0):
    """A small CNN whose BatchNorm layers have seen three batches (running statistics away from 0 and 1)."""
    model = SMALL_CNN.build(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        model(Tensor(rng.normal(1.0, 2.0, size=(8, 784)).astype(np.float32)))
    return model


def test_a_cnn_model_file_restores_weights_batchnorm_buffers_and_eval_outputs(tmp_path):
    model = trained_small_cnn()
    path = tmp_path / "cnn.npz"
    checkpoint.save_model(path, model, SMALL_CNN, Preprocessing(0.1, 0.3), {"note": "test"})
    again, info = checkpoint.load_model(path)
    saved, loaded = model.state_dict(), again.state_dict()
    assert list(loaded) == list(saved)
    for name, initial in (("2.running_mean", 0.0), ("2.running_var", 1.0), ("6.running_mean", 0.0),
                          ("6.running_var", 1.0)):
        assert not np.allclose(saved[name], initial), f"{name} never moved: the round trip would prove nothing"
        assert np.array_equal(loaded[name], saved[name]), f"{name} changed on the way through the file"
    assert int(loaded["2.num_batches_tracked"]) == 3 and loaded["2.num_batches_tracked"].dtype == np.int64
    assert all(np.array_equal(loaded[k], saved[k]) and loaded[k].dtype == saved[k].dtype for k in saved)
    assert info["architecture"] == SMALL_CNN and info["version"] == 2 and info["training"] == {"note": "test"}
    assert not any(layer.training for layer in again)  # loaded in eval mode
    x = Tensor(np.random.default_rng(9).normal(size=(5, 784)).astype(np.float32))
    model.eval()
    with tg.no_grad():
        assert np.array_equal(again(x).data, model(x).data)


def test_an_mlp_model_file_of_the_first_version_still_loads(tmp_path):
    arch = MLPArchitecture((784, 16, 10), "tanh")
    model = arch.build(seed=0)
    path = tmp_path / "old.npz"
    tg.save({"format": "tinygrad_edu.mlp", "version": 1,
             "architecture": {"sizes": [784, 16, 10], "activation": "tanh"},
             "preprocessing": {"mean": 0.13, "std": 0.31}, "state_dict": model.state_dict(),
             "training": {"config": {"arch": "784-16-10"}}}, path)
    again, info = checkpoint.load_model(path)
    assert info["architecture"] == arch and info["version"] == 1
    assert info["preprocessing"] == Preprocessing(0.13, 0.31)
    assert all(np.array_equal(again.state_dict()[k], v) for k, v in model.state_dict().items())
    status, stdout, stderr = run(["predict", "--model", path, "--kaggle-csv", kaggle_csv(tmp_path), "--out",
                                  tmp_path / "s.csv", "--json"])
    assert status == 0, stderr
    assert last_json(stdout)["rows"] == 3


def kaggle_csv(folder, labels=None, rows=3):
    """A Kaggle-style CSV of random pixels (with a label column when ``labels`` is given)."""
    pixels = np.random.default_rng(2).integers(0, 256, size=(rows, 784))
    header = ("label," if labels is not None else "") + ",".join(f"pixel{i}" for i in range(784))
    lines = [(f"{labels[i]}," if labels is not None else "") + ",".join(map(str, row)) for i, row in enumerate(pixels)]
    path = folder / ("train.csv" if labels is not None else "test.csv")
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


def cnn_content(**architecture):
    content = {"format": "tinygrad_edu.model", "version": 2, "architecture": SMALL_CNN.record(),
               "preprocessing": {"mean": 0.0, "std": 1.0}, "state_dict": trained_small_cnn().state_dict()}
    content["architecture"].update(architecture)
    return content


def without(state, key):
    return {k: v for k, v in state.items() if k != key}


BAD_FILES = {  # case -> (content, what the one sentence says after "model file <path>")
    "unknown kind": (lambda: cnn_content(kind="rnn"),
                     r": architecture\.kind is 'rnn'; this tinygrad_edu builds 'mlp' or 'cnn'"),
    "no kind": (lambda: {**cnn_content(), "architecture": without(SMALL_CNN.record(), "kind")},
                r": architecture\.kind is None"),
    "two widths": (lambda: cnn_content(widths=[4, 8]),
                   r": architecture\.widths is \[4, 8\]; a cnn needs three positive widths"),
    "zero width": (lambda: cnn_content(widths=[4, 0, 16]), r": architecture\.widths is \[4, 0, 16\]"),
    "widths as text": (lambda: cnn_content(widths="4-8-16"), r": architecture\.widths is '4-8-16'"),
    "classes as text": (lambda: cnn_content(classes="ten"), r": architecture\.classes is 'ten'"),
    "dropout of 1.5": (lambda: cnn_content(dropout=1.5), r": architecture\.dropout is 1\.5"),
    "colour images": (lambda: cnn_content(image=[3, 32, 32]),
                      r": architecture\.image is \[3, 32, 32\]; this tinygrad_edu's cnn reads \[1, 28, 28\] images"),
    "widths not those of the weights": (lambda: cnn_content(widths=[4, 8, 32]),
                                        (r": weight 10\.weight has shape \(16, 392\) but the architecture "
                                         r"cnn 4-8-32 it records needs \(32, 392\)")),
    "batchnorm buffer missing": (lambda: {**cnn_content(),
                                          "state_dict": without(trained_small_cnn().state_dict(), "2.running_mean")},
                                 (r": its weights do not belong to the architecture cnn 4-8-16 it records "
                                  r"\(it lacks 2\.running_mean\)")),
    "batch count as a float": (lambda: {**cnn_content(), "state_dict": {**trained_small_cnn().state_dict(),
                                                                        "6.num_batches_tracked": np.array(3.0)}},
                               r": weight 6\.num_batches_tracked has dtype float64, not an integer type"),
    "mlp of one size": (lambda: {**cnn_content(), "architecture": {"kind": "mlp", "sizes": [784],
                                                                   "activation": "relu"}},
                        r": architecture\.sizes is \[784\]; an mlp needs two or more positive layer sizes"),
    "first-version format, second version": (lambda: {**cnn_content(), "format": "tinygrad_edu.mlp"},
                                             (r" has version 2; this tinygrad_edu reads version 1 of the "
                                              r"format 'tinygrad_edu\.mlp'")),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_model_file_with_a_bad_architecture_is_refused_naming_the_file_and_the_entry(case, tmp_path):
    make, says = BAD_FILES[case]
    path = tmp_path / "bad.npz"
    tg.save(make(), path)
    with pytest.raises(ModelFileError, match=rf"^model file {path}{says}"):
        checkpoint.load_model(path)
    status, _, stderr = run(["evaluate", "--model", path], cwd=tmp_path)
    assert status == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert f"--model: model file {path}" in stderr, stderr


# ---- the command line ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """40 training and 20 test images of random pixels, labels 0..9, as the four IDX files."""
    folder = tmp_path_factory.mktemp("cnn_data")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory, data_dir):
    """``train --arch cnn`` for one step of 40 images: the default network, the recipe's other settings."""
    out = tmp_path_factory.mktemp("cnn_run") / "model.npz"
    status, stdout, stderr = run(["train", "--arch", "cnn", "--data-dir", data_dir, "--epochs", "1", "--batch-size",
                                  "40", "--out", out, "--no-plot", "--json"])
    assert status == 0, stderr
    return {"model": out, "stdout": stdout, "summary": last_json(stdout)}


def test_train_arch_cnn_writes_a_cnn_model_file_with_the_recipe_it_used(cnn_run):
    config = cnn_run["summary"]["config"]
    assert config["arch"] == "cnn 32-64-128" and config["architecture"]["kind"] == "cnn"
    assert (config["lr"], config["optimizer"], config["schedule"], config["augment_shift"]) == (
        CNN_RECIPE.lr, CNN_RECIPE.optimizer, CNN_RECIPE.schedule, CNN_RECIPE.augment_shift)
    assert "images shifted by up to 2 pixels" in cnn_run["stdout"]
    model, info = checkpoint.load_model(cnn_run["model"])
    assert info["architecture"] == CNNArchitecture()
    assert int(model.state_dict()["2.num_batches_tracked"]) == 1  # one training step went through BatchNorm


def test_evaluate_reads_the_cnn_file_and_matches_the_test_of_training(cnn_run, data_dir):
    status, stdout, stderr = run(["evaluate", "--model", cnn_run["model"], "--data-dir", data_dir, "--plot",
                                  cnn_run["model"].with_name("cm.png"), "--json"])
    assert status == 0, stderr
    report = last_json(stdout)
    # eval mode (running statistics, no dropout) in both: the same numbers
    assert report["test_accuracy"] == cnn_run["summary"]["test_accuracy"]
    assert report["test_loss"] == pytest.approx(cnn_run["summary"]["test_loss"], rel=1e-6)
    assert "cnn 32-64-128 on 20 test images" in stdout


def test_predict_reads_the_cnn_file(cnn_run, tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    page = np.full((60, 50), 235, np.uint8)
    page[10:50, 22:30] = 20  # a dark bar: a 1
    PIL.fromarray(page).save(tmp_path / "one.png")
    status, stdout, stderr = run(["predict", "--model", cnn_run["model"], tmp_path / "one.png", "--json"])
    assert status == 0, stderr
    (record,) = last_json(stdout)["predictions"]
    assert record["image"] == str(tmp_path / "one.png") and 0 <= record["digit"] <= 9


@pytest.mark.parametrize("argv, recipe", [(["--arch", "cnn"], CNN_RECIPE), ([], MLP_RECIPE),
                                          (["--arch", "784-32-10"], MLP_RECIPE)])
def test_options_left_out_take_the_recipe_of_the_chosen_network(argv, recipe, tmp_path):
    args = cli.build_parser().parse_args(["train", *argv, "--out", str(tmp_path / "m.npz")])
    cli.check_train(args)
    assert (args.epochs, args.lr, args.batch_size, args.optimizer, args.schedule, args.augment_shift) == (
        recipe.epochs, recipe.lr, recipe.batch_size, recipe.optimizer, recipe.schedule, recipe.augment_shift)


def test_options_given_override_the_cnn_recipe(tmp_path):
    args = cli.build_parser().parse_args(["train", "--arch", "cnn", "--epochs", "2", "--lr", "0.01",
                                          "--augment-shift", "0", "--out", str(tmp_path / "m.npz")])
    cli.check_train(args)
    assert (args.epochs, args.lr, args.augment_shift, args.batch_size) == (2, 0.01, 0, CNN_RECIPE.batch_size)


@pytest.mark.parametrize("extra, message", [
    (["--activation", "tanh"], "--activation tanh: the cnn uses relu; --activation chooses the MLP's"),
    (["--data-dir", "{small}"], "--arch cnn 32-64-128 takes 784 inputs but the images have 100 pixels"),
])
def test_train_arch_cnn_refuses_what_does_not_fit_it(extra, message, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(small / f"{prefix}-images-idx3-ubyte.gz", np.zeros((10, 10, 10), np.uint8))
        write_idx(small / f"{prefix}-labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    status, _, stderr = run(["train", "--arch", "cnn", *[e.format(small=small) for e in extra], "--out",
                             tmp_path / "run" / "model.npz"])
    assert status == 2 and stderr.count("\n") == 1 and message in stderr, stderr
    assert not (tmp_path / "run").exists()


def test_augment_shift_on_images_that_are_not_square_is_refused(tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", np.zeros((10, 4, 5), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    status, _, stderr = run(["train", "--arch", "20-10", "--augment-shift", "1", "--data-dir", folder, "--out",
                             tmp_path / "run" / "model.npz"])
    assert status == 2 and "--augment-shift 1 moves square images, but the images have 20 pixels" in stderr, stderr
