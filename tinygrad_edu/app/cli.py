"""The command line: ``python -m tinygrad_edu`` (also installed as ``tinygrad-edu``).

    tinygrad-edu train    [--data-dir DIR] [--arch 784-512-256-10|cnn] [--epochs N] [--batch-size B] [--lr LR]
                          [--optimizer adam|sgd] [--schedule cosine|step|none] [--augment-shift PIXELS]
                          [--seed S] [--out model.npz] [--json]
    tinygrad-edu evaluate --model model.npz [--data-dir DIR] [--plot confusion.png] [--json]
    tinygrad-edu predict  --model model.npz IMAGE... [--json]
    tinygrad-edu predict  --model model.npz --kaggle-csv test.csv [--out submission.csv] [--json]

``predict`` prints, for each image, the three most probable digits with their probabilities; an image
that cannot be read (not an image, or no digit on it) gets one error line on standard error instead,
the other images are still classified, and the exit status is then 2. With
``--kaggle-csv`` it writes the submission, and when the CSV has a ``label`` column (Kaggle's
``train.csv``) it also reports the accuracy of those predictions.

``train`` writes the model, ``metrics.json`` and ``training_curve.png`` into the folder of ``--out``
(default ``runs/mnist/``). ``--arch cnn`` trains the default convolutional network; the options the
user leaves out take the values of that network's recipe (``models.RECIPES``). With ``--json`` the last line of standard output is one JSON object holding
at least ``test_accuracy``, ``test_loss`` and ``seconds``.

Exit status: 0 on success; 2 for bad arguments or files, reported as one line on standard error
that names the flag and the value (no traceback, and no half-written output file); 1 when training
diverged (the loss became nan or inf), after keeping the checkpoint of the last good epoch.

Every argument is checked before any work starts, so a refused command has read no data and
written nothing: argparse converts each value with a type that checks it (``_whole_number``,
``_positive_number``, ``parse_arch``, ``_file`` ...), then ``check_<command>`` looks at what needs
the file system or several arguments at once (can the output be written there, is the model file a
model, does the network fit in memory). The folders an output needs are made only when it is
first written, and removed again if that fails.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import checkpoint
from .checkpoint import ModelFileError, Preprocessing
from .models import CNN_RECIPE, MLP_ARCH, MLP_RECIPE, RECIPES, CNNArchitecture, MLPArchitecture
from .training import Diverged

PROG = "tinygrad-edu"
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 1

# The networks' defaults (epochs, lr, ...) are their recipes, in models.py; only these are shared.
DEFAULT_SEED = 0
DEFAULT_OUT = Path("runs/mnist/model.npz")
RECIPE_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "schedule", "augment_shift")


class CliError(Exception):
    """A bad argument or file: the message is printed as one line and the exit status is 2."""

    def __init__(self, message, prog=PROG):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print the whole usage block first; the user gets one line naming the problem.
        raise CliError(f"{message} (see {self.prog} --help)", prog=self.prog)


# ---- argument types: each names the value it refused (argparse adds the flag) --------------------
#
# Every argument is checked in two steps before any work starts: its type here, while argparse
# reads the command line, and the checks that look at the file system or combine arguments in
# ``check_train`` / ``check_evaluate`` / ``check_predict``. Only then is data read and anything
# written, so a refused command leaves no file and no folder behind.

# Largest values accepted. A seed is what NumPy's and PyTorch's seeding functions all accept; the
# other two are far beyond any useful run, yet small enough to be stored in the model file.
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 1_000_000_000
# A digit fills 20 of the 28 pixels; moved further than this, most of it leaves the image.
MAX_AUGMENT_SHIFT = 8
# predict shows this many of the likeliest digits of each image.
TOP_DIGITS = 3
# Bytes per parameter while training: float32 weight, gradient and Adam's two moments.
BYTES_PER_PARAMETER = 16


def parse_arch(text: str) -> list[int]:
    """``"784-512-256-10"`` -> ``[784, 512, 256, 10]``: layer sizes, input first, at least two.

    >>> parse_arch("784-128-10")
    [784, 128, 10]
    """
    parts = text.strip().split("-")
    sizes = []
    for part in parts:
        try:
            sizes.append(int(part.strip()) if part.strip().isdecimal() else 0)
        except ValueError:  # a character that is a digit but no decimal number
            sizes.append(0)
    if len(parts) < 2 or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} does not parse: give two or more positive layer sizes joined by '-', like 784-512-256-10, "
            "or cnn for the convolutional network")
    return sizes


def _arch_option(text: str):
    """``--arch``: ``"cnn"`` (the default convolutional network) or the MLP's sizes as ``parse_arch`` reads them."""
    return "cnn" if text.strip() == "cnn" else parse_arch(text)


