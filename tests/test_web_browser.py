"""``chainrule serve`` in a real browser: Debian's Chromium, headless, driven by Playwright.

A fixture starts ``python -m chainrule serve --port 0`` as a user would and reads the
address it prints; each test opens the page and uses it with mouse events and clicks.
Screenshots go to artifacts/screenshots/ (not committed). The page's Content-Security-Policy
forbids eval, so the tests wait with Playwright's locator assertions, never with
wait_for_function.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

import chainrule as cr

CHROMIUM = "/usr/bin/chromium"
# This machine's network is closed: the background-networking flags keep Chromium from
# waiting on services it cannot reach.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(address, models folder) of a `chainrule serve` started for this module."""
    folder = tmp_path_factory.mktemp("serve")
    models = folder / "models"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", "--port", "0",
                                "--models-dir", str(models)], cwd=folder, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
        yield address, models
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


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
                    "(.ci/run installs it: apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server, request):
    """The page, loaded and ready; fails the test on any JavaScript error or console error."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # (Chromium logs every 4xx answer as "Failed to load resource"; the page shows those itself.)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.goto(server[0])
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not problems, problems


def draw_a_seven(page):
    """A '7' with the mouse: a stroke across the top, then one down to the bottom left."""
    box = page.locator("#pad").bounding_box()
    x, y = box["x"], box["y"]
    page.mouse.move(x + 70, y + 60)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x + 70 + 14 * i, y + 60)
    for i in range(1, 13):
        page.mouse.move(x + 210 - 8 * i, y + 60 + 15 * i)
    page.mouse.up()


def at_least(n):
    """A regular expression for a whole number >= n (n < 10)."""
    return re.compile(rf"^([{n}-9]|[1-9][0-9]+)$")


def test_drawing_a_digit_shows_a_prediction(page):
    expect(page.locator("#model-info")).to_contain_text("64 -> 64 relu -> 10 softmax")
    start = time.perf_counter()
    draw_a_seven(page)
    expect(page.locator("#prediction")).to_have_text(re.compile(r"^[0-9]$"))
    seconds = time.perf_counter() - start
    expect(page.locator("#probabilities .bar")).to_have_count(10)
    expect(page.locator("#activations .layer")).to_have_count(2)
    print(f"first prediction {seconds:.2f} s after the stroke began")  # shown with pytest -s
    page.click("#clear")
    expect(page.locator("#prediction")).to_have_text("–")


def test_nudges_for_a_label_and_one_step(page):
    draw_a_seven(page)
    expect(page.locator("#prediction")).to_have_text(re.compile(r"^[0-9]$"))
    page.click("[data-tab=backprop]")
    page.click("#label-buttons button[data-label='3']")
    expect(page.locator("#nudges-summary")).to_contain_text("label 3")
    expect(page.locator("#output-nudges .bar")).to_have_count(10)
    expect(page.locator("#hidden-nudges .layer")).to_have_count(1)
    expect(page.locator("#pushes tbody tr")).to_have_count(10)
    page.fill("#step-lr", "0.5")
    page.click("#step")
    expect(page.locator("#step-result")).to_contain_text("one step of gradient descent (lr 0.5): p(3)")
    expect(page.locator("#step-result")).to_contain_text("prediction")


def test_training_curves_grow_then_the_run_stops(page):
    page.click("[data-tab=train]")
    page.fill("input[name=hidden]", "32")
    page.fill("input[name=epochs]", "1000")
    page.fill("input[name=batch_size]", "4")  # about 0.05 s an epoch: the run lasts until stopped
    page.click("#train-start")
    chart = page.locator("#loss-chart")
    expect(chart).to_have_attribute("data-points", at_least(2))
    expect(page.locator("#train-status")).to_contain_text("running")
    page.click("#train-pause")
    expect(page.locator("#train-status")).to_contain_text("paused")
    expect(page.locator("#train-resume")).to_be_enabled()
    page.click("#train-resume")
    seen = int(chart.get_attribute("data-points"))
    expect(chart).to_have_attribute("data-points", at_least(min(seen + 2, 9)))
    page.click("#train-stop")
    expect(page.locator("#train-status")).to_contain_text("stopped")
    points = int(chart.get_attribute("data-points"))
    assert 2 <= points < 1000
    assert page.locator("#accuracy-chart polyline").count() == 2  # train and validation
    expect(page.locator("#train-start")).to_be_enabled()
    # the stopped run is now the live model
    expect(page.locator("#model-info")).to_contain_text("64 -> 32 relu -> 10 softmax")
    time.sleep(0.3)
    assert int(chart.get_attribute("data-points")) == points  # nothing more arrives


def test_a_diverging_run_shows_the_watchdogs_banner(page):
    page.click("[data-tab=train]")
    page.fill("input[name=hidden]", "32")
    page.fill("input[name=learning_rate]", "5")
    page.fill("input[name=epochs]", "4")
    page.click("#train-start")
    banner = page.locator("#train-warnings .banner[data-kind=chance]")
    expect(page.locator("#train-warnings .banner")).to_have_count(0)  # the new run's banners only
    expect(banner).to_contain_text("accuracy is at chance level after 3 epochs")
    expect(banner).to_contain_text("the learning rate is probably too high (up to 5")
    expect(page.locator("#train-warnings")).to_be_visible()
    expect(page.locator("#train-status")).to_contain_text("done")
    expect(banner).to_be_visible()  # it stays after the run


def test_save_and_reload_a_model(page, server):
    _, models = server
    page.click("[data-tab=train]")
    page.fill("#save-name", "from-the-page")
    page.click("#save")
    expect(page.locator("#models-message")).to_have_text("saved from-the-page.npz")
    saved = cr.load(models / "from-the-page.npz")
    page.click("#save")
    expect(page.locator("#models-message")).to_contain_text("already exists")
    cr.Sequential([cr.Dense(64, 16, "tanh"), cr.Dense(16, 10, "softmax")], seed=1).save(models / "other.npz")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.click("[data-tab=train]")
    page.select_option("#model-list", "other.npz")
    page.click("#load")
    expect(page.locator("#models-message")).to_have_text("loaded other.npz")
    expect(page.locator("#model-info")).to_contain_text("model other.npz: 64 -> 16 tanh -> 10 softmax")
    page.select_option("#model-list", "from-the-page.npz")
    page.click("#load")
    expect(page.locator("#model-info")).to_contain_text("model from-the-page.npz")
    expect(page.locator("#model-info")).to_contain_text(f"{saved.n_parameters():,} parameters")


def test_inspect_shows_weights_confusion_and_mistakes(page):
    page.click("[data-tab=inspect]")
    expect(page.locator("#confusion tr")).to_have_count(11)
    expect(page.locator("#inspect-summary")).to_contain_text("test accuracy")
    assert page.locator("#weights canvas").count() > 0
    assert page.locator("#wrong figure").count() > 0


def test_a_bad_request_from_the_page_shows_the_servers_message(page):
    page.click("[data-tab=train]")
    page.fill("#save-name", "../escape")
    page.click("#save")
    expect(page.locator("#models-message")).to_contain_text("name must be a file name")
