"""Fused element-wise loops, compiled by numba when it is installed (``chainrule[fast]``).

An optimizer step applies a few element-wise formulas to every parameter, and a ReLU
or sigmoid layer adds its bias, applies f(z) and, going back, multiplies by f'(z) and
sums the rows for db. As numpy expressions each formula is one pass over the arrays, with
temporaries; written as one loop and compiled, each becomes a single pass. The loops
below are the same formulas as the numpy code, operation for operation, so both give
the same numbers (the tests check it bit for bit; db differs in the last bit, being summed in
another order than BLAS sums it, and the sigmoid's tanh is the C library's, not numpy's). Without numba, ``AVAILABLE`` is False
and the optimizers and layers run their numpy expressions.

Every array is C-contiguous (each loop runs over its ``ravel()`` view, made inside the
compiled code), and every scalar has the arrays' dtype, so float32 arithmetic stays
float32 as in numpy.
"""

import math

try:
    import numba
except ImportError:  # numba is optional
    numba = None

AVAILABLE = numba is not None


def _sgd(p, g, lr):
    """p <- p - lr g."""
    p, g = p.ravel(), g.ravel()
    for i in range(p.size):
        p[i] -= lr * g[i]


def _sgd_momentum(p, v, g, lr, mu, nesterov):
    """v <- mu v - lr g;  p <- p + v  (Nesterov: p <- p + mu v - lr g)."""
    p, v, g = p.ravel(), v.ravel(), g.ravel()
    for i in range(p.size):
        step = lr * g[i]
        v[i] = mu * v[i] - step
        if nesterov:
            p[i] += mu * v[i] - step
        else:
            p[i] += v[i]


def _adam(p, m, v, g, lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, c_1, c_2, epsilon):
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr (m / c_1) / (sqrt(v / c_2) + epsilon), with c = 1 - beta^t."""
    p, m, v, g = p.ravel(), m.ravel(), v.ravel(), g.ravel()
    for i in range(p.size):
        m[i] = m[i] * beta_1 + one_minus_beta_1 * g[i]
        v[i] = v[i] * beta_2 + one_minus_beta_2 * (g[i] * g[i])
        p[i] -= lr * (m[i] / c_1) / (math.sqrt(v[i] / c_2) + epsilon)


def _bias_relu(z, b, a, zero):
    """z <- z + b (b added to every row);  a <- max(z, 0), NaN staying NaN as in np.maximum."""
    n, m = z.shape
    for i in range(n):
        for j in range(m):
            v = z[i, j] + b[j]
            z[i, j] = v
            a[i, j] = zero if v <= zero else v


def _relu_delta_db(grad_a, z, a, delta, db, one, zero):
    """delta <- dL/da * f'(z) with f'(z) = 1 where z > 0, else 0;  db <- delta summed over rows."""
    n, m = z.shape
    for j in range(m):
        db[j] = zero
    for i in range(n):
        for j in range(m):
            v = grad_a[i, j] * (one if z[i, j] > zero else zero)
            delta[i, j] = v
            db[j] += v


def _bias_sigmoid(z, b, a, zero):
    """z <- z + b;  a <- (1 + tanh(z / 2)) / 2, the sigmoid as chainrule.activations computes it."""
    n, m = z.shape
    half, one = zero + 0.5, zero + 1
    for i in range(n):
        for j in range(m):
            v = z[i, j] + b[j]
            z[i, j] = v
            a[i, j] = (math.tanh(v * half) + one) * half


def _sigmoid_delta_db(grad_a, z, a, delta, db, one, zero):
    """delta <- dL/da * f'(z) with f'(z) = a (1 - a);  db <- delta summed over rows."""
    n, m = z.shape
    for j in range(m):
        db[j] = zero
    for i in range(n):
        for j in range(m):
            v = grad_a[i, j] * (a[i, j] * (one - a[i, j]))
            delta[i, j] = v
            db[j] += v


if AVAILABLE:
    # error_model="numpy": a division by zero gives inf as in numpy, instead of Python's
    # ZeroDivisionError check on every element, which keeps the loop from being vectorised
    # (4x slower). Serial on purpose: a parallel loop's threads fight the BLAS threads.
    _compile = numba.njit(cache=True, nogil=True, error_model="numpy")
    inplace_sgd = _compile(_sgd)
    inplace_sgd_momentum = _compile(_sgd_momentum)
    inplace_adam = _compile(_adam)
    # activation name -> (forward: bias and f in one pass, backward: delta and db in one pass)
    LAYER_KERNELS = {"relu": (_compile(_bias_relu), _compile(_relu_delta_db)),
                     "sigmoid": (_compile(_bias_sigmoid), _compile(_sigmoid_delta_db))}
else:
    inplace_sgd = inplace_sgd_momentum = inplace_adam = None
    LAYER_KERNELS = {}