def _whole_number(what: str, low: int, high: int):
    """An argparse type: an integer from ``low`` to ``high``; ``what`` names the quantity in messages."""
    def convert(text):
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number; {what} is a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text} is {'too small' if value < low else 'too large'}: {what} is a whole number from {low} "
                f"to {high}")
        return value
    convert.__name__ = "whole number"
    return convert


def _positive_number(what: str):
    """An argparse type: a finite float greater than 0 (``nan``, ``inf`` and 1e-400, which is 0.0, are refused)."""
    def convert(text):
        try:
            value = float(text)
        except ValueError:
            value, problem = None, "not a number"
        else:
            problem = ("not finite" if not math.isfinite(value) else
                       "0.0 in floating point" if value == 0 and any(c in "123456789" for c in text.split("e")[0])
                       else "not greater than 0" if value <= 0 else None)
        if problem:
            raise argparse.ArgumentTypeError(f"{text!r} is {problem}: {what} is a finite number greater than 0")
        return value
    convert.__name__ = "number"
    return convert


def _path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names no file")
    return Path(text)


def _file(text: str) -> Path:
    path = _path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file" if not path.exists() else f"{text} is not a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: the file is not readable")
    return path


def _folder(text: str) -> Path:
    path = _path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder" if not path.exists() else f"{text} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: the folder is not readable")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Train, evaluate and use a digit classifier built on tinygrad_edu.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict}")

    train = commands.add_parser("train", help="train an MLP or the default CNN on MNIST (or any MNIST-like set)",
                                description="Train a digit classifier. Options left out take the defaults of "
                                            "the network chosen by --arch: the MLP's, or the CNN's with --arch cnn.")

    def both(field, show=str):  # "(default 0; 2 with --arch cnn)"
        mlp, cnn = show(getattr(MLP_RECIPE, field)), show(getattr(CNN_RECIPE, field))
        return f"(default {mlp})" if mlp == cnn else f"(default {mlp}; {cnn} with --arch cnn)"

    train.add_argument("--data-dir", type=_folder, help="folder with the IDX files (default: the MNIST cache, "
                                                        "downloading it once)")
    train.add_argument("--arch", type=_arch_option, default=parse_arch(MLP_ARCH), metavar="SIZES|cnn",
                       help=f"an MLP's layer sizes joined by '-', or cnn for the default convolutional network "
                            f"(default {MLP_ARCH})")
    train.add_argument("--activation", choices=["relu", "leaky_relu", "sigmoid", "tanh"],
                       help="the MLP's activation between layers (default relu; the cnn uses relu)")
    train.add_argument("--epochs", type=_whole_number("the number of epochs", 1, MAX_EPOCHS),
                       help=f"passes over the training set {both('epochs')}")
    train.add_argument("--batch-size", type=_whole_number("the batch size", 1, MAX_BATCH_SIZE),
                       help=f"examples per step; a batch larger than the training set is the whole set "
                            f"{both('batch_size')}")
    train.add_argument("--lr", type=_positive_number("the learning rate"),
                       help=f"(peak) learning rate {both('lr', lambda v: f'{v:g}')}")
    train.add_argument("--optimizer", choices=["adam", "sgd"],
                       help=f"adam, or sgd with Nesterov momentum 0.9 {both('optimizer')}")
    train.add_argument("--schedule", choices=["cosine", "step", "none"],
                       help=f"learning-rate schedule over the run: cosine to 0 at the last step, step (x0.3 every "
                            f"third of the run) or none {both('schedule')}")
    train.add_argument("--augment-shift", type=_whole_number("the shift", 0, MAX_AUGMENT_SHIFT), metavar="PIXELS",
                       help=f"move each training image by up to this many whole pixels along each axis, anew every "
                            f"epoch; 0 turns it off {both('augment_shift')}")
    train.add_argument("--seed", type=_whole_number("a seed", 0, MAX_SEED), default=DEFAULT_SEED,
                       help=f"seeds the init, the batch order, dropout and the shifts (0 to {MAX_SEED}; "
                            f"default {DEFAULT_SEED})")
    train.add_argument("--out", type=_path, default=DEFAULT_OUT,
                       help=f"model file; metrics.json and training_curve.png go beside it (default {DEFAULT_OUT})")
    train.add_argument("--no-plot", action="store_true", help="skip the training-curve PNG (default: draw it)")
    train.add_argument("--json", action="store_true",
                       help="last stdout line: the metrics as one JSON object (default: text only)")
    train.set_defaults(check=check_train, run=run_train)

    evaluate = commands.add_parser("evaluate", help="test accuracy, loss and confusion matrix of a model file")
    evaluate.add_argument("--model", type=_file, required=True, help="a model file written by train (required)")
    evaluate.add_argument("--data-dir", type=_folder, help="folder with the IDX files (default: the MNIST cache, "
                                                           "downloading it once)")
    evaluate.add_argument("--plot", type=_path, help="confusion-matrix PNG (default: confusion_matrix.png beside "
                                                     "the model)")
    evaluate.add_argument("--json", action="store_true",
                          help="last stdout line: the metrics as one JSON object (default: text only)")
    evaluate.set_defaults(check=check_evaluate, run=run_evaluate)

    predict = commands.add_parser("predict", help="classify digit images (PNG/JPEG) or a Kaggle CSV")
    predict.add_argument("--model", type=_file, required=True, help="a model file written by train (required)")
    predict.add_argument("images", nargs="*", type=_file, metavar="IMAGE",
                         help="digit images to classify: the three likeliest digits of each are printed")
    predict.add_argument("--kaggle-csv", type=_file, help="a Kaggle digit-recognizer CSV to label (test.csv; "
                                                          "with a label column, as train.csv, the accuracy is "
                                                          "reported too)")
    predict.add_argument("--out", type=_path, help="where the Kaggle submission goes (default submission.csv)")
    predict.add_argument("--json", action="store_true",
                         help="last stdout line: the predictions as one JSON object (default: text only)")
    predict.set_defaults(check=check_predict, run=run_predict)
    return parser


