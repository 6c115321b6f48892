"""A real headless browser's look at a self-contained HTML file, for the tests of the HTML report.

:func:`check_page` opens the file in Debian's ``chromium`` through ``chromedriver`` (Selenium), waits until the
page and its images are loaded and returns a :class:`PageCheck`: the images that did not load, the errors the
browser logged (a failed resource, an uncaught JavaScript exception) and, when asked, a full-page screenshot.
:func:`find_chromium` says whether the browser and its driver are installed (``.ci/run`` installs them).

Selenium is imported only by :func:`check_page`, and it is always given the binaries found here, so Selenium
Manager never tries to download a browser or a driver.

Example:
    >>> from bayesxp.testing.browser import check_page, find_chromium
    >>> if find_chromium() is not None:  # doctest: +SKIP
    ...     check = check_page("report.html", screenshot="report.png")
    ...     assert check.ok, check.problems()
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PageCheck", "find_chromium", "require_chromium", "check_page"]

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")
_DRIVERS = ("chromedriver",)
_FALLBACK_BROWSER = Path("/usr/bin/chromium")
_FALLBACK_DRIVER = Path("/usr/bin/chromedriver")
_MAX_SCREENSHOT_HEIGHT = 20_000
_SRC_CHARS = 80
_LONG_DATA_URI = re.compile(rf"data:[^\s\"']{{{_SRC_CHARS + 1},}}")

_IMAGES_DONE = (
    "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete);"
)
_IMAGES = "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0]);"
# the page's height, and the height of the window's frame around the viewport (outer minus inner height)
_HEIGHTS = (
    "return [Math.max(document.body ? document.body.scrollHeight : 0, document.documentElement.scrollHeight),"
    " window.outerHeight - window.innerHeight];"
)


def _first_on_path(names: tuple[str, ...], fallback: Path) -> Path | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return fallback if fallback.is_file() else None


def find_chromium() -> tuple[Path, Path] | None:
    """The chromium binary and its chromedriver, or None when either is missing.

    The browser is the first of ``chromium``, ``chromium-browser`` and ``google-chrome`` on ``PATH``
    (else ``/usr/bin/chromium``); the driver is ``chromedriver`` on ``PATH`` (else ``/usr/bin/chromedriver``).

    Returns:
        ``(browser, driver)``, or None when the browser or the driver is not installed.
    """
    browser = _first_on_path(_BROWSERS, _FALLBACK_BROWSER)
    driver = _first_on_path(_DRIVERS, _FALLBACK_DRIVER)
    if browser is None or driver is None:
        return None
    return browser, driver


def require_chromium() -> tuple[Path, Path]:
    """For tests: the browser and its driver; skip the test without them (or without selenium), but fail
    when ``CI`` is set, so that CI never skips the browser checks silently.

    Returns:
        ``(browser, chromedriver)``.

    Raises:
        pytest.skip.Exception: Outside CI, when something is missing.
        pytest.fail.Exception: Under CI, when something is missing.
    """
    import pytest

    found, reason = find_chromium(), None
    if found is None:
        reason = "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    else:
        try:
            import selenium  # noqa: F401
        except ImportError:
            reason = "selenium is not installed (pip install -e '.[test]')"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}: the browser check must run in CI")
        pytest.skip(reason)
    return found


@dataclass(frozen=True)
class PageCheck:
    """What a headless chromium saw when it opened a page.

    Attributes:
        url: The ``file://`` URL that was opened.
        title: The page's ``<title>``.
        images_total: How many ``<img>`` elements the page has.
        images_loaded: How many of them loaded (``complete`` and ``naturalWidth > 0``).
        broken_images: The ``src`` of every image that did not load, in at most 80 characters: the first 80 of
            a data URI, the last 77 of a longer URL after ``...`` (so that the file name shows).
        console_errors: The messages the browser logged at level SEVERE: resources that failed to load,
            uncaught JavaScript exceptions and ``console.error`` calls; a data URI in them is cut to 80
            characters.
        screenshot: The full-page PNG screenshot, or None when none was asked for.
    """

    url: str
    title: str
    images_total: int
    images_loaded: int
    broken_images: tuple[str, ...]
    console_errors: tuple[str, ...]
    screenshot: Path | None

    @property
    def ok(self) -> bool:
        """True when every image loaded and the browser logged no error."""
        return not self.broken_images and not self.console_errors

    def problems(self) -> list[str]:
        """One human-readable line per problem; empty when :attr:`ok`.

        Returns:
            The lines, broken images first, then the browser's errors.
        """
        lines = [f"image did not load: {src}" for src in self.broken_images]
        lines += [f"browser error: {message}" for message in self.console_errors]
        return lines


def _abbreviate(message: str) -> str:
    """The message with every data URI longer than 80 characters cut to its first 80 and an ellipsis."""
    return _LONG_DATA_URI.sub(lambda found: found.group()[:_SRC_CHARS] + "...", message)


def _short_src(src: str) -> str:
    """An image's src in at most 80 characters: a data URI's start, or a longer URL's end (its file name)."""
    if len(src) <= _SRC_CHARS or src.startswith("data:"):
        return src[:_SRC_CHARS]
    return "..." + src[-(_SRC_CHARS - 3) :]


