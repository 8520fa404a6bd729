"""Headless Chromium opens the HTML report and a real MLflow UI on the sample store.

Needs Debian's chromium + chromium-driver (scripts/install-browser.sh); skipped with
that hint otherwise. Screenshots go to tests/dashboards/screenshots/ for a human look.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from dashboards.report import ReportFiles, write_report
from dashboards.sample_sweep import SampleSweep
from orchestrator.cli.report import ui_command
from orchestrator.results.client import Client

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).parent / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs /usr/bin/chromium and /usr/bin/chromedriver: run scripts/install-browser.sh",
    ),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll until ``condition()`` is truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def report(client: Client, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(client, "demo", tmp_path_factory.mktemp("browser_report"), pngs=False)


def test_report_renders_every_figure(browser: WebDriver, report: ReportFiles) -> None:
    driver = browser
    driver.get(report.html.as_uri())

    def rendered() -> int:
        graphs = driver.find_elements(By.CSS_SELECTOR, ".plotly-graph-div")
        return sum(bool(g.find_elements(By.CSS_SELECTOR, "svg.main-svg")) for g in graphs)

    wait_for(lambda: rendered() == 12, 90, "all 12 plotly figures to render")
    titles = [t.text for t in driver.find_elements(By.CSS_SELECTOR, ".gtitle")]
    assert any(t.startswith("test_score (%) vs trainable-parameter budget") for t in titles)
    assert any(t.startswith("Pareto front") for t in titles)
    assert any(t.startswith("how the budget is spent") for t in titles)
    assert sum(t.startswith("p and structure") for t in titles) == 4
    assert sum(t.startswith("search trajectory") for t in titles) == 4
    gaps = driver.find_element(By.ID, "gaps").text
    assert "missing: glue/rte manual/lnfit budget none" in gaps
    driver.save_screenshot(str(SCREENSHOTS / "report_top.png"))
    heatmap = driver.find_element(By.ID, "fig-heatmap_glue_sst2_0.01pct")
    driver.execute_script("arguments[0].scrollIntoView();", heatmap)
    driver.save_screenshot(str(SCREENSHOTS / "report_heatmap.png"))


def test_report_tables_fit_a_1400px_window(browser: WebDriver, report: ReportFiles) -> None:
    driver = browser
    driver.get(report.html.as_uri())
    wait_for(lambda: driver.find_elements(By.ID, "results"), 60, "the results table")
    page_width = driver.execute_script("return document.documentElement.scrollWidth")
    window = driver.execute_script("return window.innerWidth")
    assert window <= 1400 and page_width <= window, (page_width, window)
    for table in ("results", "comparison"):
        box = driver.execute_script(
            "const t = document.getElementById(arguments[0]) || document.querySelector("
            "'#comparison ~ .table-wrap table'); return t.parentElement.getBoundingClientRect()"
            ".right",
            table,
        )
        assert box <= window, (table, box, window)


def test_report_legends_are_not_clipped_at_1400px(browser: WebDriver, report: ReportFiles) -> None:
    """Every figure's legend lies inside its figure (a legend running past the figure's
    edge is cut off: the forest plot's was, beside a plot of one or two rows)."""
    driver = browser
    driver.get(report.html.as_uri())
    wait_for(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, ".plotly-graph-div svg.main-svg")) > 0,
        90,
        "the figures to render",
    )
    outside = driver.execute_script(
        """
        const out = [];
        for (const div of document.querySelectorAll('.plotly-graph-div')) {
          const svg = div.querySelector('svg.main-svg').getBoundingClientRect();
          for (const legend of div.querySelectorAll('g.legend, g.legend text')) {
            const box = legend.getBoundingClientRect();
            if (box.width === 0) continue;
            if (box.left < svg.left - 1 || box.right > svg.right + 1 ||
                box.top < svg.top - 1 || box.bottom > svg.bottom + 1)
              out.push([div.id, [box.left, box.top, box.right, box.bottom],
                        [svg.left, svg.top, svg.right, svg.bottom]]);
          }
        }
        return out;
        """
    )
    assert outside == [], outside
    forest = driver.find_element(By.ID, "fig-forest")
    driver.execute_script("arguments[0].scrollIntoView();", forest)
    driver.save_screenshot(str(SCREENSHOTS / "report_forest.png"))


@pytest.fixture(scope="module")
def mlflow_ui(sample: SampleSweep, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("mlflow_ui") / "server.log").open("w")
    server = subprocess.Popen(
        ui_command(port, sample.tracking_uri), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited with {server.returncode}; log: {log.name}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_for(healthy, 120, f"mlflow server on {url} (log: {log.name})")
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


def test_mlflow_ui_shows_runs_and_metric(
    browser: WebDriver, mlflow_ui: str, client: Client, sample: SampleSweep
) -> None:
    driver = browser
    experiment_id = client.experiment_id
    driver.get(f"{mlflow_ui}/#/experiments/{experiment_id}/runs")

    def body() -> str:
        return str(driver.find_element(By.TAG_NAME, "body").text)

    # 1 parent + 33 final trials + 1 tune trial; children are folded under "demo".
    wait_for(lambda: "35 matching runs" in body(), 90, "'35 matching runs' in the runs list")
    assert "demo" in body()
    driver.save_screenshot(str(SCREENSHOTS / "mlflow_runs.png"))

    run_id = sample.run_ids[("glue/sst2", "s3delta", "0.01%", 2, "final")]
    driver.get(f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{run_id}")
    wait_for(
        lambda: "test_score" in driver.page_source and "0.87" in driver.page_source,
        90,
        "metric test_score = 0.87 on the run page",
    )
    assert "glue_sst2-s3delta-0.01%-s2-final" in driver.page_source
    driver.save_screenshot(str(SCREENSHOTS / "mlflow_run.png"))
