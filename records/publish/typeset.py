"""The paper compiled to PDF with a real typesetter (pdflatex, from TeX Live), and its arXiv
source archive: the .tex and its figures, nothing else, compiling on its own."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from contract import units

TYPESETTER = "pdflatex"
PASSES = 2                 # the second pass resolves the references
TIMEOUT_S = 300.0
INSTALL = ("install TeX Live (Debian: apt-get install texlive-latex-base texlive-latex-recommended "
           "lmodern)")


class TypesetError(RuntimeError):
    """The paper could not be compiled; the message says why and how to fix it."""


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            return " ".join(x.strip() for x in lines[i:i + 2])[:300]
    return "see the .log file"


def compile_pdf(tex: Path) -> Path:
    """`tex` compiled in its own folder; the PDF's path."""
    exe = shutil.which(TYPESETTER)
    if exe is None:
        raise TypesetError(f"{TYPESETTER} not found: {INSTALL}")
    for _ in range(PASSES):
        try:
            done = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                                  capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TypesetError(f"{TYPESETTER} ran longer than {units.duration(TIMEOUT_S)} on {tex}") from None
        if done.returncode != 0:
            log = tex.with_suffix(".log")
            text = log.read_text(errors="replace") if log.exists() else done.stdout
            raise TypesetError(f"{TYPESETTER} failed on {tex}: {_first_error(text)} (log: {log})")
    return tex.with_suffix(".pdf")


def arxiv_archive(tex: Path, figures: list[str], out: Path) -> Path:
    """A .tar.gz of the source arXiv compiles: the .tex at its root and each figure at its path."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(tex, arcname=tex.name)
        for rel in figures:
            tar.add(tex.parent / rel, arcname=rel)
    return out
