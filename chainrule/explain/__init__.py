"""The chain rule for one weight, the nudges of one example, and from one example to the batch.

Backprop computes every gradient at once, as products of matrices. This module takes one
gradient apart again, in the notation of the texts:

    dL/dw_{jk}^{(l)} = sum over paths of
        dL/dy_hat * dy_hat/dz^{(L)} * dz^{(L)}/da^{(L-1)} * ... * da_j^{(l)}/dz_j^{(l)} * dz_j^{(l)}/dw_{jk}^{(l)}

A path goes from the loss down through one neuron of every layer above l to neuron j of
layer l; its contribution is the product of its factors, and the gradient is the sum of
the contributions of all paths (a neuron that feeds several neurons adds up their
errors). Backprop's delta^{(l)} = ((W^{(l+1)})^T delta^{(l+1)}) * f'(z^{(l)}) is that same
sum, factored layer by layer: one pass, however many paths there are.

Conventions:
    - layers are numbered from 1, as in the texts: layer l is the l-th Dense layer,
      a^{(0)} = x is the input and a^{(L)} = y_hat the output;
    - neurons are numbered from 0, as the rows of W: w_{jk}^{(l)} is W[j, k] of layer l,
      from neuron k of layer l-1 to neuron j of layer l;
    - Dropout layers are taken in inference mode: they pass their input through and add
      no factor to any chain;
    - the cost of a batch is the mean of its per-example costs, so a batch's gradient is
      the mean of the per-example gradients;
    - every number is computed on a float64 copy of the model; the model is not changed.

``chain`` lays out one gradient; ``nudges`` shows what one example asks of every neuron
and weight; ``batch_check`` and ``gradient_noise`` go from one example to the batch.
Only NumPy is imported here; Pillow is imported when a PNG is written.

The modules, each importing only from those listed before it:
    common        the forward pass on a float64 copy, argument checks, subscripts, notes
    paths         the path graph of one parameter: stages, factors, the exact sum over
                  every path and the largest paths (Factor, Path, ExampleChain)
    one_weight    chain() and its Chain, beside backprop and a finite difference
    one_example   nudges() and its Nudges and Pushes; save_saliency_png()
    batch         batch_check() and gradient_noise(), from one example to the batch
    table         the nudges of one row of a TabularModel's table, by column (TableNudges),
                  and nudges(), which takes a Sequential's example or a TabularModel's row
"""

from .batch import BatchCheck, GradientNoise, NoiseRow, batch_check, gradient_noise
from .one_example import IMAGE_SIDES, Nudges, Push, save_saliency_png
from .one_weight import Chain, chain
from .paths import MAX_LISTED_PATHS, ExampleChain, Factor, Path
from .table import ColumnSaliency, TableNudges, nudges, table_nudges

__all__ = [
    # the chain rule for one weight
    "chain", "Chain", "ExampleChain", "Path", "Factor", "MAX_LISTED_PATHS",
    # the nudges of one example
    "nudges", "Nudges", "Push", "save_saliency_png", "IMAGE_SIDES",
    # the nudges of one row of a table, by column
    "table_nudges", "TableNudges", "ColumnSaliency",
    # from one example to the batch
    "batch_check", "BatchCheck", "gradient_noise", "GradientNoise", "NoiseRow",
]
