"""Headless Chromium on a real `mlflow server` over a store the sweep tracker wrote:
the experiment link opens the runs table (not MLflow 3's GenAI overview) with the named
cell rows at the top level and the comparison columns first (test score in points, the
paired difference and its interval, then task, method and budget), a cell row shows its
summary metrics without expanding anything, and a structure metric filters the runs.

Needs Debian's chromium + chromium-driver (scripts/install-browser.sh); skipped otherwise.
Screenshots go to tests/orchestrator/screenshots/ for a human look.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_run_support import log_trial, trial_result

from orchestrator.cli.report import ui_command
from orchestrator.mlflow_links import experiment_url
from orchestrator.runner.keys import TrialKey
from orchestrator.runner.outcome import TrialOutcome
from orchestrator.runner.summary import log_summaries
from orchestrator.runner.tracking import SweepTracker
from workers.trial_types import TrialConfig

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


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def _structure(upper_layer: int) -> dict[str, object]:
    return {
        "format": "s3delta.structure",
        "backbone": "/nonexistent",
        "entries": [
            {
                "path": f"encoder.layer.{upper_layer}.output",
                "kind": "lra",
                "size": 70,
                "layer": upper_layer,
                "stack": "encoder",
            },
        ],
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SweepTracker]:
    return build_store(tmp_path_factory.mktemp("mlflow_browser"))


def build_store(root: Path) -> tuple[str, SweepTracker]:
    """A finished sweep "live": s3delta and random cells of SST-2 at 1%, three seeds each."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    tracker = SweepTracker(uri, "s3delta", root / "artifacts")
    (root / "s.yaml").write_text("name: live\n")
    tracker.start_parent("live", root / "s.yaml", {"cells": []}, {})
    tests = {"s3delta": (0.82, 0.83, 0.84), "random": (0.80, 0.80, 0.80)}
    for method, scores in tests.items():
        cell = tracker.start_cell("live", "glue/sst2", method, "1%")
        for seed, test in zip((1, 2, 3), scores, strict=True):
            key = TrialKey("live", "glue/sst2", method, "1%", "final", seed)
            layer = 5 if method == "s3delta" else 0  # s3delta spends its budget up high
            result = trial_result(
                structure=_structure(layer),
                probabilities={f"encoder.layer.{i}.output:lra": 0.1 for i in range(6)},
                dev_score=0.85,
                test_score=test,
                delta_params=70,
                backbone_params=7000,
            )
            config = TrialConfig(seed=seed, delta_lr=0.01)
            log_trial(tracker, key, config, TrialOutcome.ok(result), [], 1, cell)
    log_summaries(tracker, "live", close=True)
    tracker.end_parent("FINISHED")
    return uri, tracker