def _wait_for(driver: Any, script: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page did not finish loading its images within {timeout:g} s")
        time.sleep(0.05)


def check_page(
    path: Path | str,
    screenshot: Path | str | None = None,
    width: int = 1280,
    timeout: float = 30.0,
) -> PageCheck:
    """Open an HTML file in headless chromium and report its images, its errors and, if asked, a screenshot.

    The browser runs with ``--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage``; the check
    waits until ``document.readyState`` is ``"complete"`` and every image is complete (loaded or failed).
    The screenshot is taken after the window is resized so that its viewport is as tall as the page (at most
    20000 px), so it holds the whole page.

    Args:
        path: The HTML file.
        screenshot: Where to save a full-page PNG screenshot; None for none.
        width: The window's width in pixels.
        timeout: Seconds to wait for the page and its images to load.

    Returns:
        The :class:`PageCheck`.

    Raises:
        FileNotFoundError: When ``path`` does not exist.
        RuntimeError: When chromium or chromedriver is not installed, or Selenium is not.
        TimeoutError: When the page's images are still loading after ``timeout`` seconds.
    """
    page = Path(path).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no HTML file at {page}")
    found = find_chromium()
    if found is None:
        raise RuntimeError(
            "chromium and chromedriver are needed to check a page in a browser; on Debian: "
            "apt-get install chromium chromium-driver"
        )
    browser, driver_path = found
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:  # pragma: no cover - selenium is in the test extras
        raise RuntimeError("selenium is needed to check a page in a browser: pip install selenium") from error

    options = webdriver.ChromeOptions()
    options.binary_location = str(browser)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(driver_path)))
    try:
        driver.set_page_load_timeout(timeout)
        url = page.as_uri()
        driver.get(url)
        _wait_for(driver, _IMAGES_DONE, timeout)
        images = driver.execute_script(_IMAGES)
        broken = tuple(_short_src(str(src)) for src, loaded in images if not loaded)
        shot = None
        if screenshot is not None:
            height, frame = driver.execute_script(_HEIGHTS)
            driver.set_window_size(width, min(int(height), _MAX_SCREENSHOT_HEIGHT) + max(int(frame), 0))
            shot = Path(screenshot)
            shot.parent.mkdir(parents=True, exist_ok=True)
            if not driver.save_screenshot(str(shot)):
                raise RuntimeError(f"chromium could not save the screenshot {shot}")
        log = driver.get_log("browser")
        errors = tuple(_abbreviate(entry["message"]) for entry in log if entry["level"] == "SEVERE")
        return PageCheck(
            url=url,
            title=driver.title,
            images_total=len(images),
            images_loaded=len(images) - len(broken),
            broken_images=broken,
            console_errors=errors,
            screenshot=shot,
        )
    finally:
        driver.quit()
