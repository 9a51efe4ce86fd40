"""``chainrule serve --data FILE --target COLUMN`` in a real browser: Debian's Chromium,
headless, driven by Playwright, as tests/test_web_browser.py drives the digits page. A
fixture writes a table, starts the server on it as a user would and reads the address it
prints; the test fills the form of the columns and sees the prediction and its nudges by
column change."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from playwright.sync_api import expect, sync_playwright

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pa_csv  # noqa: E402  (after the skip: pyarrow is an extra)

from test_explain_tables import table_rows  # noqa: E402  (the table the explain tests write)
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, TIMEOUT_MS  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The address of a `chainrule serve --data rows.csv --target label` started for this module."""
    folder = tmp_path_factory.mktemp("serve-table")
    pa_csv.write_csv(pa.Table.from_pylist(table_rows()), folder / "rows.csv")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", "--data", "rows.csv", "--target",
                                "label", "--port", "0", "--models-dir", str(folder / "models")], cwd=folder,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        address, lines = None, []
        deadline = time.monotonic() + 60
        while address is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"serving on (http://\S+)", line)
            address = match.group(1) if match else None
        if address is None:
            process.kill()
            pytest.fail(f"chainrule serve did not start: {''.join(lines)}{process.stderr.read()}")
        yield address
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0


def test_editing_a_row_changes_its_prediction_and_nudges(server, request):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
                    "(.ci/run installs it: apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        problems = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        page.goto(server)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("#model-info")).to_contain_text("table rows.csv, target label (classification)")
        expect(page.locator("#pad-column")).to_be_hidden()
        expect(page.locator("[data-tab=draw]")).to_be_hidden()
        expect(page.locator("#tab-row")).to_be_visible()
        # one input per column: numbers for x, w and m, a select of the categories for color
        expect(page.locator("#row-form input[type=number]")).to_have_count(3)
        expect(page.locator("#row-form select[name=color] option")).to_have_text(["blue", "green", "red", "(missing)"])
        expect(page.locator("#row-own-target")).to_contain_text(f"its label in the table: {table_rows()[0]['label']}")
        expect(page.locator("#row-prediction")).to_have_text(re.compile(r"^(big|small)$"))

        page.select_option("#row-form select[name=color]", label="red")
        page.fill("#row-form input[name=x]", "3")
        expect(page.locator("#row-prediction")).to_have_text("big")
        expect(page.locator("#column-table tbody tr")).to_have_count(4)  # one row a column
        expect(page.locator("#row-pushes tbody tr").first).to_be_visible()
        big = page.locator("#column-table tbody").inner_text()

        page.select_option("#row-form select[name=color]", label="blue")
        page.fill("#row-form input[name=x]", "-3")
        expect(page.locator("#row-prediction")).to_have_text("small")
        expect(page.locator("#row-probabilities .bar.top")).to_contain_text("small")
        expect(page.locator("#column-table tbody")).not_to_have_text(big)

        page.fill("#row-form input[name=w]", "")  # an empty input: a missing value
        expect(page.locator("#column-table tbody")).to_contain_text("(missing)")
        expect(page.locator("#row-message")).to_have_text("")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
        browser.close()
    assert not problems, problems