@pytest.fixture(scope="module")
def server(
    store: tuple[str, SweepTracker], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log = (tmp_path_factory.mktemp("mlflow_server") / "server.log").open("w")
    proc = subprocess.Popen(ui_command(port, store[0]), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}; log: {log.name}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_for(healthy, 180, f"mlflow server on {url}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--window-size=2600,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(90)
    SCREENSHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def _text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def _row_text(driver: Any, run_id: str) -> str:
    """The text of a run's row (its pinned and scrolled halves); "" when not shown."""
    from selenium.webdriver.common.by import By

    parts = driver.find_elements(By.CSS_SELECTOR, f".ag-row[row-id='{run_id}']")
    return " | ".join(p.text.replace("\n", " | ") for p in parts)


def _expand(driver: Any, run_id: str) -> None:
    """Unfold a parent run's children (the expander button left of its name)."""
    from selenium.webdriver.common.by import By

    selector = f".ag-row[row-id='{run_id}'] button[data-component-id$='runnamecellrenderer.tsx_46']"
    deadline = time.monotonic() + 60
    while not driver.find_elements(By.CSS_SELECTOR, selector):
        if time.monotonic() > deadline:
            driver.save_screenshot(str(SCREENSHOTS / "mlflow_no_expander.png"))
            pytest.fail(f"no expander for run {run_id} (screenshot mlflow_no_expander.png)")
        time.sleep(0.5)
    driver.find_elements(By.CSS_SELECTOR, selector)[0].click()


def _open(driver: Any, server: str, tracker: SweepTracker, search: str = "") -> None:
    url = experiment_url(server, tracker.experiment_id, shared_view=not search)
    if search:  # MLflow ignores a shared view when the URL holds a search
        url += "&searchFilter=" + urllib.parse.quote(search)
    driver.get("about:blank")  # a full load: a hash-only change would keep the old page
    driver.get(url)


def _header_x(driver: Any, col_id: str) -> tuple[int, int]:
    """Left and right edge (px) of a column's header; (-1, -1) when not shown."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f".ag-header-cell[col-id='{col_id}']")
    shown = [h for h in found if h.is_displayed()]
    if not shown:
        return (-1, -1)
    rect = shown[0].rect
    return int(rect["x"]), int(rect["x"] + rect["width"])


def test_the_experiment_link_opens_the_runs_table_with_summary_columns(
    browser: Any, server: str, store: tuple[str, SweepTracker]
) -> None:
    driver, tracker = browser, store[1]
    _open(driver, server, tracker)
    # the view finds the 6 trials and shows their 2 cells as top rows (not the sweep run)
    wait_for(lambda: "8 matching runs" in _text(driver), 120, "the runs table (8 runs)")
    body = _text(driver)
    assert "live" not in body.split("\n"), "the sweep run is shown"
    for name in ("glue/sst2 · s3delta · 1%", "glue/sst2 · random · 1%"):
        assert name in body, f"cell row {name} not shown"
    for column in ("test_score_pct", "diff_vs_random", "task", "method", "budget"):
        assert column in body, f"column {column} not shown"
    order = [
        "metrics.`test_score_pct`",
        "metrics.`diff_vs_random`",
        "metrics.`diff_vs_random_ci_low`",
        "metrics.`diff_vs_random_ci_high`",
        "params.`task`",
    ]
    edges = [_header_x(driver, col) for col in order]
    driver.save_screenshot(str(SCREENSHOTS / "mlflow_experiment.png"))
    assert all(left >= 0 for left, _ in edges), dict(zip(order, edges, strict=True))
    lefts = [left for left, _ in edges]
    assert lefts == sorted(lefts), dict(zip(order, edges, strict=True))  # comparison first
    # the test score and the paired difference with its interval fit a 1,400 px window
    assert edges[3][1] <= 1400, dict(zip(order, edges, strict=True))


def test_a_cell_row_shows_its_summary_metrics(
    browser: Any, server: str, store: tuple[str, SweepTracker]
) -> None:
    driver, tracker = browser, store[1]
    _open(driver, server, tracker)  # (a filter in the URL would drop the shared columns)
    wait_for(lambda: "diff_vs_random" in _text(driver), 120, "the summary columns")
    cell = tracker.cell_ids[("glue/sst2", "s3delta", "1%")]  # shown without expanding
    wait_for(lambda: "83" in _row_text(driver, cell), 60, "the s3delta cell row's metrics")
    row = _row_text(driver, cell)
    assert "glue/sst2 · s3delta · 1%" in row
    # in points: test 83 ± 1, s3delta - random = +3 [0.52, 5.48], best dev 85; size 70
    for value in ("83", "3", "0.52", "5.48", "85", "70", "glue/sst2", "s3delta", "1%", "cell"):
        assert value in row, f"{value} not in the cell row: {row}"
    assert "0.516" not in row and "2.48413" not in row  # read rounded
    driver.save_screenshot(str(SCREENSHOTS / "mlflow_cells.png"))


def test_a_structure_metric_filters_the_runs(
    browser: Any, server: str, store: tuple[str, SweepTracker]
) -> None:
    driver, tracker = browser, store[1]
    _open(driver, server, tracker, "metrics.`structure/upper_fraction` > 0.5")
    # the three s3delta trials match; their cell run is shown to nest them
    wait_for(lambda: "4 matching runs" in _text(driver), 120, "3 trials and their cell")
    _expand(driver, tracker.cell_ids[("glue/sst2", "s3delta", "1%")])
    wait_for(lambda: "seed 3 · final" in _text(driver), 60, "the s3delta trials")
    body = _text(driver)
    assert "s3delta · 1% · seed 1 · final" in body
    assert "random · 1% · seed 1 · final" not in body
    driver.save_screenshot(str(SCREENSHOTS / "mlflow_structure_filter.png"))


def _sidebar_is_genai(driver: Any) -> bool:
    """MLflow 3.17's GenAI sidebar lists "Judges"; the Model training one does not."""
    return "Judges" in _text(driver).split("\n")


def test_a_trials_page_opens_from_the_table_and_model_training_is_remembered(
    browser: Any, server: str, store: tuple[str, SweepTracker]
) -> None:
    """What README (MLflow) says: a run opened from the table drops the link's
    `workflowType` and shows GenAI; one click on "Model training" is remembered."""
    from selenium.webdriver.common.by import By

    driver, tracker = browser, store[1]
    driver.get(server)  # a fresh choice: nothing remembered yet on the server's origin
    driver.execute_script('localStorage.removeItem("mlflow.workflowType_v1")')
    _open(driver, server, tracker)
    cell = tracker.cell_ids[("glue/sst2", "s3delta", "1%")]
    wait_for(lambda: _row_text(driver, cell), 120, "the s3delta cell row")
    _expand(driver, cell)
    key = TrialKey("live", "glue/sst2", "s3delta", "1%", "final", 2).text
    found = tracker.client.search_runs([tracker.experiment_id], f"tags.`s3delta.key` = '{key}'")
    trial = str(found[0].info.run_id)
    link = f".ag-row[row-id='{trial}'] a[href*='{trial}']"
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, link), 60, "the trial's link")
    driver.find_elements(By.CSS_SELECTOR, link)[0].click()
    wait_for(lambda: f"/runs/{trial}" in driver.current_url, 60, "the trial's page")
    wait_for(lambda: "s3delta · 1% · seed 2 · final" in _text(driver), 60, "the trial's name")
    driver.save_screenshot(str(SCREENSHOTS / "mlflow_trial_page.png"))
    assert _sidebar_is_genai(driver), "MLflow now keeps Model training: update README"

    switch = [
        e
        for e in driver.find_elements(By.XPATH, "//*[normalize-space(text())='Model training']")
        if e.is_displayed()
    ]
    assert switch, "no 'Model training' switch"
    switch[0].click()
    stored = 'return localStorage.getItem("mlflow.workflowType_v1")'
    wait_for(lambda: driver.execute_script(stored) == '"machine_learning"', 30, "the choice")
    driver.get("about:blank")
    driver.get(f"{server}/#/experiments/{tracker.experiment_id}/runs/{trial}")  # no parameter
    wait_for(lambda: "s3delta · 1% · seed 2 · final" in _text(driver), 60, "the trial's page")
    wait_for(lambda: not _sidebar_is_genai(driver), 30, "the Model training sidebar")
