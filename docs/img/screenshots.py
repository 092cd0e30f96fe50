"""Remake docs/img/mlflow-{runs,compare,models}.png from the real MLflow UI over a real sweep.

Not part of the package and imported by nothing: run it by hand, in a fresh clone, so that the
pictures show one pipeline run and one sweep only.

    d=/tmp/shots && rm -rf $d && git clone -q <this repository> $d && cd $d
    make run                                                    # the pipeline: the `default` run
    .venv/bin/digitnet train sweep=grid hydra/launcher=joblib   # 18 jobs, one parent
    .venv/bin/digitnet promote                                  # models:/digits@champion
    setsid make ui &                                            # http://127.0.0.1:5000

    python3 -m venv /tmp/pw && /tmp/pw/bin/pip install playwright   # its own venv, not .venv
    /tmp/pw/bin/python docs/img/screenshots.py [http://127.0.0.1:5000]

It drives the system's Chromium (/usr/bin/chromium; `playwright install` is not needed) in a
1600x960 window and clicks what a user clicks: the Model training switch, the columns, the
sweep's expander, Show all runs. It writes the three PNGs into docs/img/ beside itself; stop
the UI afterwards (kill its process group).
"""

import re
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
OUT = Path(__file__).resolve().parent


def drag(page, handle, dx, dy, at=0.5):
    """Drag a resize handle by (dx, dy) pixels, in small steps as a hand would."""
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] * at, box["y"] + box["height"] / 2
    page.mouse.move(x - 20, y)
    page.mouse.move(x, y, steps=3)  # hover first: the handle reacts only then
    page.wait_for_timeout(500)
    page.mouse.down()
    page.wait_for_timeout(200)
    for i in range(1, 11):
        page.mouse.move(x + dx * i / 10, y + dy * i / 10)
        page.wait_for_timeout(30)
    page.mouse.up()
    page.wait_for_timeout(300)


def widen(page, column, dx):
    """Widen (or narrow) a table column by dragging the right edge of its header."""
    handle = page.locator(f'.ag-header-cell[col-id*="{column}"] .ag-header-cell-resize')
    drag(page, handle.first, dx, 0, at=0.2)  # its right half lies under the next header


def tick(page, *names):
    """Toggle entries of an open column selector (a tree), searching first when it has a box."""
    node = lambda name: page.locator(".du-bois-light-tree-treenode").filter(  # noqa: E731
        has_text=re.compile(f"^{re.escape(name)}$")
    )
    for name in names:
        search = page.get_by_placeholder("Search columns")
        if search.count():
            search.fill(name)
        node(name).first.locator(".du-bois-light-tree-checkbox").click()


def shot(page, name):
    page.mouse.move(5, 500)  # no hover tooltips
    page.wait_for_timeout(1500)
    page.screenshot(path=OUT / name)
    print("wrote", OUT / name)


def runs_table(page):
    """Training runs, the sweep expanded to its 18 jobs, with datasets, source, user, accuracies."""
    page.get_by_role("button", name="Columns").click()
    tick(page, "User", "Version", "Models", "val_accuracy", "test_accuracy")  # Models: off
    page.keyboard.press("Escape")
    page.wait_for_timeout(1000)
    page.locator(".ag-row").filter(has_text="sweep ").first.locator("button").click()
    page.wait_for_timeout(1000)
    widen(page, "Run Name", 140)
    widen(page, "Dataset", -10)
    widen(page, "Source", 60)
    shot(page, "mlflow-runs.png")


def chart_view(page):
    """The chart view over all 18 jobs: the cost curves and the validation accuracies."""
    page.locator("label").filter(has=page.locator("input[value=CHART]")).click()
    page.wait_for_timeout(2000)
    page.get_by_role("button", name="Toggle visibility of runs").click()  # the eye icon
    page.get_by_text("Show all runs", exact=True).click()  # MLflow draws the first 10 otherwise
    for run in ("sweep ", "default"):  # keep the 18 jobs: hide the parent and the pipeline run
        link = page.get_by_role("link", name=run, exact=run == "default")
        row = page.locator(".ag-row").filter(has=link).first
        row.locator("label").filter(has_text="Hide run").click()
    page.get_by_placeholder("Search metric charts").fill("^cost$|^val_accuracy$")
    page.wait_for_timeout(1500)
    drag(page, page.locator(".react-resizable > .css-1f300h0").first, 130, 0)  # the run list
    card = lambda title: page.locator(".react-resizable").filter(  # noqa: E731
        has=page.get_by_text(title, exact=True)
    )
    drag(page, card("cost").last.locator("> div").last, 400, 380)
    drag(page, card("val_accuracy").last.locator("> div").last, 0, 380)
    shot(page, "mlflow-compare.png")


def models_tab(page):
    """The logged models, one per run, with their validation and test accuracy."""
    page.get_by_role("button", name="Toggle sidebar").click()
    page.get_by_role("link", name="Models", exact=True).first.click()
    page.get_by_role("button", name="Toggle sidebar").click()
    page.wait_for_timeout(2000)
    page.get_by_role("button", name="Columns").click()
    tick(page, "Metrics", "Status", "Logged from", "Registered models")  # all off
    for dataset, metric in (("digits val", "val_accuracy"), ("digits test", "test_accuracy")):
        node = page.locator(".du-bois-light-tree-treenode").filter(
            has_text=re.compile(f"^Dataset: {dataset}")
        )
        node.first.locator(".du-bois-light-tree-switcher").click()
        page.wait_for_timeout(300)
        tick(page, metric)
    page.keyboard.press("Escape")
    widen(page, "name", 150)
    widen(page, "source_run_id", 90)
    shot(page, "mlflow-models.png")


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1600, "height": 960})
    page.goto(f"{URL}/#/experiments", wait_until="load")
    # A new browser opens every experiment on its GenAI overview: switch to Model training.
    page.get_by_text("Model training", exact=True).click()
    page.get_by_role("link", name="digitnet").first.click()
    page.wait_for_timeout(3000)
    page.get_by_role("button", name="Close").click()  # the MLflow Assistant panel
    page.get_by_role("button", name="Toggle sidebar").click()  # more room for the table
    runs_table(page)
    chart_view(page)
    models_tab(page)
    browser.close()
