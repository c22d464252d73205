"""Screenshots of the MLflow runs page, its chart view and the kedro-viz graph (`make screenshots`).

    python tools/screenshots.py [--project DIR] [--out docs]

Starts `mlflow ui` on the project's store and `kedro viz run` on its pipelines (both on
127.0.0.1), drives headless Chromium through the DevTools protocol, and writes
docs/mlflow_runs.png, docs/mlflow_charts.png and docs/kedro_viz.png. The project must have
run the study (`make run`) so the runs exist. Nothing here reaches the internet.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "spml-pseudo-labels"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WIDTH, HEIGHT = 1600, 1000


def free_port(start: int) -> int:
    """The first TCP port from `start` nobody listens on (kedro-viz refuses ports above 49151)."""
    for port in range(start, start + 100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
    sys.exit(f"No free TCP port in {start}..{start + 99}")


def wait_for(url: str, seconds: float) -> None:
    """Block until `url` answers, failing with the URL when it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(url, timeout=5):
                return
        time.sleep(1)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


@contextlib.contextmanager
def server(command: list[str], cwd: Path, log: Path) -> Iterator[None]:
    """A UI server for the duration of the block, stopped afterwards with the workers it
    started (its own process group: mlflow ui runs job consumers beside it)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Browser:
    """One headless Chromium page driven over the DevTools protocol."""

    def __init__(self, socket_url: str) -> None:
        self._ws: ClientConnection = connect(socket_url, max_size=None, open_timeout=30)
        self._ids = count(1)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=120))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str, settle: float) -> None:
        """Load `url` and give the single-page app time to fetch and draw."""
        self.call("Page.navigate", url=url)
        time.sleep(settle)

    def wait_for_text(self, text: str, seconds: float) -> bool:
        """Whether `text` appears in the page within `seconds`."""
        deadline = time.monotonic() + seconds
        probe = f"document.body && document.body.innerText.includes({json.dumps(text)})"
        while time.monotonic() < deadline:
            if self.evaluate(probe):
                return True
            time.sleep(1)
        return False

    def click_text(self, text: str) -> bool:
        """Click the innermost visible element whose own text is `text`."""
        return bool(
            self.evaluate(
                f"""(() => {{
                const all = [...document.querySelectorAll('button, [role=radio], [role=tab],
                    label, span, div, a')];
                const hit = all.filter(e => e.innerText && e.innerText.trim() === {json.dumps(text)}
                    && e.offsetParent !== null).pop();
                if (!hit) return false;
                hit.click();
                return true;
            }})()"""
            )
        )

    def screenshot(self, path: Path) -> None:
        """Write what the page shows now as a PNG."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        print(f"wrote {path}")

    def close(self) -> None:
        """Close the DevTools connection."""
        self._ws.close()


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile and no network features, and one page of it."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium)")
    command = [
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        f"--window-size={WIDTH},{HEIGHT}",
        "about:blank",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                sys.exit("chromium did not start its DevTools endpoint within 60 s")
            time.sleep(0.5)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            pages = [target for target in json.load(reply) if target["type"] == "page"]
        browser = Browser(pages[0]["webSocketDebuggerUrl"])
        yield browser
    finally:
        if browser is not None:
            browser.close()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def experiment_id(tracking_uri: str) -> str:
    """The study experiment's id in the project's store."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        sys.exit(f"No experiment {EXPERIMENT!r} in {tracking_uri}: run the study first (make run)")
    return str(experiment.experiment_id)


def mlflow_pages(browser: Browser, base: str, experiment: str, out: Path) -> None:
    """The runs table of the study's experiment, then its chart view. MLflow 3.17's UI starts
    in its GenAI mode whatever the experiment's kind; the link asks for model training."""
    browser.open(base, settle=3)
    quiet = {"mlflow.assistant.panelOpen_v1": "false"}  # no assistant panel over the runs
    for key, value in quiet.items():
        browser.evaluate(f"localStorage.setItem({json.dumps(key)}, {json.dumps(value)})")
    runs = f"{base}/#/experiments/{experiment}/runs?workflowType=machine_learning"
    browser.open(runs, settle=5)
    if not browser.wait_for_text("student", 120):
        print("warning: no student run appeared on the runs page", file=sys.stderr)
    time.sleep(3)
    browser.screenshot(out / "mlflow_runs.png")
    browser.open(f"{runs}&compareRunsMode=CHART", settle=5)
    time.sleep(10)
    browser.screenshot(out / "mlflow_charts.png")


def kedro_viz_page(browser: Browser, base: str, out: Path) -> None:
    """The default pipeline with pretty names, every namespace expanded, in layers."""
    browser.open(base, settle=3)
    settings = {
        "isPrettyName": True,
        "expandAllPipelines": True,
        "showFeatureHints": False,
        "theme": "light",
    }
    browser.evaluate(f"localStorage.setItem('KedroViz', {json.dumps(json.dumps(settings))})")
    browser.open(f"{base}/?pid=__default__&expandAllPipelines=true", settle=5)
    browser.wait_for_text("Teacher", 90)
    browser.click_text("Dismiss")  # the upgrade reminder: no internet, so no version to offer
    time.sleep(5)
    browser.screenshot(out / "kedro_viz.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, default=ROOT, help="project that ran the study")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go")
    args = parser.parse_args()
    project = args.project.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
    experiment = experiment_id(tracking_uri)
    bin_dir = Path(sys.executable).parent
    mlflow_port, viz_port = free_port(5000), free_port(4141)
    with tempfile.TemporaryDirectory(prefix="spml-shots-") as scratch:
        work = Path(scratch)
        mlflow_ui = [str(bin_dir / "mlflow"), "ui", "--backend-store-uri", tracking_uri]
        mlflow_ui += ["--host", "127.0.0.1", "--port", str(mlflow_port)]
        viz = [sys.executable, "-m", "kedro", "viz", "run", "--host", "127.0.0.1"]
        viz += ["--port", str(viz_port), "--no-browser"]
        with (
            server(mlflow_ui, project, work / "mlflow.log"),
            server(viz, project, work / "viz.log"),
            chromium(work / "profile") as browser,
        ):
            mlflow_base, viz_base = (
                f"http://127.0.0.1:{mlflow_port}",
                f"http://127.0.0.1:{viz_port}",
            )
            wait_for(f"{mlflow_base}/health", 120)
            mlflow_pages(browser, mlflow_base, experiment, args.out)
            wait_for(f"{viz_base}/api/main", 900)  # kedro viz imports the project first
            kedro_viz_page(browser, viz_base, args.out)


if __name__ == "__main__":
    main()