# ---- checks that need the file system or several arguments (still before any work) --------------


def check_train(args) -> None:
    """Fill in the recipe's defaults, then refuse a run that could not finish: the output place, the
    options that do not apply to the chosen network, an architecture too big to hold."""
    kind = "cnn" if args.arch == "cnn" else "mlp"
    for field in RECIPE_FIELDS:
        if getattr(args, field) is None:
            setattr(args, field, getattr(RECIPES[kind], field))
    if kind == "cnn":
        if args.activation not in (None, "relu"):
            raise CliError(f"--activation {args.activation}: the cnn uses relu; --activation chooses the MLP's")
        args.architecture = CNNArchitecture()
    else:
        args.architecture = MLPArchitecture(tuple(args.arch), args.activation or "relu")
    args.out = _output_path(args.out, "--out", ".npz")
    beside = ["metrics.json"] + ([] if args.no_plot else ["training_curve.png"])
    for name in beside:
        if args.out.with_name(name).is_dir():
            raise CliError(f"--out {args.out}: {name} is written beside the model, but "
                           f"{args.out.with_name(name)} is a folder")
    parameters = args.architecture.parameter_count()
    memory = _physical_memory()
    if memory is not None and parameters * BYTES_PER_PARAMETER > memory:
        raise CliError(f"--arch {args.architecture} has {parameters:,} parameters; training them needs about "
                       f"{_size(parameters * BYTES_PER_PARAMETER)} (weights, gradients and Adam's moments) but "
                       f"this machine has {_size(memory)} of memory")


def check_evaluate(args) -> None:
    """The confusion-matrix PNG must be writable (checked first: it is the cheap check), and the model
    file a readable model; both before any data is read or anything evaluated."""
    args.plot = _output_path(args.plot or args.model.with_name("confusion_matrix.png"), "--plot", ".png")
    args.loaded = _load_model(args.model)


