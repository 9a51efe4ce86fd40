"""``chainrule serve``: a web page where people watch backpropagation learn.

Needs the ``serve`` extra (Starlette and uvicorn): ``pip install 'chainrule[serve]'``.
    checks.py    what the API accepts: every request body is checked before anything changes
    session.py   the live model, its data set, the models folder; predict, nudges, step, inspect
    table_session.py  the same on a table: a row's prediction and nudges by column
    jobs.py      one training run at a time in a worker thread: pause, resume, stop
    app.py       the Starlette app: routes, JSON errors, server-sent events; uvicorn
    static/      the page: plain HTML, CSS and an ES module, no build step
See README.md in this folder for why it is built this way.
"""
