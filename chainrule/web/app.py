"""The ASGI app of ``chainrule serve``: a JSON API and the static page, on Starlette.

    GET  /                      the page (static/index.html; its JS and CSS under /static/)
    GET  /api/state             data set, live model, models in the folder, training job
    POST /api/predict           {pixels}                  -> probabilities, layer activations
    POST /api/nudges            {pixels, label}           -> explain.nudges of the drawing
    POST /api/step              {pixels, label, learning_rate} -> one SGD step: before/after
    GET  /api/inspect           first-layer weights, confusion matrix, wrong test examples
    POST /api/train             {hidden, activation, loss, optimizer, learning_rate,
                                 batch_size, epochs, seed}  -> 202, or 409 while one runs
    GET  /api/train             the training job now
    POST /api/train/pause, /api/train/resume, /api/train/stop
    GET  /api/train/events      server-sent events: "progress" (with the new epochs' points)
                                until the job ends ("end"); "idle" when there is no job
    GET  /api/models            the model files of the models folder
    POST /api/models/save       {name, overwrite}  (409 if the file exists and overwrite is not true)
    POST /api/models/load       {name}

On a table (``create_table_app``, ``chainrule serve --data FILE --target COLUMN``) the
same routes but nudges, step and inspect, with the table's bodies:

    GET  /api/state             the table, its target and task, its columns (kind, categories)
    POST /api/predict           {row: {column: value or null}, target (optional)}
                                -> prediction, probabilities, nudges by column
    POST /api/row               {index} -> row ``index`` of the table and its target
    POST /api/train             {hidden, activation, optimizer, learning_rate, batch_size,
                                 epochs, seed} -> 202: a TabularModel fitted on the table

Errors are JSON ``{"error": message}`` with a 4xx status (see chainrule.web.checks). Every
POST must be sent as application/json (415 otherwise), which keeps other sites' pages
from posting to a local server without the browser asking it first. The
numerical work runs in Starlette's thread pool, training in its own thread, so the event
loop stays free to stream events.
"""

import asyncio
import json
import socket
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import datasets
from ..errors import ChainruleError, InputError
from . import checks
from .checks import RequestError
from .jobs import FINAL, JobConflict
from .session import Session, starter_model
from .table_session import TableSession

STATIC = Path(__file__).resolve().parent / "static"
EVENT_INTERVAL = 0.1  # seconds between two looks at the training job in an event stream
# The page loads nothing from elsewhere; the browser is told to refuse it too.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'")
# On every answer: no other site may frame the page (clickjacking), no type guessing.
SECURITY_HEADERS = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff")]


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP answer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def _check_json_type(request):
    """POSTs must say they send JSON: a page of another site can send a cross-origin
    text/plain POST without asking, but not an application/json one (the browser asks the
    server first, and this one never says yes)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise RequestError(415, "the request must be sent with Content-Type: application/json; "
                                f"received {media_type or 'none'}")


async def _body(request):
    """The request's JSON object, read up to MAX_BODY_BYTES (413 beyond)."""
    _check_json_type(request)
    limit = checks.MAX_BODY_BYTES
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise RequestError(413, f"the request body must be at most {limit} bytes; received {length}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the request body must be at most {limit} bytes; received more")
        chunks.append(chunk)
    return checks.parse_json(b"".join(chunks))


async def _answer(work, *args, status=200):
    """Run ``work(*args)`` in the thread pool and answer with its result as JSON, or with
    the error a refused request gets."""
    try:
        return JSONResponse(await run_in_threadpool(work, *args), status_code=status)
    except RequestError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    except JobConflict as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    except ChainruleError as exc:  # e.g. a drawing the preprocessing cannot use
        return JSONResponse({"error": " ".join(str(exc).split())}, status_code=422)


def _with_body(method, status=200):
    async def endpoint(request):
        try:
            body = await _body(request)
        except RequestError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return await _answer(method, body, status=status)
    return endpoint


def _sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def create_app(model=None, dataset="digits", data=None, data_dir=None, models_dir="models",
               model_name=None, allowed_hosts=None):
    """The Starlette app of ``chainrule serve``.

    Arguments:
        model: the classifier the page starts with; None trains session.starter_model.
        dataset: a name of chainrule.datasets.NAMES.
        data: ((X_train, y_train), (X_test, y_test)), or None to load ``dataset`` from
            ``data_dir`` (see chainrule.datasets.load).
        models_dir: the only folder models are loaded from and saved to; created if missing.
        model_name: the name the page shows for ``model``.
        allowed_hosts: the host names requests may name in their Host header (400 for
            others), e.g. ["127.0.0.1", "localhost"] so that another site cannot reach a
            loopback server through DNS rebinding; None allows any.

    Returns:
        a Starlette app; ``app.state.session`` is its chainrule.web.session.Session.
    """
    if data is None:
        data = datasets.load(dataset, data_dir)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    if model is None:
        (X_train, y_train), (X_test, y_test) = data
        model = starter_model(X_train, y_train, int(max(y_train.max(), y_test.max())) + 1)
    try:
        session = Session(model, dataset, data, models_dir, model_name)
    except RequestError as exc:  # a model that does not fit the data set, given in code
        raise InputError(exc.message) from None

    async def inspect(request):
        return await _answer(session.inspect)

    return _app(session, allowed_hosts, [
        Route("/api/nudges", _with_body(session.nudges), methods=["POST"]),
        Route("/api/step", _with_body(session.step), methods=["POST"]),
        Route("/api/inspect", inspect),
    ])


