# Two commands set everything up on a fresh machine: `make mnist` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: test mnist mnist-cnn bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.dev: $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.mnist: $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e ".[mnist]"
	touch $@

test: $(VENV)/.dev
	$(PY) -m pytest --cov=tinygrad_edu --cov-report=term $(PYTEST_ARGS)

# Train the default model (progress bar, test accuracy per epoch), then evaluate it: model, metrics.json,
# training_curve.png and confusion_matrix.png end up in runs/mnist/. MNIST is fetched once into the cache.
mnist: $(VENV)/.mnist
	$(PY) -m tinygrad_edu train --out runs/mnist/model.npz
	$(PY) -m tinygrad_edu evaluate --model runs/mnist/model.npz

# The same for the default convolutional network (train --arch cnn, with the CNN's recipe: 8 epochs, Adam
# lr 1e-3 on a cosine schedule, batch 128, training images shifted by up to 2 pixels): all in runs/mnist-cnn/.
mnist-cnn: $(VENV)/.mnist
	$(PY) -m tinygrad_edu train --arch cnn --out runs/mnist-cnn/model.npz
	$(PY) -m tinygrad_edu evaluate --model runs/mnist-cnn/model.npz

# The runner re-runs itself with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset and records the BLAS kernel it gets.
# Extra options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--workloads B1 --repeats 5".
bench: $(VENV)/.dev
	$(PY) -m benchmarks.run $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(PY) -m ruff check tinygrad_edu tests examples benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .coverage
