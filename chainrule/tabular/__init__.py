"""Tables: a CSV/TSV, Parquet or JSON Lines file, or a pandas/polars DataFrame, in; a
trained network that predicts from raw rows out. Needs pyarrow (``pip install
'chainrule[tables]'``), imported only when a table is read.

The modules, by job: ``read`` (a file or a data frame as a pyarrow Table), ``columns``
(each column's kind, or why it is dropped), ``encode`` (the fitted preprocessing),
``settings`` (the defaults for tables), ``model`` (TabularModel) and ``saved`` (its model file).
"""

from .model import TabularModel

__all__ = ["TabularModel"]
