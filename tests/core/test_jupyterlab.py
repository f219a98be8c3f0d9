"""A reader in JupyterLab: a real ``jupyter lab`` opens the next-token notebook 02, runs it, and its explorer
(next_token.explore) shows its controls; choosing another data class redraws the explorer's view.

The server runs on 127.0.0.1 at a free port with a token, from a temporary folder holding a copy of the
notebook, with its own settings, workspaces, runtime and config folders (nothing of the user's is read or
written); it is stopped, with its kernel, whatever happens. Headless Chromium comes from conftest.py (skipped,
saying why, only where it is absent). About a minute on a loaded two-core machine.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys

from theory_collection import papers

NOTEBOOK = "02_graph_svm.ipynb"
STARTUP_SECONDS, RUN_SECONDS = 90, 240
# JupyterLab's settings for the test: every cell in the page (no virtual scrolling), nothing fetched from the web
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A running JupyterLab over a copy of the notebook: yields (notebook URL, the notebook's copy)."""
    root = tmp_path_factory.mktemp("lab")
    folder = root / "notebooks" / "next_token"
    folder.mkdir(parents=True)
    (root / "reports" / "latest" / "next_token").mkdir(parents=True)  # the notebook's output_dir is relative
    copy = Path(shutil.copy(papers.get("next_token").notebook_dir / NOTEBOOK, folder / NOTEBOOK))
    settings = root / "settings"
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port, token = free_port(), os.urandom(16).hex()
    environment = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "OMP_NUM_THREADS": "1",
    }
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={root / 'workspaces'}",
        "--ServerApp.allow_root=True",
    ]
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status = f"http://127.0.0.1:{port}/api/status?token={token}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{(root / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(status, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {STARTUP_SECONDS} s")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/lab/tree/notebooks/next_token/{NOTEBOOK}?token={token}", copy
    finally:
        server.send_signal(signal.SIGINT)  # the server stops its kernels on the way out
        try:
            server.communicate(input=b"y\n", timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_the_explorer_renders_and_answers_a_control(lab, web_lab):
    url, copy = lab
    try:
        check_the_explorer(url, web_lab)
    except BaseException:  # what the page showed, for whoever reads the failure
        web_lab.driver.save_screenshot(str(copy.parents[2] / "failure.png"))
        cells = web_lab.driver.execute_script(
            "return Array.from(document.querySelectorAll('.jp-CodeCell')).map(c =>"
            " c.querySelector('.jp-InputPrompt').textContent + ' ' + c.querySelectorAll('.jp-OutputArea-output').length"
            " + ' outputs: ' + c.querySelector('.jp-OutputArea').innerText.slice(0, 120))"
        )
        print(f"screenshot: {copy.parents[2] / 'failure.png'}", *cells, sep="\n")
        raise


def check_the_explorer(url, web_lab):
    driver, wait = web_lab.driver, web_lab.wait
    driver.get(url)
    wait("return !!document.querySelector('.jp-NotebookPanel .jp-Cell')", RUN_SECONDS, "the notebook")
    wait(IDLE, RUN_SECONDS, "the kernel to start")
    run_all(driver)
    explorer = wait(
        "return Array.from(document.querySelectorAll('.jp-CodeCell')).find(cell =>"
        " cell.querySelector('.jp-InputArea').textContent.includes('structure_explorer(')"
        " && cell.querySelector('.jp-OutputArea .widget-dropdown select')) || null",
        RUN_SECONDS,
        "the explorer's controls",
    )
    view = "var view = arguments[0].querySelector('.explorer-view'); return view && view.innerText"
    before = wait_for(driver, view, explorer, RUN_SECONDS, "the explorer's first view")
    assert "cyclic, found at draw" in before and "W^svm" in before
    drawn = "var image = arguments[0].querySelector('.explorer-view img'); return image && image.naturalWidth"
    assert wait_for(driver, drawn, explorer, 30, "the explorer's figure") > 300
    labels = driver.execute_script(
        "return Array.from(arguments[0].querySelectorAll('.widget-label')).map(l => l.textContent)", explorer
    )
    assert {"n", "T", "K", "seed", "data"} <= set(labels), labels

    from selenium.webdriver.support.ui import Select

    started = time.monotonic()
    Select(explorer.find_element("css selector", ".widget-dropdown select")).select_by_visible_text("acyclic")
    after = wait_for(
        driver,
        "var view = arguments[0].querySelector('.explorer-view'), text = view && view.innerText;"
        " return text && text.includes(': acyclic') && text",
        explorer,
        60,
        "the explorer's view for acyclic data",
    )
    answered = time.monotonic() - started
    print(f"the explorer answered a change of its data class in {answered:.2f} s (browser to kernel and back)")
    assert after != before and "S_fin of dimension 0" in after
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE" and "widget" in e["message"]]
    assert not errors, errors


# the kernel connected and idle: the status bar says "Python 3 (theory-collection) | Idle" (it says
# "No Kernel | Initializing" before, while the toolbar's execution indicator already reads idle)
IDLE = (
    "var bar = document.getElementById('jp-main-statusbar'), text = bar ? bar.innerText : '';"
    "return text.includes('Python 3') && /\\|\\s*Idle/.test(text)"
)


def wait_for(driver, script: str, element, timeout: float, what: str):
    """Poll ``script`` (given ``element`` as arguments[0]) until it returns something true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script, element)
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what}: not there within {timeout} s")


# queued or running (the committed notebook's own counts are there from the start; its imports take seconds)
STARTED = (
    "var status = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');"
    "return (status && status.getAttribute('data-status') === 'busy') || Array.from("
    "document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).some(p => p.textContent.includes('[*]'))"
)


def run_all(driver, attempts: int = 3) -> None:
    """Run every cell through JupyterLab's menu (Run > Run All Cells), again if no cell started (a click that
    came while the kernel was still connecting)."""
    for _ in range(attempts):
        driver.find_element("css selector", "body").send_keys(Keys.ESCAPE)  # a menu left open by a try before
        menus = driver.find_elements("css selector", ".lm-MenuBar-item")
        next(m for m in menus if m.text.strip() == "Run").click()
        items = wait_for(driver, "return document.querySelectorAll('.lm-Menu-item').length", None, 30, "the menu")
        assert items
        items = driver.find_elements("css selector", ".lm-Menu-item")
        next(i for i in items if i.text.strip().startswith("Run All Cells")).click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if driver.execute_script(STARTED):
                return
            time.sleep(0.5)
    pytest.fail(f"no cell started after {attempts} clicks on Run All Cells")