def create_table_app(data, target, task=None, model=None, models_dir="models", model_name=None,
                     allowed_hosts=None):
    """The Starlette app of ``chainrule serve --data FILE --target COLUMN``: the page's form
    of the table's columns, its prediction and nudges by column, and training on the table.

    Arguments:
        data: the table: a file path, a pandas/polars DataFrame or a pyarrow Table
            (chainrule.tabular.read.read_table).
        target: the column to predict (a list of 0/1 columns for multi-label); task: None
            (the values decide) or the task, as in TabularModel.fit.
        model: the TabularModel the page starts with (trained on the same target and
            columns); None fits one with TabularModel's defaults first.
        models_dir, model_name, allowed_hosts: as in create_app.

    Returns:
        a Starlette app; ``app.state.session`` is its chainrule.web.table_session.TableSession.
    """
    from ..tabular.model import TabularModel
    from ..tabular.read import read_table

    table, source = read_table(data)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = TabularModel().fit(table, target, task=task)
    try:
        session = TableSession(model, table, target, task, models_dir, model_name,
                               data_name=source.get("name", f"the {source['kind']} table"))
    except RequestError as exc:
        raise InputError(exc.message) from None
    return _app(session, allowed_hosts, [Route("/api/row", _with_body(session.example), methods=["POST"])])


def _app(session, allowed_hosts, own_routes):
    """The app of a Session or TableSession: the routes they share, and ``own_routes``."""

    async def index(request):
        return FileResponse(STATIC / "index.html",
                            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})

    async def state(request):
        return await _answer(session.state)

    async def job(request):
        return JSONResponse({"job": session.job_snapshot()})

    async def models(request):
        return await _answer(lambda: {"models": session.model_names()})

    def control(action):
        async def endpoint(request):
            try:
                _check_json_type(request)
            except RequestError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            return await _answer(session.control, action)
        return endpoint

    async def events(request):
        job = session.job  # the stream follows the job of the moment it opens

        async def stream():
            sent, last = 0, None
            while True:
                snapshot = None if job is None else job.snapshot()
                if snapshot is None:
                    yield _sse("idle", {})
                    return
                curves = snapshot.pop("curves")
                new = [{key: values[i] for key, values in curves.items() if i < len(values)}
                       for i in range(sent, snapshot["epochs_done"])]
                now = (snapshot["status"], snapshot["epoch"], snapshot["batch"], snapshot["epochs_done"])
                if now != last or new:
                    snapshot["points"], snapshot["first_point"] = new, sent
                    yield _sse("progress", snapshot)
                    sent, last = snapshot["epochs_done"], now
                if snapshot["status"] in FINAL:
                    yield _sse("end", {"status": snapshot["status"], "error": snapshot["error"]})
                    return
                await asyncio.sleep(EVENT_INTERVAL)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @asynccontextmanager
    async def lifespan(app):
        yield
        job = session.job
        if job is not None and not job.finished:  # a server that stops ends its run
            job.stop()

    routes = [
        Route("/", index),
        Route("/api/state", state),
        Route("/api/predict", _with_body(session.predict), methods=["POST"]),
        *own_routes,
        Route("/api/train", _with_body(session.start_training, status=202), methods=["POST"]),
        Route("/api/train", job, methods=["GET"]),
        Route("/api/train/pause", control("pause"), methods=["POST"]),
        Route("/api/train/resume", control("resume"), methods=["POST"]),
        Route("/api/train/stop", control("stop"), methods=["POST"]),
        Route("/api/train/events", events),
        Route("/api/models", models),
        Route("/api/models/save", _with_body(session.save, status=201), methods=["POST"]),
        Route("/api/models/load", _with_body(session.load), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    middleware = [Middleware(SecurityHeaders)] + ([] if allowed_hosts is None else [
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))])
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.session = session
    return app


def bind(host, port):
    """A listening socket on (host, port), so that a port in use is known before anything
    else starts (OSError); port 0 picks a free port (read it with sock.getsockname())."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY on the accepted connections
    # only for sockets whose proto says TCP. Without it, Nagle's algorithm holds every
    # small answer of a kept-alive connection back by ~40 ms (the peer's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def allowed_hosts(host):
    """The Host names to accept for a server listening on ``host``: the loopback names
    for a loopback address, any for another (the user chose to open it to a network)."""
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    return [*LOOPBACK_NAMES, host] if loopback else None


def address(sock):
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(app, sock):
    """Serve ``app`` with uvicorn on the bound socket until Ctrl-C (or SIGTERM)."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