def check_predict(args) -> None:
    """Either images or a Kaggle CSV; ``--out`` only with the CSV, never onto an input; a readable model."""
    if bool(args.images) == bool(args.kaggle_csv):
        raise CliError(f"{PROG} predict: give either IMAGE files or --kaggle-csv test.csv"
                       + (", not both" if args.images else ""))
    if args.out is not None and not args.kaggle_csv:
        raise CliError(f"{PROG} predict: --out is the Kaggle submission file and needs --kaggle-csv")
    if args.kaggle_csv:
        args.out = _output_path(args.out or Path("submission.csv"), "--out", ".csv")
        if args.out.exists() and any(args.out.samefile(f) for f in (args.kaggle_csv, args.model)):
            raise CliError(f"--out {args.out} is an input file; writing the submission there would replace it")
    args.loaded = _load_model(args.model)


# ---- the commands --------------------------------------------------------------------------------


def run_train(args) -> int:
    from .. import optim
    from ..data import DataLoader
    from .augment import ShiftedBatches
    from .training import fit

    arch, out = args.architecture, args.out  # both checked by check_train
    x_train, y_train, x_test, y_test = _load_data(args.data_dir)
    if arch.inputs != x_train.shape[1]:
        raise CliError(f"--arch {arch} takes {arch.inputs} inputs but the images have {x_train.shape[1]} pixels")
    classes = int(max(y_train.max(), y_test.max())) + 1
    if arch.outputs < classes:
        raise CliError(f"--arch {arch} has {arch.outputs} outputs but the labels go up to {classes - 1}")
    side = math.isqrt(x_train.shape[1])
    if args.augment_shift and side * side != x_train.shape[1]:
        raise CliError(f"--augment-shift {args.augment_shift} moves square images, but the images have "
                       f"{x_train.shape[1]} pixels; give --augment-shift 0")
    prep = Preprocessing.fit(x_train)
    x_train, x_test = prep(x_train), prep(x_test)

    model = arch.build(seed=args.seed)
    if args.optimizer == "adam":
        optimizer = optim.Adam(model.parameters(), lr=args.lr)
    else:
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True)
    loader = DataLoader(x_train, y_train, args.batch_size, shuffle=True, seed=args.seed)
    if args.augment_shift:  # shifted after standardising, so the uncovered border gets what black paper becomes
        loader = ShiftedBatches(loader, args.augment_shift, seed=args.seed, fill=float(prep(np.zeros(1))[0]))
    scheduler = _schedule(optim, optimizer, args.schedule, args.epochs, len(loader))
    config = {"arch": str(arch), "architecture": arch.record(), "epochs": args.epochs,
              "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer, "schedule": args.schedule,
              "augment_shift": args.augment_shift, "seed": args.seed, "train_examples": len(x_train),
              "test_examples": len(x_test)}
    shifts = f", images shifted by up to {args.augment_shift} pixels" if args.augment_shift else ""
    print(f"training {arch} ({sum(p.size for p in model.parameters()):,} parameters) on "
          f"{len(x_train):,} images, testing on {len(x_test):,}: {args.optimizer} lr {args.lr:g}, "
          f"{args.schedule} schedule, batch {args.batch_size}, {args.epochs} epochs{shifts}")

    metrics_path = out.with_name("metrics.json")

    def save_and_report(history):  # after every epoch: the checkpoint first, so a crash keeps the last good one
        record = history[-1]
        checkpoint.save_model(out, model, arch, prep, {"config": config, "history": history})
        print(f"epoch {record['epoch']}/{args.epochs}: train loss {record['train_loss']:.4f} accuracy "
              f"{record['train_accuracy']:.2%} | test loss {record['test_loss']:.4f} accuracy "
              f"{record['test_accuracy']:.2%} | {record['seconds']:.1f} s", flush=True)

    with _folders_for(out):  # created now, at the first write; removed again if nothing could be written
        try:
            history = fit(model, optimizer, loader, x_test, y_test, args.epochs, scheduler,
                          scheduler_per_step=args.schedule == "cosine", on_epoch_end=save_and_report,
                          eval_batch_size=RECIPES[arch.kind].eval_batch_size)
        except Diverged as diverged:
            kept = (f"the checkpoint of epoch {diverged.history[-1]['epoch']} is kept in {out}" if diverged.history
                    else "it diverged in the first epoch, so no checkpoint was written")
            _write_json(metrics_path, {"status": "diverged", "diverged_at": {"epoch": diverged.epoch, "step":
                                       diverged.step}, "config": config, "history": diverged.history})
            _fail(f"{diverged} (lr {args.lr:g} may be too large); {kept}")
            return EXIT_DIVERGED
        seconds = history[-1]["seconds"]

        summary = {"test_accuracy": history[-1]["test_accuracy"], "test_loss": history[-1]["test_loss"],
                   "seconds": round(seconds, 2), "epochs": args.epochs, "model": str(out), "config": config,
                   "history": history}
        _write_json(metrics_path, summary)
        written = [str(out), str(metrics_path)]
        if not args.no_plot:
            written += _plot(lambda path: _training_curve(history, config, path), out.with_name("training_curve.png"))
    print(f"test accuracy {summary['test_accuracy']:.2%}, test loss {summary['test_loss']:.4f}, "
          f"{seconds:.1f} s of training; wrote {', '.join(written)}")
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "history"}))
    return 0


