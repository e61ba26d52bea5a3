"""End-to-end fixtures: the real service on a free port, the built page, Debian's headless Chromium.

Nothing is mocked: uvicorn serves frontend/dist and /predict from one origin, and
Playwright drives /usr/bin/chromium (Playwright cannot download its own browser here).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFilter
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from bench.processes import free_port, stop_gracefully
from scripts.fake_camera import CHROMIUM, CHROMIUM_FLAGS, FAKE_CAMERA_FLAGS, pan_y4m

REPO = Path(__file__).resolve().parents[2]
FRONTEND = REPO / "frontend"
PHOTOS = REPO.parent / "shared" / "data" / "photos"
ARTIFACTS = REPO / "test-artifacts" / "e2e"
READY_TIMEOUT_S = 180
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# Two shared CPU cores: shrinking a photo in the page and answering it can take seconds.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="session")
def photos() -> Path:
    assert PHOTOS.is_dir(), f"the shared photos are missing: expected {PHOTOS} (../shared beside the repo)"
    return PHOTOS


@pytest.fixture(scope="session")
def frontend_dist() -> Path:
    """The built page; built here when `make test` has not done it already."""
    dist = FRONTEND / "dist"
    if not (dist / "index.html").is_file():
        npm = shutil.which("npm")
        assert npm, "npm is needed to build frontend/dist"
        if not (FRONTEND / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
        subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)
    assert (dist / "index.html").is_file()
    return dist


@pytest.fixture(scope="session")
def service(frontend_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn process serving the API and the page; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("service") / "service.log"
    env = {**os.environ, "AGE_FRONTEND_DIR": str(frontend_dist)}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "inference_service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the service exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the service was not ready after {READY_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield base
    finally:
        stop_gracefully(process, timeout=40)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).is_file(), f"Chromium not found at {CHROMIUM}: run `make setup-browser`"
    # Playwright gives every launch a fresh temporary profile (--user-data-dir).
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
    yield chromium
    chromium.close()


def _artifact_name(request: pytest.FixtureRequest) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in request.node.name)


def _open_page(browser: Browser, request: pytest.FixtureRequest, **context_options) -> Iterator[Page]:
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{_artifact_name(request)}.png"), full_page=True)
        context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop-sized tab; its final state is saved to test-artifacts/e2e/<test>.png."""
    yield from _open_page(browser, request, viewport=DESKTOP)


@pytest.fixture
def phone_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A phone-sized tab (390x844, touch); screenshot saved like `page`."""
    yield from _open_page(
        browser, request, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )


def launch_with_camera(playwright: Playwright, video: Path | None = None) -> Browser:
    """A Chromium with Chromium's fake camera: a moving test pattern, or `video` (a .y4m file) on a loop."""
    args = [*CHROMIUM_FLAGS, *FAKE_CAMERA_FLAGS]
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


@pytest.fixture
def camera_page(playwright: Playwright, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab in a Chromium that has a camera: Chromium's built-in fake one (a moving test pattern)."""
    chromium = launch_with_camera(playwright)
    try:
        yield from _open_page(chromium, request, viewport=DESKTOP, permissions=["camera"])
    finally:
        chromium.close()


# The group photo as a camera sees it: 480x360, a slow pan there and back (16 frames at 2 per second:
# about 15 px/s, so faces overlap from answer to answer even at 1 answer per second).
PAN_PHOTO = Path("pexels") / "pexels-andrea-piacquadio-2672979.jpg"


@pytest.fixture(scope="session")
def pan_video(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> Path:
    return pan_y4m(photos / PAN_PHOTO, tmp_path_factory.mktemp("video") / "pan.y4m", frames=16, fps=2)


@pytest.fixture
def live_phone_page(
    playwright: Playwright, request: pytest.FixtureRequest, pan_video: Path
) -> Iterator[Page]:
    """A phone-sized tab whose camera films the group photo (pan_video)."""
    chromium = launch_with_camera(playwright, pan_video)
    try:
        yield from _open_page(
            chromium,
            request,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            permissions=["camera"],
        )
    finally:
        chromium.close()


@pytest.fixture(scope="session")
def landscape_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A made-up landscape (sky, hills, sun, grass texture): a photo with no people in it."""
    width, height = 1200, 800
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = y / height
        draw.line([(0, y), (width, y)], fill=(int(90 + 100 * shade), int(150 + 70 * shade), 235))
    draw.ellipse([880, 90, 1000, 210], fill=(255, 214, 90))
    draw.polygon(
        [(0, 520), (260, 330), (520, 500), (760, 300), (1200, 540), (1200, 800), (0, 800)], fill=(70, 110, 80)
    )
    draw.polygon([(0, 640), (400, 560), (900, 640), (1200, 600), (1200, 800), (0, 800)], fill=(60, 140, 60))
    rng = random.Random(7)
    for _ in range(4000):
        x, y = rng.randrange(width), rng.randrange(600, height)
        draw.line(
            [(x, y), (x + rng.randint(-2, 2), y - rng.randint(3, 9))], fill=(40, rng.randint(100, 170), 40)
        )
    path = tmp_path_factory.mktemp("images") / "landscape.jpg"
    image.filter(ImageFilter.GaussianBlur(0.6)).save(path, quality=90)
    return path


@pytest.fixture(scope="session")
def rotated_jpeg(tmp_path_factory: pytest.TempPathFactory, photos: Path) -> Path:
    """A portrait photo stored sideways (600x400 pixels) with EXIF orientation 6 ("rotate 90° to show")."""
    portrait = Image.open(photos / "pexels" / "pexels-andrea-piacquadio-774909.jpg").convert("RGB")
    portrait.thumbnail((400, 600))
    assert portrait.size == (400, 600)
    sideways = portrait.transpose(Image.Transpose.ROTATE_90)  # 600 wide, 400 high
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path_factory.mktemp("images") / "sideways.jpg"
    sideways.save(path, quality=92, exif=exif.tobytes())
    return path
