"""The headless-browser check of a self-contained HTML page (bayesxp.testing.browser) on real chromium.

A good page with two embedded PNGs must pass; pages with a corrupt data URI, a missing image file or a script
that throws must fail, naming the problem. Without chromium the tests skip, except under CI (``CI`` set), where
they fail: CI must never skip the browser check silently.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from bayesxp.testing.browser import PageCheck, check_page, require_chromium

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPACER_PX = 1500  # a block of known height between the two figures of the good page




def _png(seed: int) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)  # 400 x 300 px
    ax.plot([0, 1, 2, 3], [seed, 3 - seed, seed + 1, 0], color="C3")
    ax.set_title(f"figure {seed}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _page(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.html"
    path.write_text(
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{name}</title></head>\n"
        f"<body>\n<h1>{name}</h1>\n{body}\n</body></html>\n",
        encoding="utf-8",
    )
    return path


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def test_good_page_passes_with_full_page_screenshot(chromium, tmp_path):
    import matplotlib.image

    body = (
        f"<img alt='first' src='{_data_uri(_png(0))}'>\n"
        f"<div style='height:{SPACER_PX}px'>spacer</div>\n"
        f"<img alt='second' src='{_data_uri(_png(1))}'>"
    )
    shot = tmp_path / "shots" / "good.png"
    check = check_page(_page(tmp_path, "good", body), screenshot=shot)

    assert check.ok, check.problems()
    assert check.problems() == []
    assert check.title == "good"
    assert check.url.startswith("file://")
    assert (check.images_total, check.images_loaded) == (2, 2)
    assert check.broken_images == () and check.console_errors == ()
    assert check.screenshot == shot
    assert shot.read_bytes()[:8] == PNG_MAGIC
    height, width = matplotlib.image.imread(shot).shape[:2]
    assert width == 1280
    # the whole page, not just the first (1000-px) window: both 300-px figures and the spacer
    assert height >= SPACER_PX + 2 * 300


def _assert_rejected(check: PageCheck) -> None:
    assert not check.ok
    assert check.problems(), "a rejected page must say why"


def test_corrupt_data_uri_is_reported(chromium, tmp_path):
    src = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg!!!not*base64"
    check = check_page(_page(tmp_path, "corrupt", f"<img alt='corrupt' src='{src}'>"))

    _assert_rejected(check)
    assert (check.images_total, check.images_loaded) == (1, 0)
    assert check.broken_images == (src,)
    assert any(src in line for line in check.problems())


def test_data_uri_of_a_truncated_base64_png_is_reported(chromium, tmp_path):
    """A long data URI whose base64 was cut mid-way: the src is named by its first 80 characters."""
    src = _data_uri(_png(2))[:-7]
    check = check_page(_page(tmp_path, "truncated", f"<img alt='cut' src='{src}'>"))

    _assert_rejected(check)
    assert check.broken_images == (src[:80],)
    assert all(len(message) < 300 for message in check.console_errors)  # the data URI is abbreviated


def test_missing_image_file_is_reported(chromium, tmp_path):
    check = check_page(_page(tmp_path, "missing", "<img alt='gone' src='figures/no-such-figure.png'>"))

    _assert_rejected(check)
    assert (check.images_total, check.images_loaded) == (1, 0)
    (src,) = check.broken_images
    assert len(src) <= 80 and (tmp_path / "figures" / "no-such-figure.png").as_uri().endswith(src.lstrip("."))
    assert any(
        "no-such-figure.png" in error and "ERR_FILE_NOT_FOUND" in error for error in check.console_errors
    )


def test_script_error_is_reported(chromium, tmp_path):
    body = f"<img alt='fine' src='{_data_uri(_png(3))}'>\n<script>undefined_function();</script>"
    check = check_page(_page(tmp_path, "script", body))

    _assert_rejected(check)
    assert (check.images_total, check.images_loaded) == (1, 1)
    assert check.broken_images == ()
    assert len(check.console_errors) == 1
    assert "Uncaught ReferenceError: undefined_function is not defined" in check.console_errors[0]
    assert check.problems() == [f"browser error: {check.console_errors[0]}"]


def test_missing_page_and_missing_browser_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no HTML file"):
        check_page(tmp_path / "absent.html")
    page = _page(tmp_path, "any", "<p>x</p>")
    monkeypatch.setattr("bayesxp.testing.browser.find_chromium", lambda: None)
    with pytest.raises(RuntimeError, match="chromium-driver"):
        check_page(page)


def test_without_chromium_skips_locally_but_fails_under_ci(monkeypatch):
    monkeypatch.setattr("bayesxp.testing.browser.find_chromium", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        require_chromium()
