"""JupyterLab on a free loopback port, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import io
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("NBRAG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--no-proxy-server"]

# JupyterLab settings for a quiet, fully rendered page: no news or update checks,
# and every cell kept in the DOM (windowed notebooks drop cells out of view).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# The README's gallery: `make screenshots` runs these tests with NBRAG_SCREENSHOTS=docs/images, and each
# capture named here is also written there under its gallery name, shrunk to a 256-colour PNG.
# gallery name: (the test that captures it, its capture in test-artifacts/)
GALLERY = {
    "chunking-boundaries.png": ("test_lab.py::test_dragging_a_slider_moves_the_boundaries", "slider-after-drag.png"),
    "chunking-compare.png": ("test_lab.py::test_tour_renders_the_boundary_widgets", "tour-compare.png"),
    "retrieval-scores.png": ("test_lab.py::test_the_weight_slider_refuses_the_ranking", "retrieve-before.png"),
    "graph-path.png": ("test_graph.py::test_clicking_an_entity_lists_its_chunks", "graph-path.png"),
    "answer-citations.png": ("test_rag.py::test_clicking_a_citation_opens_its_source", "rag-plain-cited.png"),
    "agent-trace.png": ("test_rag.py::test_clicking_a_citation_opens_its_source", "rag-trace.png"),
    "attention-heatmap.png": ("test_inspectors.py::test_attention_and_routing_views",
                              "inspectors-attention-pinned.png"),
    "kvcache-growth.png": ("test_inspectors.py::test_cache_speed_comparison_and_long_attention_views",
                           "inspectors-cache.png"),
    "moe-routing.png": ("test_inspectors.py::test_attention_and_routing_views", "inspectors-routing.png"),
    "lora-loss.png": ("test_lora.py::test_the_loss_curve_grows_while_the_cell_runs", "lora-live-growing.png"),
}
GALLERY_BY_CAPTURE = {capture: name for name, (_, capture) in GALLERY.items()}
STARTED = time.time()


def gallery_dir() -> Path | None:
    value = os.environ.get("NBRAG_SCREENSHOTS")
    return Path(value).resolve() if value else None


EXPECTED = pytest.StashKey[list]()  # the gallery images that this run's tests will write


def pytest_collection_modifyitems(config, items):
    """With NBRAG_SCREENSHOTS set, run only the browser tests that capture a gallery image."""
    if gallery_dir() is None:
        return
    here = Path(__file__).parent
    ids = {item: f"{item.path.name}::{item.name}" for item in items if item.path.parent == here}
    wanted = {test for test, _ in GALLERY.values()}
    dropped = [item for item in ids if ids[item] not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
    config.stash[EXPECTED] = [name for name, (test, _) in GALLERY.items() if test in ids.values()]


def pytest_sessionfinish(session, exitstatus):
    """A gallery run fails when one of its images was not written (its test was skipped or failed early)."""
    folder = gallery_dir()
    if folder is None or session.config.option.collectonly:
        return
    missing = [name for name in session.config.stash.get(EXPECTED, [])
               if not (folder / name).exists() or (folder / name).stat().st_mtime < STARTED]
    if missing:
        session.config.get_terminal_writer().line(f"Gallery images not written to {folder}: {', '.join(missing)}",
                                                  red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}: install Debian's chromium package (make browser)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab(lab_root, tmp_path_factory):
    """A JupyterLab server over ``lab_root``; yields its base URL and token."""
    settings = tmp_path_factory.mktemp("lab-settings")
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    port, token = _free_port(), "nbrag-test-token"
    log = (tmp_path_factory.mktemp("lab-log") / "lab.log").open("w")
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab_root}",
         "--LabApp.expose_app_in_browser=True", "--allow-root", "--LabApp.news_url=None",
         f"--LabApp.workspaces_dir={settings / 'workspaces'}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=lab_root,
    )
    base = f"http://127.0.0.1:{port}"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    deadline = time.monotonic() + 90
    while True:
        try:
            no_proxy.open(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start; see {log.name}")
            time.sleep(0.5)
    yield {"url": base, "token": token}
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(120_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("dialog", lambda dialog: (page.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    yield page
    context.close()


KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return !!kernel && kernel.status === "idle";
}"""


