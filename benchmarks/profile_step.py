"""Where the time of one training step goes: the table of benchmarks/README.md.

    python benchmarks/profile_step.py                  # batches 32, 128, 512; 2 threads
    python benchmarks/profile_step.py --batch-sizes 128 --threads 1

For the benchmark's network (784-256-128-10, ReLU, softmax cross-entropy, SGD with
momentum, float32, MNIST), each part of a step is timed alone, repeated on the same
batch shape: the gather of a shuffled batch, the forward pass and the matrix products
inside it, the cost, the backward pass and its matrix products, and the optimizer step.
A part's time is the best of several rounds (the least disturbed by the rest of the
machine), in microseconds per step; "step" is one real epoch of ``fit`` divided by its
number of steps, so "rest" is what the parts do not explain (the loop's bookkeeping).
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # measure this working tree's chainrule

from chainrule import Dense, Sequential, datasets, kernels, optimizers  # noqa: E402


def best_of(fn, repeats, rounds=7):
    """Microseconds per call: the fastest of ``rounds`` rounds of ``repeats`` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        times.append((time.perf_counter() - start) / repeats * 1e6)
    return min(times)


def profile(X, Y, labels, batch_size, repeats):
    model = Sequential([Dense(784, 256, "relu"), Dense(256, 128, "relu"),
                        Dense(128, 10, "softmax")], loss="cross_entropy", seed=0)
    optimizer = optimizers.SGD(0.1, momentum=0.9)
    model.fit(X[:4096], labels[:4096], epochs=1, batch_size=batch_size, optimizer=optimizer)  # warm-up
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    Xb, Yb = np.empty((batch_size, X.shape[1]), X.dtype), np.empty((batch_size, Y.shape[1]), Y.dtype)
    position = [0]

    def gather():  # a different random batch each time, as in an epoch
        start = position[0] = (position[0] + batch_size) % (len(X) - batch_size)
        idx = order[start:start + batch_size]
        np.take(X, idx, axis=0, out=Xb, mode="clip")
        np.take(Y, idx, axis=0, out=Yb, mode="clip")

    gather()
    params, grads = model.parameters(), model.gradients()
    weights = [p.copy() for p in params]
    dense = model.dense_layers
    model.forward_pass(Xb, training=True)
    model.backward_pass(Yb)
    a_prev = [layer.a_prev for layer in dense]
    z = [layer.z.copy() for layer in dense]
    delta = [layer.delta.copy() for layer in dense]
    grad_in = [np.empty_like(a) for a in a_prev]

    def forward_gemms():
        for layer, a, out in zip(dense, a_prev, z):
            np.matmul(a, layer.W.T, out=out)

    def backward_gemms():
        for i in reversed(range(len(dense))):
            np.matmul(delta[i].T, a_prev[i], out=dense[i].dW)
            if i > 0:
                np.matmul(delta[i], dense[i].W, out=grad_in[i])

    parts = {
        "gather": best_of(gather, repeats),
        "forward": best_of(lambda: model.forward_pass(Xb, training=True), repeats),
        "forward GEMMs": best_of(forward_gemms, repeats),
        "cost": best_of(lambda: model.cost(Yb), repeats),
        "backward": best_of(lambda: model.backward_pass(Yb), repeats),
        "backward GEMMs": best_of(backward_gemms, repeats),
        "optimizer": best_of(lambda: optimizer.step(params, grads), repeats),
    }
    # The repeated optimizer steps above walked far along one gradient: start again.
    for p, saved in zip(params, weights, strict=True):
        p[...] = saved
    optimizer = optimizers.SGD(0.1, momentum=0.9)
    steps = math.ceil(len(X) / batch_size)
    epochs = []
    for _ in range(3):
        start = time.perf_counter()
        model.fit(X, labels, epochs=1, batch_size=batch_size, optimizer=optimizer)
        epochs.append((time.perf_counter() - start) / steps * 1e6)
    parts["step"] = min(epochs)
    explained = sum(parts[k] for k in ("gather", "forward", "cost", "backward", "optimizer"))
    parts["rest"] = parts["step"] - explained
    return parts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", default="32,128,512")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--numpy-only", action="store_true", help="switch chainrule's numba kernels off")
    p.add_argument("--data-dir", default=os.environ.get("CHAINRULE_DATA", REPO.parent / "shared" / "datasets"),
                   help="folder holding mnist/ (default: $CHAINRULE_DATA, else ../shared/datasets beside the repo)")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    if args.numpy_only:
        kernels.AVAILABLE = False
    (X, labels), _ = datasets.load("mnist", args.data_dir)
    Y = np.eye(10, dtype=np.float32)[labels]
    columns = ["gather", "forward", "forward GEMMs", "cost", "backward", "backward GEMMs",
               "optimizer", "rest", "step"]
    print(f"microseconds per step, {args.threads} threads, compiled kernels "
          f"{'on' if kernels.AVAILABLE else 'off'}")
    print("| batch | " + " | ".join(columns) + " |")
    print("|---:|" + "---:|" * len(columns))
    with threadpool_limits(limits=args.threads):
        for batch_size in map(int, args.batch_sizes.split(",")):
            parts = profile(X, Y, labels, batch_size, args.repeats)
            print(f"| {batch_size} | " + " | ".join(f"{parts[c]:.0f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