def run_evaluate(args) -> int:
    from .training import evaluate, format_confusion_matrix, plot_confusion_matrix

    (model, info), plot = args.loaded, args.plot  # both checked by check_evaluate
    arch = info["architecture"]
    _, _, x_test, y_test = _load_data(args.data_dir)
    x_test = _check_inputs(info, x_test, "the test images")
    if len(y_test) and y_test.max() >= arch.outputs:
        raise CliError(f"the model has {arch.outputs} outputs but the test labels go up to {y_test.max()}")
    started = time.perf_counter()
    result = evaluate(model, x_test, y_test, batch_size=RECIPES[arch.kind].eval_batch_size)
    seconds = time.perf_counter() - started
    print(f"{args.model}: {arch} on {len(y_test):,} test images")
    print(f"test accuracy {result['accuracy']:.2%}, test loss {result['loss']:.4f} ({seconds:.2f} s)")
    print("confusion matrix (rows: true digit, columns: predicted):")
    print(format_confusion_matrix(result["confusion"]))
    with _folders_for(plot):
        written = _plot(lambda path: plot_confusion_matrix(
            result["confusion"], path, title=f"{args.model.name}: accuracy {result['accuracy']:.2%}"), plot)
    if written:
        print(f"wrote {written[0]}")
    if args.json:
        print(json.dumps({"test_accuracy": result["accuracy"], "test_loss": result["loss"],
                          "seconds": round(seconds, 3), "test_examples": len(y_test),
                          "confusion_matrix": result["confusion"].tolist()}))
    return 0


