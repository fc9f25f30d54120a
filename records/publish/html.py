"""A document (records/reports/doc.py) as one self-contained HTML file: the figures embedded as
data: URIs, the styles inline, no script or font fetched from anywhere. As a page (the blog
post) or as slides (one section a slide; arrow keys, space and PageUp/PageDown move)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from records.reports.doc import Document, Figure, Table, _md_text, _numbers

PAGE_CSS = """
body { font: 17px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.9rem; line-height: 1.2; } h2 { margin-top: 2rem; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9rem; color: #555; }
table { border-collapse: collapse; font-size: .85rem; margin: 1rem 0; display: block; overflow-x: auto; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
.byline { color: #555; } .abstract { background: #f5f5f7; padding: .8rem 1rem; border-radius: 6px; }
"""

SLIDES_CSS = """
html, body { margin: 0; height: 100%; background: #111; font: 20px/1.4 system-ui, sans-serif; overflow-x: hidden; }
.slide { box-sizing: border-box; position: relative; width: 100%; height: 100vh; padding: 5vh 7vw; background: #fff;
         color: #1d1d1f; overflow: auto; scroll-snap-align: start; border-bottom: 4px solid #111; }
body { overflow-y: scroll; scroll-snap-type: y mandatory; }
.slide h1 { font-size: 2.2rem; } .slide h2 { font-size: 1.7rem; margin-top: 0; }
.slide img { max-height: 60vh; max-width: 100%; } .slide table { font-size: .7rem; border-collapse: collapse; }
.slide th, .slide td { border-bottom: 1px solid #ccc; padding: .2rem .4rem; text-align: left; }
.slide .n { position: absolute; right: 1rem; bottom: .5rem; color: #888; font-size: .8rem; }
figcaption { font-size: .7rem; color: #555; }
"""

SLIDES_JS = """
document.addEventListener('keydown', function (e) {
  var s = Array.from(document.querySelectorAll('.slide')), h = window.innerHeight;
  var i = Math.round(window.scrollY / h);
  if (['ArrowRight', 'ArrowDown', 'PageDown', ' '].includes(e.key)) i = Math.min(i + 1, s.length - 1);
  else if (['ArrowLeft', 'ArrowUp', 'PageUp'].includes(e.key)) i = Math.max(i - 1, 0);
  else return;
  e.preventDefault(); s[i].scrollIntoView();
});
"""


def data_uri(path: Path) -> str:
    kind = {"png": "image/png", "svg": "image/svg+xml", "jpg": "image/jpeg"}.get(path.suffix.lstrip(".").lower(), "image/png")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _text(text: str, numbers: dict[str, int]) -> str:
    return html.escape(_md_text(text, numbers))


def _table(t: Table, numbers: dict[str, int]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in t.rows)
    return (f"<p><strong>Table {numbers[t.label]}.</strong> {_text(t.caption, numbers)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def _figure(f: Figure, numbers: dict[str, int], folder: Path) -> str:
    src = data_uri(folder / f.file)
    return (f'<figure><img src="{src}" alt="Figure {numbers[f.label]}">'
            f"<figcaption>Figure {numbers[f.label]}: {_text(f.caption, numbers)}</figcaption></figure>")


def _blocks(blocks: list[str | Table | Figure], numbers: dict[str, int], folder: Path) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Table):
            out.append(_table(block, numbers))
        elif isinstance(block, Figure):
            out.append(_figure(block, numbers, folder))
        elif block.startswith("- "):
            items = [line[2:] for line in block.splitlines() if line.startswith("- ")]
            out.append("<ul>" + "".join(f"<li>{_text(i, numbers)}</li>" for i in items) + "</ul>")
        else:
            out.append(f"<p>{_text(block, numbers)}</p>")
    return "\n".join(out)


def _refs(doc: Document) -> str:
    if not doc.references:
        return ""
    return "<h2>References</h2><ol>" + "".join(f"<li>{html.escape(t)}</li>" for _, t in doc.references) + "</ol>"


def page(doc: Document, folder: Path) -> str:
    """The document as one page; figures read from `folder`."""
    numbers = _numbers(doc)
    body = [f"<h1>{html.escape(doc.title)}</h1>", f'<p class="byline">{html.escape(doc.author)}, {html.escape(doc.date)}</p>',
            f'<p class="abstract">{_text(doc.abstract, numbers)}</p>']
    for section in doc.sections:
        body += [f"<h2>{html.escape(section.title)}</h2>", _blocks(section.blocks, numbers, folder)]
    body.append(_refs(doc))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(doc.title)}</title>"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{PAGE_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def slides(doc: Document, folder: Path) -> str:
    """The document as slides: a title slide (title, byline, the abstract), then one per section."""
    numbers = _numbers(doc)
    parts = [f'<section class="slide" id="slide-1"><h1>{html.escape(doc.title)}</h1><p>{html.escape(doc.author)}, '
             f"{html.escape(doc.date)}</p><p>{_text(doc.abstract, numbers)}</p></section>"]
    for i, section in enumerate(doc.sections, 2):
        parts.append(f'<section class="slide" id="slide-{i}"><h2>{html.escape(section.title)}</h2>'
                     f"{_blocks(section.blocks, numbers, folder)}<span class=\"n\">{i}</span></section>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(doc.title)}</title>"
            f"<style>{SLIDES_CSS}</style></head><body>{''.join(parts)}<script>{SLIDES_JS}</script></body></html>\n")
