"""Side-by-side benchmarks: tinygrad_edu against hand-written NumPy (the floor) and PyTorch eager.

Four training workloads (``workloads.py`` defines them, recipes fixed so that figures compare across runs):

- B1, standard: MLP 784-512-256-10, ReLU, softmax cross-entropy, Adam, batch 128, one MNIST epoch.
- B2, per-step overhead: MLP 784-30-10, sigmoid, quadratic cost, SGD lr 3.0, batch 10, 6 000 steps.
- B3, full batch: 784-10-10, ReLU, softmax cross-entropy, gradient descent lr 0.1 on all 60 000 images.
- B4, CNN: conv32-BN-ReLU-pool, conv64-BN-ReLU-pool, fc128, dropout, fc10; Adam, batch 128, 40 steps
  (``b4_phases`` breaks its step down by phase and layer).

Each comes in three versions that start from the same initial weights and see the same batches in the same
order: ``numpy_floor`` (forward and backward written out by hand, no autograd), ``tinygrad`` (the public API
only) and ``torch_eager`` (run when ``torch`` imports). ``ops_overhead`` times single primitives instead.

Run ``python -m benchmarks.run`` (or ``make bench``); ``--quick`` is the few-step smoke run.
``python -m benchmarks.phases --workload B1`` splits a B1, B2 or B3 step into batch, forward, loss,
backward and optimizer, the versions taking turns every few steps; ``python -m benchmarks.instructions``
counts the instructions a step executes (valgrind's callgrind), by where they run: BLAS, NumPy's loops,
the Python interpreter, libc.
"""