def run_predict(args) -> int:
    from ..data import DataError, read_kaggle_csv, write_kaggle_submission
    from .images import preprocess_image
    from .training import predict_proba

    model, info = args.loaded  # the arguments were checked by check_predict
    batch_size = RECIPES[info["architecture"].kind].eval_batch_size
    if args.kaggle_csv:
        out = args.out
        try:
            pixels, labels = read_kaggle_csv(args.kaggle_csv)
        except DataError as error:
            raise CliError(str(error)) from None
        probs = predict_proba(model, _check_inputs(info, pixels / np.float32(255), str(args.kaggle_csv)),
                              batch_size=batch_size)
        predictions = probs.argmax(axis=1)
        with _folders_for(out):
            write_kaggle_submission(out, predictions)
        print(f"wrote {len(probs):,} predictions to {out}")
        report = {"submission": str(out), "rows": len(probs)}
        if labels is not None:  # a labelled CSV (train.csv): say how many of the predictions are right
            report["accuracy"] = float((predictions == labels).mean())
            print(f"accuracy {report['accuracy']:.2%} on the {len(labels):,} labelled rows of {args.kaggle_csv} "
                  f"({int((predictions == labels).sum()):,} right)")
        if args.json:
            print(json.dumps(report))
        return 0
    # An image that cannot be read (not an image, no digit in it) costs only its own prediction: one
    # error line each, the others are still classified, and the exit status says that some failed.
    readable, images, failed = [], [], []
    for path in args.images:
        try:
            images.append(preprocess_image(path))
        except DataError as error:
            _fail(error, f"{PROG} predict")
            failed.append({"image": str(path), "error": " ".join(str(error).split())})
        else:
            readable.append(path)
    probs = (predict_proba(model, _check_inputs(info, np.stack(images), "the images"), batch_size=batch_size)
             if images else [])
    records = []
    for path, p in zip(readable, probs):
        likeliest = np.argsort(-p, kind="stable")[:TOP_DIGITS]  # ties: the smaller digit first
        top = [{"digit": int(d), "probability": float(p[d])} for d in likeliest]
        records.append({"image": str(path), "digit": top[0]["digit"], "probability": top[0]["probability"],
                        "top": top})
    for record in records:
        first, *others = record["top"]
        then = ", ".join(f"{o['digit']} ({o['probability']:.3f})" for o in others)
        print(f"{record['image']}: {first['digit']} (probability {first['probability']:.3f})"
              + (f", then {then}" if then else ""))
    if args.json:
        print(json.dumps({"predictions": records, **({"errors": failed} if failed else {})}))
    return EXIT_BAD_INPUT if failed else 0


# ---- what the commands share: loading, output paths, sizes, plots, errors -------------------------


def _load_data(data_dir):
    """MNIST from the cache (fetched once), or the set in ``data_dir`` and nothing else.

    A folder named by the user that holds nothing must be an error, not a silent switch to MNIST
    from the cache: hence ``fallback=False``.
    """
    from ..data import DataError, load_mnist

    try:
        if data_dir is None:
            return load_mnist(None, download=True)
        return load_mnist(data_dir, fallback=False)
    except DataError as error:
        raise CliError(str(error)) from None  # it names the folder or file and what is wrong


def _load_model(path):
    """Read the ``--model`` file: ``(model, info)``, or a CliError naming the flag and what is wrong with the file."""
    try:
        return checkpoint.load_model(path)
    except ModelFileError as error:
        raise CliError(f"--model: {error}") from None


def _check_inputs(info, x, what):
    """The model's preprocessing applied to ``x`` (n, pixels), after checking the pixel count matches."""
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    inputs = info["architecture"].inputs
    if x.shape[1] != inputs:
        raise CliError(f"the model takes {inputs} inputs but {what} have {x.shape[1]} pixels each")
    return info["preprocessing"](x)


def _output_path(path: Path, flag: str, suffix: str) -> Path:
    """Check, before any work is done, that an output file can be written at ``path``; returns it.

    The folders that do not exist yet are created only when the file is written (see
    ``_folders_for``); here the nearest folder that exists must be a folder we may write into,
    which is tried for real with a nameless temporary file (``os.access`` says yes to root even on
    a read-only or virtual file system). Names must leave room for the temporary file the atomic
    write uses beside the target.
    """
    path = Path(path)
    if path.suffix.lower() != suffix:
        raise CliError(f"{flag} {path}: the file name must end in {suffix}")
    if path.is_dir():
        raise CliError(f"{flag} {path} is a folder; give a file name ending in {suffix}")
    folder, missing = path.parent, [path.name]
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists decides
        missing.append(folder.name)
        folder = folder.parent
    if not folder.is_dir():
        raise CliError(f"{flag} {path}: {folder} is not a folder, so nothing can be written there")
    name_max, path_max = _limit(folder, "PC_NAME_MAX", 255), _limit(folder, "PC_PATH_MAX", 4096)
    for name in missing:
        if len(os.fsencode(name)) + TEMPORARY_NAME_EXTRA > name_max:
            raise CliError(f"{flag} {path}: the name {name[:40]}... is too long ({len(os.fsencode(name))} bytes; "
                           f"at most {name_max - TEMPORARY_NAME_EXTRA} here)")
    if len(os.fsencode(os.path.abspath(path))) + TEMPORARY_NAME_EXTRA >= path_max:
        raise CliError(f"{flag} {path}: the path is too long (at most {path_max - TEMPORARY_NAME_EXTRA} bytes here)")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        why = f" ({error.strerror})" if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else ""
        raise CliError(f"{flag} {path}: the folder {folder} is not writable{why}") from None
    return path


