"""The self-contained HTML of a run report: one file, no server, every image embedded as a base64 PNG.

:func:`render_report` takes the already computed sections (text, tables as pandas DataFrames, figures as
base64 PNGs) and returns the page; it computes nothing. Tables are written by ``pandas.DataFrame.to_html``,
text is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Section", "render_report", "table_html"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table.data { border-collapse: collapse; font-size: .85em; margin: .8em 0; }
table.data th, table.data td { border: 1px solid #ddd; padding: .2em .5em; text-align: right; }
table.data th { background: #f3f3f3; }
div.scroll { max-height: 32em; overflow: auto; border: 1px solid #eee; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { font-size: .9em; color: #555; }
p.note { background: #f7f7f0; border-left: 4px solid #bb9; padding: .5em .8em; }
nav ul { columns: 2; } code { background: #f4f4f4; padding: 0 .2em; }
"""


@dataclass(frozen=True)
class Section:
    """One section of the report.

    Attributes:
        anchor: The section's id (for the table of contents).
        title: Its heading.
        paragraphs: Text paragraphs (plain text, escaped when rendered).
        tables: ``(caption, DataFrame)`` pairs.
        figures: ``(caption, base64 PNG)`` pairs.
        notes: Highlighted plain-text notes (what is not available, and why).
        items: A bulleted list (plain text).
    """

    anchor: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    figures: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    items: tuple[str, ...] = field(default_factory=tuple)


def table_html(frame: pd.DataFrame, scroll: bool = False) -> str:
    """A DataFrame as an HTML table (escaped; floats as pandas formats them).

    Example:
        >>> "<table" in table_html(pd.DataFrame({"a": [1.5]}))
        True
    """
    body = frame.to_html(index=False, classes="data", border=0, na_rep="", escape=True)
    return f'<div class="scroll">{body}</div>' if scroll else body


def _section(section: Section) -> str:
    parts = [f'<section id="{html.escape(section.anchor)}"><h2>{html.escape(section.title)}</h2>']
    parts += [f"<p>{html.escape(text)}</p>" for text in section.paragraphs]
    parts += [f'<p class="note">{html.escape(text)}</p>' for text in section.notes]
    if section.items:
        parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in section.items) + "</ul>")
    for caption, frame in section.tables:
        parts.append(f"<p><b>{html.escape(caption)}</b></p>" + table_html(frame, scroll=len(frame) > 25))
    for caption, png in section.figures:
        parts.append(f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(caption)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</section>")
    return "\n".join(parts)


def render_report(title: str, summary: tuple[str, ...], sections: list[Section], footer: str) -> str:
    """The whole page.

    Args:
        title: Page title and heading.
        summary: Paragraphs under the heading.
        sections: The sections, in order (each gets an entry in the table of contents).
        footer: The closing line (how to reproduce the run).

    Returns:
        The HTML document.

    Example:
        >>> page = render_report("t", ("s",), [Section("a", "A", paragraphs=("x < y",))], "f")
        >>> page.startswith("<!DOCTYPE html>"), "x &lt; y" in page
        (True, True)
    """
    contents = "".join(f'<li><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a></li>' for s in sections)
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(f"<p>{html.escape(text)}</p>" for text in summary),
        f"<nav><b>Contents</b><ul>{contents}</ul></nav>",
        *(_section(s) for s in sections),
        f"<footer><p><small>{html.escape(footer)}</small></p></footer>",
        "</body></html>",
    ])
