"""Driving the explorer's page in a real browser: headless Chromium through selenium (``pip install -e
".[explore]"`` and the OS packages ``chromium chromium-driver``). The browser test and the screenshot command
(:mod:`worldmem.explore.screenshot`) use it; the explorer itself does not.

WebGL runs on the CPU (SwiftShader) in a headless browser without a GPU, so the 3D view renders slowly but
truly.
"""

from __future__ import annotations

import io
import time

import numpy as np

__all__ = ["CHROMEDRIVER", "CHROMIUM", "click_button", "click_checkbox", "dismiss_notifications", "open_browser", "press_key",
           "region_pixels", "screenshot", "wait_for_button", "wait_until"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
         "--enable-unsafe-swiftshader")


def open_browser(url: str):
    """A headless Chromium (``selenium.webdriver.Chrome``) showing ``url``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.get(url)
    return driver


def _button_xpath(label: str) -> str:
    return f"//button[normalize-space(.)='{label}']"


def wait_for_button(driver, label: str, timeout: float = 60.0):
    """The page's button labelled ``label`` once it is there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.element_to_be_clickable((By.XPATH, _button_xpath(label))))


def click_button(driver, label: str, timeout: float = 60.0) -> None:
    """Clicks the page's button labelled ``label`` (found by its text in viser's DOM)."""
    button = wait_for_button(driver, label, timeout)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def click_checkbox(driver, label: str, timeout: float = 60.0) -> None:
    """Clicks the page's checkbox labelled ``label`` (its ``<label for=...>`` names the input)."""
    from selenium.webdriver.common.by import By

    found = wait_until(lambda: driver.find_elements(By.XPATH, f"//label[normalize-space(.)='{label}']"), timeout)
    if not found:
        raise LookupError(f"no checkbox labelled {label!r} on the page")
    box = driver.find_element(By.ID, found[0].get_attribute("for"))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()


def press_key(driver, key: str) -> None:
    """Presses ``key`` (one letter) on the page, as a user would with the page focused."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_elements(By.TAG_NAME, "canvas")
    body = canvas[0] if canvas else driver.find_element(By.TAG_NAME, "body")
    ActionChains(driver).move_to_element(body).click().perform()
    ActionChains(driver).send_keys(key.lower()).perform()


def dismiss_notifications(driver) -> None:
    """Closes the page's notifications (viser warns that WebGL runs in software, as it does headless)."""
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(By.XPATH, "//div[contains(@class, 'Notification')]//button"):
        try:
            button.click()
        except Exception:  # already gone  # noqa: BLE001
            pass


def screenshot(driver) -> np.ndarray:
    """The window as an (H, W, 3) uint8 array."""
    import imageio.v3 as iio

    return np.asarray(iio.imread(io.BytesIO(driver.get_screenshot_as_png())))[..., :3]


def region_pixels(driver, image: np.ndarray, element) -> np.ndarray:
    """The pixels of ``image`` (a :func:`screenshot`) under ``element`` (device pixel ratio applied)."""
    ratio = float(driver.execute_script("return window.devicePixelRatio") or 1.0)
    rect = element.rect
    x0, y0 = int(rect["x"] * ratio), int(rect["y"] * ratio)
    x1, y1 = int((rect["x"] + rect["width"]) * ratio), int((rect["y"] + rect["height"]) * ratio)
    return image[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]


def wait_until(condition, timeout: float, interval: float = 0.2):
    """Polls ``condition()`` until it is truthy (returned) or ``timeout`` seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None