# An atomic write goes through ".NAME.XXXXXXXX.part" beside the target: 15 bytes more than NAME.
TEMPORARY_NAME_EXTRA = len("..XXXXXXXX.part")


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):  # not known here (or not POSIX): the common value
        return default


@contextlib.contextmanager
def _folders_for(path: Path):
    """Create the missing folders above ``path``; if the block fails, remove the ones it left empty.

    So a run that fails before writing anything (a full disk, Ctrl-C in the first epoch) leaves no
    empty folder behind, and one that wrote a checkpoint or a report keeps it.
    """
    missing, folder = [], Path(path).parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created = []
    try:
        for folder in reversed(missing):  # outermost first
            folder.mkdir()
            created.append(folder)
        yield
    except BaseException:
        for folder in reversed(created):  # innermost first; stop at the first that is not empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _physical_memory():
    """Bytes of memory of this machine, or None where the operating system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return None


def _size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000


def _write_json(path: Path, payload: dict) -> None:
    from ..data.files import write_atomically

    write_atomically(path, (json.dumps(payload, indent=2) + "\n").encode())


def _schedule(optim, optimizer, name, epochs, steps_per_epoch):
    if name == "cosine":  # stepped after every batch: a smooth half cosine from lr down to 0 at the last step
        return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    if name == "step":    # stepped after every epoch: lr x 0.3 every third of the run
        return optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.3)
    return None


def _training_curve(history, config, path):
    from ..viz_plots import plot_training_curves

    series = {key: [record[key] for record in history]
              for key in ("epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy")}
    return plot_training_curves(series, path, title=f"{config['arch']} {config['optimizer']} lr {config['lr']:g}")


def _plot(draw, path) -> list:
    """Draw a figure to ``path``; a missing matplotlib is a warning, not a failed run."""
    try:
        draw(path)
    except ImportError as error:
        print(f"{PROG}: note: {error}; skipped {path}", file=sys.stderr)
        return []
    return [str(path)]


def _fail(message, prog=PROG) -> None:
    print(f"{prog}: error: " + " ".join(str(message).split()), file=sys.stderr)


def _attach_dashed_values(parser, argv):
    """``--lr -inf`` -> ``--lr=-inf``: a value that starts with '-' stays the flag's value.

    argparse takes a token such as ``-inf`` or ``-1e3`` for an option and reports only "expected
    one argument"; attached with '=', the value reaches its type check, whose message names it.
    A token that is itself one of the parser's options (``--lr --epochs 3``) is left alone.
    """
    options, takes_value = set(), set()
    for command in [parser, *_subparsers(parser)]:
        for action in command._actions:
            options.update(action.option_strings)
            if action.option_strings and action.nargs is None and action.const is None:
                takes_value.update(action.option_strings)
    joined, i = [], 0
    while i < len(argv):
        token = str(argv[i])
        if token == "--":
            joined += [str(a) for a in argv[i:]]
            break
        following = str(argv[i + 1]) if i + 1 < len(argv) else None
        if (token in takes_value and following is not None and following.startswith("-") and following != "--"
                and following.split("=")[0] not in options):
            joined.append(f"{token}={following}")
            i += 2
        else:
            joined.append(token)
            i += 1
    return joined


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.values()


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(_attach_dashed_values(parser, sys.argv[1:] if argv is None else list(argv)))
        try:
            args.check(args)  # every argument is checked before any data is read or any file written
            return args.run(args)
        except CliError as error:
            if error.prog == PROG:
                error.prog = f"{PROG} {args.command}"
            raise
    except CliError as error:
        _fail(error, error.prog)
    except ModelFileError as error:
        _fail(error)
    except OSError as error:  # unreadable or unwritable files found only while working
        _fail(f"{error.strerror or error}: {error.filename}" if error.filename else error)
    except ImportError as error:  # an optional extra (Pillow, matplotlib) is missing
        _fail(error)
    except MemoryError:
        _fail("ran out of memory; a smaller --arch or --batch-size needs less")
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
