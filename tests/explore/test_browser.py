"""The explorer in a real browser (headless Chromium from the OS packages, driven by selenium): a walk key and
the buttons make chunks (moves, a bookmark and the way back to it), the page shows a frame and a point cloud and,
on the toggle, the spatial render; two tabs see the same world and closing one stops nothing; a saved world goes
on after a restart with ``--load``.

Chromium missing is a failure, not a skip (``.ci/run`` installs ``chromium chromium-driver``)."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.explore.conftest import ROOT, TINY
from worldmem.explore.arguments import free_port
from worldmem.explore.browser import (
    CHROMEDRIVER,
    CHROMIUM,
    click_button,
    click_checkbox,
    open_browser,
    press_key,
    region_pixels,
    screenshot,
    wait_until,
)
from worldmem.explore.latency import parse_line

pytestmark = pytest.mark.slow


class _Explorer:
    """``worldmem explore`` in a subprocess, its printed lines collected."""

    def __init__(self, *argv):
        self.port = free_port()
        self.lines: list[str] = []
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "worldmem.explore", "--checkpoint", str(TINY), "--port",
                                      str(self.port), *argv], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        threading.Thread(target=lambda: [self.lines.append(line.rstrip()) for line in self.proc.stdout],
                         daemon=True).start()
        started = wait_until(lambda: any(line.startswith("worldmem explore: serving") for line in self.lines)
                             or self.proc.poll() is not None, 120)
        if not started or self.proc.poll() is not None:
            self.proc.kill()  # a failed start leaves no server behind
            pytest.fail("the explorer did not start:\n" + "\n".join(self.lines[-30:]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chunks(self):
        return [r for r in map(parse_line, list(self.lines)) if r is not None]

    def wait_chunks(self, count: int, timeout: float = 120.0):
        assert wait_until(lambda: len(self.chunks()) >= count, timeout), self.lines[-10:]
        return self.chunks()

    def wait_line(self, prefix: str, timeout: float = 120.0) -> str:
        found = wait_until(lambda: next((line for line in list(self.lines) if line.startswith(prefix)), None), timeout)
        assert found, (prefix, self.lines[-10:])
        return found

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)


def _non_blank(pixels: np.ndarray) -> float:
    """Fraction of pixels that differ from the region's most common colour."""
    flat = pixels.reshape(-1, 3).astype(np.int32)
    values, counts = np.unique(flat, axis=0, return_counts=True)
    background = values[counts.argmax()]
    return float((np.abs(flat - background).sum(axis=1) > 30).mean())


def test_walk_buttons_screenshot_two_tabs_save_and_load(tmp_path):
    assert Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).exists(), \
        "headless Chromium is missing: apt-get install -y chromium chromium-driver (.ci/run does)"
    from selenium.webdriver.common.by import By

    world = tmp_path / "world"
    explorer = _Explorer("--scene", "synthetic:0", "--save-to", str(world))
    start_map = int(explorer.wait_line("world:").split("map ")[1].split(" points")[0].replace(",", ""))
    driver = open_browser(explorer.url)
    try:
        click_button(driver, "Forward", timeout=90)  # the page is up
        explorer.wait_chunks(1)
        press_key(driver, "w")  # the walk key (viser's command-palette hotkey)
        explorer.wait_chunks(2)
        for label in ("Turn left", "Turn left", "Right"):
            click_button(driver, label)
        chunks = explorer.wait_chunks(5)
        assert [c.index for c in chunks] == [0, 1, 2, 3, 4]
        assert [c.first for c in chunks] == [2, 6, 10, 14, 18]
        assert chunks[-1].map_points > start_map  # the map grew
        assert wait_until(lambda: "5 chunks, 22 frames" in driver.page_source, 30)  # the page's counters caught up
        click_button(driver, "Bookmark")
        assert explorer.wait_line("bookmark 1:") == "bookmark 1: frame 21"
        click_button(driver, "Turn right")
        click_button(driver, "Go back to bookmark")  # 20 degrees back: one chunk
        chunks = explorer.wait_chunks(7)
        assert [c.first for c in chunks[5:]] == [22, 26]
        assert wait_until(lambda: "7 chunks, 30 frames" in driver.page_source and "1 bookmarks" in driver.page_source,
                          30)

        # The newest frame and the point cloud are on the page.
        frame = wait_until(lambda: next((img for img in driver.find_elements(By.TAG_NAME, "img")
                                         if img.rect["width"] >= 200), None), 30)
        assert frame is not None
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", frame)
        image = screenshot(driver)
        frame_pixels = region_pixels(driver, image, frame)
        assert frame_pixels.size and frame_pixels.std() > 10, frame_pixels.std()
        canvas = driver.find_elements(By.TAG_NAME, "canvas")[0]
        scene_pixels = region_pixels(driver, image, canvas)
        assert _non_blank(scene_pixels) > 0.02, _non_blank(scene_pixels)

        # The toggle shows the spatial render the model read.
        def large_images():
            return [img for img in driver.find_elements(By.TAG_NAME, "img") if img.rect["width"] >= 200]

        assert len(large_images()) == 1
        click_checkbox(driver, "Show spatial render")
        assert wait_until(lambda: len(large_images()) == 2, 30)

        # A second tab sees the same world; closing it stops nothing.
        first_tab = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(explorer.url)
        assert wait_until(lambda: "7 chunks, 30 frames" in driver.page_source, 60)
        driver.close()
        driver.switch_to.window(first_tab)
        click_button(driver, "Forward")
        explorer.wait_chunks(8)
        assert explorer.proc.poll() is None

        click_button(driver, "Save world")
        saved = explorer.wait_line("saved world:")
        assert saved.startswith("saved world: 34 frames, 8 chunks")
        saved_map = explorer.chunks()[-1].map_points
    finally:
        driver.quit()
        code = explorer.stop()
    assert code == 0, explorer.lines[-10:]

    again = _Explorer("--load", str(world), "--save-to", str(tmp_path / "world2"))
    try:
        line = again.wait_line("world:")
        assert line == f"world: 34 frames, 8 chunks, map {saved_map:,} points"
        driver = open_browser(again.url)
        try:
            click_button(driver, "Forward", timeout=90)
            chunk = again.wait_chunks(1)[0]
        finally:
            driver.quit()
        assert (chunk.index, chunk.first) == (8, 34)
    finally:
        assert again.stop() == 0
