"""`lab publish [--out DIR]`: the publication bundle, from the lab's counted findings only.

    DIR/paper/paper.pdf, paper.tex, paper.md, figures/   the paper, compiled by pdflatex
    DIR/paper-arxiv.tar.gz                                its source, compiling on its own
    DIR/blog/post.md (+ figures/), DIR/blog/post.html     the blog post; the HTML embeds its figures
    DIR/slides.html                                       the slides, one self-contained file
    DIR/zoo/<slug>/                                       each headline model, Hugging Face layout + README.md card
    DIR/zoo/INDEX.md                                      the models, and each finding's model not exported with why
    DIR/notebooks/<slug>.ipynb                            a demo notebook per headline finding

What was published, when and where is recorded in the lab's published.json (the tracker and
`lab roadmap` show it)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from contract.layout import LabDir
from contract.publication import Published, Pushed
from db import Store
from records.publish import html, notebooks, posts
from records.publish.findings import findings
from records.publish.typeset import TypesetError, arxiv_archive, compile_pdf
from records.publish.zoo import build_zoo
from records.reports.doc import to_markdown
from records.reports.lab import load_lab
from records.reports.paper import draw, write_paper
from science.catalog import Catalog

NAMESPACE = "joulelab"


class PublishError(RuntimeError):
    """Nothing can be published (no counted finding), or a part failed; the message says why."""


@dataclass
class Publication:
    out: Path
    files: dict[str, str] = field(default_factory=dict)      # part -> path (relative to out)
    experiments: list[int] = field(default_factory=list)     # the counted experiments used
    findings: list[int] = field(default_factory=list)        # the headline findings
    models: list[str] = field(default_factory=list)          # the zoo's folders
    problems: list[str] = field(default_factory=list)        # parts not made, one line each
    pushed: Pushed | None = None
    seconds: float = 0.0

    def record(self) -> Published:
        """The publication as published.json keeps it (stamped now)."""
        return Published(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), str(self.out), dict(self.files),
                         tuple(self.experiments), tuple(self.findings), tuple(self.models), tuple(self.problems),
                         self.pushed, round(self.seconds, 1))


def record(lab: LabDir, pub: Publication) -> None:
    lab.published.write_text(json.dumps(pub.record().to_json(), indent=2) + "\n")


async def _paper(store: Store, catalog: Catalog, out: Path, ids: set[int], pub: Publication) -> None:
    md, tex = await write_paper(store, catalog, out / "paper", None, only=ids)
    pub.files.update(paper_tex=str(tex.relative_to(out)), paper_md=str(md.relative_to(out)))
    figures = re.findall(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]+)\}", tex.read_text())
    archive = arxiv_archive(tex, figures, out / "paper-arxiv.tar.gz")
    pub.files["arxiv"] = str(archive.relative_to(out))
    try:
        pdf = await asyncio.to_thread(compile_pdf, tex)
    except TypesetError as exc:  # the rest of the bundle is still made; the PDF is said not done
        pub.problems.append(f"paper PDF: {exc}")
        return
    pub.files["paper_pdf"] = str(pdf.relative_to(out))


async def publish(store: Store, catalog: Catalog, lab: LabDir, out: Path, namespace: str = NAMESPACE) -> Publication:
    started = time.perf_counter()
    data = await load_lab(store, catalog)
    counted, found = findings(data)
    if not counted:
        raise PublishError("nothing to publish: no rated experiment counts yet (smoke runs and fewer than 5 seeds are "
                           "preliminary and count for nothing); run an entry at profile default with --seeds 5")
    out.mkdir(parents=True, exist_ok=True)
    pub = Publication(out, experiments=[e.id for e in counted], findings=[f.id for f in found])
    # the zoo's exporting child (its torch import) runs while the paper's figures are drawn and
    # pdflatex compiles it: neither reads what the other writes
    (models, problems), _ = await asyncio.gather(build_zoo(lab, data, found, out / "zoo", namespace),
                                                 _paper(store, catalog, out, set(pub.experiments), pub))
    pub.problems += problems
    pub.models = [m.folder.name for m in models]
    if models or problems:
        pub.files["zoo"] = "zoo"  # zoo/INDEX.md says what is there and why a finding's model is not
    for m in models:
        path = notebooks.write(m.finding, f"../zoo/{m.folder.name}", m.kind, out / "notebooks" / f"{m.folder.name}.ipynb")
        pub.files.setdefault("notebooks", "notebooks")
        pub.files[f"notebook:{m.finding.id}"] = str(path.relative_to(out))
    blog_dir = out / "blog"
    figures = draw(counted, blog_dir)
    post = posts.blog(data, counted, found, figures, pub.models)
    (blog_dir / "post.md").write_text(to_markdown(post))
    (blog_dir / "post.html").write_text(html.page(post, blog_dir))
    (out / "slides.html").write_text(html.slides(posts.slides(data, counted, found, figures), blog_dir))
    pub.files.update(blog_md="blog/post.md", blog_html="blog/post.html", slides="slides.html")
    pub.seconds = time.perf_counter() - started
    return pub