def open_and_run_all(page, lab, name: str, timeout_s: float = 300) -> None:
    """Open a notebook, run all its cells, and wait until the kernel is idle with every cell run."""
    # A workspace of its own, so no tab of an earlier test is restored beside it.
    workspace = f"{Path(name).stem}-{int(time.time() * 1000)}"
    page.goto(f"{lab['url']}/lab/workspaces/{workspace}/tree/{name}?token={lab['token']}",
              wait_until="domcontentloaded")
    try:
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    except Exception:
        save_screenshot(page, f"failed-{Path(name).stem}.png")
        raise
    # Start the command without awaiting it: the run-all promise may never settle for the page.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(
        f"""() => {{
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return ({KERNEL_IDLE})() && prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }}""",
        timeout=timeout_s * 1000,
    )


def save_screenshot(target, name: str, until=None) -> Path:
    """Save a page or an element in test-artifacts/; a gallery capture also goes, shrunk, to NBRAG_SCREENSHOTS.

    ``until``, an element inside ``target``: the picture ends at its bottom edge."""
    from playwright.sync_api import Locator

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if isinstance(target, Locator):
        with whole_element_in_view(target):
            png = target.screenshot(animations="disabled")
            if until is not None:  # the screenshot scrolled the element into view: both boxes are as it drew them
                below = until.bounding_box()
                png = cut_png(png, math.ceil(below["y"] + below["height"] - target.bounding_box()["y"]))
    else:
        png = target.screenshot(animations="disabled")
    path.write_bytes(png)
    folder = gallery_dir()
    if folder is not None and name in GALLERY_BY_CAPTURE:
        folder.mkdir(parents=True, exist_ok=True)
        write_small_png(png, folder / GALLERY_BY_CAPTURE[name])
    return path


def cut_png(png: bytes, height: int) -> bytes:
    """The top ``height`` pixels of a PNG."""
    from PIL import Image

    out = io.BytesIO()
    with Image.open(io.BytesIO(png)) as image:
        image.crop((0, 0, image.width, min(height, image.height))).save(out, "PNG")
    return out.getvalue()


def write_small_png(png: bytes, path: Path) -> None:
    """A screenshot in 256 colours without dithering: text stays sharp, the file a third of the size.

    Maximum coverage, refined once by k-means, keeps every pixel within a few levels of its colour (median cut
    merged a thin red path into its neighbours, octree flattened a heatmap's palest cells to white)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, kmeans=1,
                                              dither=Image.Dither.NONE)
    small.save(path, optimize=True)


# How much of the window is not the notebook's scrolling area (JupyterLab's bars), for an element inside it.
CHROME = """(el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (/(auto|scroll)/.test(style.overflowY) && p.scrollHeight > p.clientHeight) {
            return window.innerHeight - p.clientHeight;
        }
    }
    return 0;
}"""
# Fonts loaded and two frames drawn: what the screenshot takes is what the page shows.
FRAMES = """() => document.fonts.ready.then(
    () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))))"""


@contextmanager
def whole_element_in_view(locator):
    """Make the window tall enough for the element to fit in the notebook's scrolling area, then restore it.

    An element screenshot is clipped by the notebook's scrolling area: a view taller than it would be cut off."""
    page = locator.page
    size = page.viewport_size
    box = locator.bounding_box()
    needed = math.ceil(box["height"] + locator.evaluate(CHROME)) + 24 if box else 0
    if needed <= size["height"]:
        page.evaluate(FRAMES)
        yield
        return
    page.set_viewport_size({"width": size["width"], "height": needed})
    try:
        page.wait_for_timeout(400)  # JupyterLab lays the panels out again, plotly redraws responsive plots
        page.evaluate(FRAMES)
        yield
    finally:
        page.set_viewport_size(size)
        page.evaluate(FRAMES)


def copy_notebook(source: Path, lab_root: Path) -> str:
    """Copy a notebook without its saved outputs, so whatever renders comes from this run."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, lab_root / source.name)
    return source.name
