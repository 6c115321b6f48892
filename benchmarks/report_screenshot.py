"""A screenshot of a run report taken by a real headless browser (chromium), for the README.

    bayesxp run --output bayesxp_run
    python benchmarks/report_screenshot.py --report bayesxp_run/report.html --output docs/report_screenshot.png

The page is opened by :func:`bayesxp.testing.browser.check_page` (the same check as the browser test: every image
loads, the console shows no error); the full-page screenshot is scaled to ``--width`` pixels and written with
Pillow (matplotlib's image dependency) with a 256-colour palette.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image

from bayesxp.io.tables import atomic_path
from bayesxp.testing.browser import check_page


def main(report: str, output: str, width: int = 900) -> Path:
    with tempfile.TemporaryDirectory() as folder:
        shot = Path(folder) / "full.png"
        check = check_page(report, screenshot=shot)
        if not check.ok:
            raise SystemExit("the report does not pass the browser check: " + "; ".join(check.problems()))
        image = Image.open(shot)
        scaled = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        with atomic_path(output) as tmp:
            # a 256-colour palette keeps text and figures legible at a third of the size
            scaled.convert("RGB").quantize(colors=256).save(tmp, format="png", optimize=True)
    print(f"{check.images_loaded} of {check.images_total} images loaded, no console error; "
          f"{image.width}x{image.height} px page written to {output} at {scaled.width}x{scaled.height}")
    return Path(output)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", default="bayesxp_run/report.html")
    parser.add_argument("--output", default="docs/report_screenshot.png")
    parser.add_argument("--width", type=int, default=900)
    args = parser.parse_args()
    main(args.report, args.output, args.width)
