"""The HTML reports in a real headless browser (Debian's chromium driven by playwright).

Each report is opened from file:// with every network request refused: it must load without
console or page errors, show all its figures, reference nothing outside itself, and its
per-electrode table must sort and filter. Full-page screenshots go to $SSL_IEEG_ARTIFACTS
(default: the test's tmp_path). Run with ``python -m pytest -m browser``; in CI (CI=true) a
missing chromium or playwright fails the run instead of skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bids_app.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # one full participant + group run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPORTS = ["sub-01.html", "sub-02.html", "group.html"]
ARTIFACTS_ENV = "SSL_IEEG_ARTIFACTS"


def _missing_tools() -> list[str]:
    """What the test needs and cannot find: chromium, the playwright package."""
    missing = [] if Path(CHROMIUM).exists() else [f"chromium ({CHROMIUM})"]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright")
    return missing


@pytest.fixture(scope="module")
def browser():
    """A headless chromium; skips (fails in CI) where chromium or playwright is missing."""
    missing = _missing_tools()
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def reports(synthetic, demo_config, tmp_path_factory) -> Path:
    """Run participant then group once on the demo dataset; return the output directory."""
    out = tmp_path_factory.mktemp("browser") / "derivatives" / "ssl-ieeg"
    args = [str(synthetic.root), str(out)]
    assert main([*args, "participant", "--config", str(demo_config)]) == 0
    assert main([*args, "group", "--config", str(demo_config)]) == 0
    return out


@pytest.fixture
def artifacts(tmp_path) -> Path:
    """The folder for screenshots: $SSL_IEEG_ARTIFACTS, else the test's tmp_path."""
    folder = Path(os.environ.get(ARTIFACTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def open_report(browser, reports):
    """A function that opens a report offline: it returns the page, its errors and requests."""
    context = browser.new_context()

    def _open(name: str):
        page = context.new_page()
        errors, requests = [], []
        page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: errors.append(f"page: {e}"))
        page.on("request", lambda r: requests.append(r.url))
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(("file:", "data:")) else route.abort())
        page.goto((reports / name).as_uri(), wait_until="load")
        return page, errors, requests

    yield _open
    context.close()


def _electrode_column(page, header: str) -> list[str]:
    """The text of one column of the electrode table, in DOM order, visible rows only."""
    return page.eval_on_selector("table#electrode-table", """(table, header) => {
        const col = Array.from(table.tHead.rows[0].cells).findIndex(c => c.textContent === header);
        return Array.from(table.tBodies[0].rows).filter(r => r.style.display !== "none")
            .map(r => r.cells[col].textContent);
    }""", header)


@pytest.mark.parametrize("name", REPORTS)
def test_report_loads_offline_with_figures_and_no_errors(open_report, artifacts, name):
    page, errors, requests = open_report(name)
    assert errors == []
    sizes = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.alt, i.naturalWidth, i.naturalHeight])")
    assert sizes, "a report without figures"
    assert [s for s in sizes if not (s[1] > 0 and s[2] > 0)] == [], "figures that did not load"
    links = page.eval_on_selector_all(
        "[src], [href]", "els => els.map(e => e.getAttribute('src') ?? e.getAttribute('href'))")
    assert [u for u in links if not u.startswith(("data:", "#"))] == [], "external references"
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    screenshot = artifacts / f"{Path(name).stem}.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0


def test_electrode_table_sorts_and_filters(open_report):
    page, errors, _ = open_report("sub-01.html")
    headers = page.eval_on_selector_all("table#electrode-table.sortable th",
                                        "ths => ths.map(t => t.textContent)")
    header = next(h for h in headers if h.endswith(" r"))
    cell = f"table#electrode-table th:nth-child({headers.index(header) + 1})"
    initial = _electrode_column(page, header)
    values = [float(v) for v in initial]
    assert len(set(values)) > 1, "a column of one value cannot show its order"

    page.click(cell)
    assert [float(v) for v in _electrode_column(page, header)] == sorted(values)
    page.click(cell)
    assert [float(v) for v in _electrode_column(page, header)] == sorted(values, reverse=True)

    names = _electrode_column(page, "electrode")
    channel = names[-1]
    page.fill("input[data-filter='electrode-table']", channel)
    visible = _electrode_column(page, "electrode")
    assert channel in visible
    assert visible == [n for n in names if channel.lower() in n.lower()]
    assert len(visible) < len(names)
    assert errors == []

