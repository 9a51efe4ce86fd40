"""``explain`` and ``serve`` on your own data: ``--data FILE``.

``chainrule explain MODEL --data FILE --row I`` prints the nudges of row I of the table
(counted from 0, as pandas' iloc), by column (chainrule.explain.table_nudges): the
saliency of every column, the largest first, beside the row's raw value, and the
first-layer weights the row pushes hardest, each named by the input (column) it
multiplies. ``--weight L:J,K`` adds the chain rule for one weight on the encoded row.

``chainrule serve --data FILE --target COLUMN`` serves the page on the table
(chainrule.web.app.create_table_app): a form of the columns in place of the drawing pad,
and the Train tab fitting a TabularModel on the table. An image folder is not served yet.
"""

import os
import time
from pathlib import Path

from ..errors import InputError
from .tables import check_data, data_model, is_image_model, note_extra_columns, targets_of


def table_model(path, command, data):
    """The table model saved at ``path``; a model of images is refused, as the command
    does not take image folders yet."""
    model = data_model(path, command, data)
    if is_image_model(model):
        raise InputError(f"{path} is a model of images; chainrule {command} takes a table model "
                         f"(image folders are not {'explained' if command == 'explain' else 'served'} yet)")
    return model


def explain(args):
    from .. import explain as explanation
    from ..tabular.read import read_table

    check_data(args)
    if args.png is not None or args.example != 0:
        flag = "--png" if args.png is not None else "--example"
        raise InputError(f"{flag} applies to --dataset runs; with --data give --row I, the row of the table")
    if os.path.isdir(args.data):
        raise InputError("chainrule explain --data takes a table file; image folders are not explained yet")
    model = table_model(args.model, "explain", args.data)
    table, source = read_table(args.data, "--data")
    row = 0 if args.row is None else args.row
    if not 0 <= row < table.num_rows:
        raise InputError(f"--row must be in [0, {table.num_rows - 1}] (the rows of {source['name']}, from 0); "
                         f"received {row}")
    n = explanation.nudges(model, table.slice(row, 1), top_k=args.top_k)
    note_extra_columns(model)
    print(f"row {row} of {source['name']} ({table.num_rows:,} rows)")
    print(n)
    if args.weight:
        layer, j, k = args.weight
        y = n.nudges.label if n.nudges.label is not None else n.nudges.y
        print()
        print(explanation.chain(model.network_, n.nudges.x, y, layer=layer, j=j, k=k, bias=k is None))


def serve(args):
    from .bundled import SERVE_EXTRA

    try:
        import starlette  # noqa: F401  (checked here: the extra may be missing)
        import uvicorn  # noqa: F401
    except ImportError:
        raise InputError(SERVE_EXTRA) from None
    from ..web import app as web

    check_data(args)
    if os.path.isdir(args.data):
        raise InputError("chainrule serve --data takes a table file; image folders are not served yet")
    if not args.target:
        raise InputError(f"--data {args.data} needs --target COLUMN, the column to predict")
    target = targets_of(args.target)
    model = table_model(args.model, "serve", args.data) if args.model else None
    Path(args.models_dir).mkdir(parents=True, exist_ok=True)
    try:
        sock = web.bind(args.host, args.port)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    with sock:
        start = time.perf_counter()
        app = web.create_table_app(args.data, target, task=args.task, model=model, models_dir=args.models_dir,
                                   model_name=Path(args.model).name if args.model else None,
                                   allowed_hosts=web.allowed_hosts(args.host))
        if model is None:
            print(f"model: trained on {os.path.basename(args.data)} in {time.perf_counter() - start:.1f} s "
                  f"(no --model given)")
        print(f"models folder: {Path(args.models_dir).resolve()}")
        print(f"serving on {web.address(sock)} (Ctrl-C to stop)", flush=True)
        try:
            web.run(app, sock)
        except KeyboardInterrupt:
            pass
