"""A small document model rendered to Markdown and to LaTeX from the same content, so the paper's
two forms say the same thing.

Paragraph text is plain text with two marks: `[@key1,key2]` cites references, `[#label]` refers
to a table (`tab:`), figure (`fig:`) or section (`sec:`) by its label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from contract import units

MARK = re.compile(r"\[(@|#)([^\]]+)\]")
KINDS = {"tab": "Table", "fig": "Figure", "sec": "Section"}
LATEX_CHARS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
               "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
               "±": r"$\pm$", "×": r"$\times$", "µ": r"$\mu$", "μ": r"$\mu$", "≤": r"$\leq$", "≥": r"$\geq$",
               "≈": r"$\approx$", "→": r"$\rightarrow$", "Δ": r"$\Delta$", "–": "--", "—": "---", "−": "-",
               "·": r"$\cdot$", "…": r"\ldots{}", "‘": "`", "’": "'", "“": "``", "”": "''", "°": r"$^\circ$"}


@dataclass
class Table:
    label: str
    caption: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Figure:
    label: str
    file: str          # relative to the paper's folder
    caption: str


Block = str | Table | Figure


@dataclass
class Section:
    title: str
    label: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    author: str
    date: str
    abstract: str
    sections: list[Section]
    references: list[tuple[str, str]]   # (key, text), in citation order


def tex_escape(text: str) -> str:
    out = []
    for ch in text.replace(">=", "≥").replace("<=", "≤"):
        if ch in LATEX_CHARS:
            out.append(LATEX_CHARS[ch])
        elif ord(ch) < 128 or ch.isalpha():
            out.append(ch)  # letters with accents: inputenc's utf8 handles them
        else:
            out.append("?")
    return "".join(out)


def _numbers(doc: Document) -> dict[str, int]:
    """Each label's number in order of appearance per kind, and each reference's number."""
    counters: dict[str, int] = {}
    numbers: dict[str, int] = {}
    for section in doc.sections:
        counters["sec"] = counters.get("sec", 0) + 1
        numbers[section.label] = counters["sec"]
        for block in section.blocks:
            if isinstance(block, (Table, Figure)):
                kind = block.label.split(":", 1)[0]
                counters[kind] = counters.get(kind, 0) + 1
                numbers[block.label] = counters[kind]
    for i, (key, _) in enumerate(doc.references, 1):
        numbers["@" + key] = i
    return numbers


def _md_text(text: str, numbers: dict[str, int]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "@":
            return "[" + ", ".join(str(numbers.get("@" + k.strip(), units.MISSING)) for k in m.group(2).split(",")) + "]"
        label = m.group(2)
        return f"{KINDS.get(label.split(':', 1)[0], '')} {numbers.get(label, units.MISSING)}".strip()
    return MARK.sub(sub, text)


def _tex_text(text: str) -> str:
    out, last = [], 0
    for m in MARK.finditer(text):
        out.append(tex_escape(text[last:m.start()]))
        if m.group(1) == "@":
            out.append(r"\cite{" + ",".join(k.strip() for k in m.group(2).split(",")) + "}")
        else:
            label = m.group(2)
            out.append(f"{KINDS.get(label.split(':', 1)[0], '')}~\\ref{{{label}}}")
        last = m.end()
    out.append(tex_escape(text[last:]))
    return "".join(out)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    numbers = _numbers(doc)
    out = [f"# {doc.title}", "", f"*{doc.author}, {doc.date}*", "", "## Abstract", "", _md_text(doc.abstract, numbers), ""]
    for section in doc.sections:
        out += [f"## {numbers[section.label]}. {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                out += [f"**Table {numbers[block.label]}.** {_md_text(block.caption, numbers)}", "",
                        "| " + " | ".join(_md_cell(h) for h in block.headers) + " |",
                        "|" + "|".join("---" for _ in block.headers) + "|"]
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                out.append("")
            elif isinstance(block, Figure):
                out += [f"![Figure {numbers[block.label]}]({block.file})", "",
                        f"*Figure {numbers[block.label]}: {_md_text(block.caption, numbers)}*", ""]
            else:
                out += [_md_text(block, numbers), ""]
    out += ["## References", ""]
    out += [f"{i}. {text}" for i, (_, text) in enumerate(doc.references, 1)] or ["(none)"]
    return "\n".join(out) + "\n"


def to_latex(doc: Document) -> str:
    out = [r"\documentclass[11pt]{article}", r"\usepackage[utf8]{inputenc}", r"\usepackage[T1]{fontenc}",
           r"\usepackage{lmodern}", r"\usepackage{graphicx}", r"\usepackage{booktabs}", r"\usepackage[margin=2.5cm]{geometry}",
           rf"\title{{{tex_escape(doc.title)}}}", rf"\author{{{tex_escape(doc.author)}}}",
           rf"\date{{{tex_escape(doc.date)}}}", r"\begin{document}", r"\maketitle",
           r"\begin{abstract}", _tex_text(doc.abstract), r"\end{abstract}", ""]
    for section in doc.sections:
        out += [rf"\section{{{tex_escape(section.title)}}}\label{{{section.label}}}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                cols = "l" * len(block.headers)
                out += [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{_tex_text(block.caption)}}}",
                        rf"\label{{{block.label}}}", r"\resizebox{\linewidth}{!}{%", rf"\begin{{tabular}}{{{cols}}}",
                        r"\toprule", " & ".join(tex_escape(h) for h in block.headers) + r" \\", r"\midrule"]
                # "{}" keeps a first cell starting with "[" from reading as the optional argument of \\
                out += ["{}" + " & ".join(tex_escape(str(c)) for c in row) + r" \\" for row in block.rows]
                out += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
            elif isinstance(block, Figure):
                out += [r"\begin{figure}[htbp]", r"\centering",
                        rf"\includegraphics[width=\linewidth]{{{block.file}}}",
                        rf"\caption{{{_tex_text(block.caption)}}}", rf"\label{{{block.label}}}", r"\end{figure}", ""]
            else:
                out += [_tex_text(block), ""]
    if doc.references:
        out += [r"\begin{thebibliography}{99}"]
        out += [rf"\bibitem{{{key}}} {tex_escape(text)}" for key, text in doc.references]
        out += [r"\end{thebibliography}"]
    out += [r"\end{document}"]
    return "\n".join(out) + "\n"


def unresolved(tex: str, folder: Path) -> list[str]:
    """What a LaTeX source refers to but does not define: \\ref without \\label, \\cite without
    \\bibitem, \\includegraphics of a missing file (relative to `folder`)."""
    base = Path(folder)
    labels = set(re.findall(r"\\label\{([^}]+)\}", tex))
    bibitems = set(re.findall(r"\\bibitem(?:\[[^\]]*\])?\{([^}]+)\}", tex))
    problems = [f"\\ref{{{r}}} has no \\label" for r in re.findall(r"\\(?:ref|pageref|eqref|autoref)\{([^}]+)\}", tex)
                if r not in labels]
    for group in re.findall(r"\\cite[a-z]*\*?(?:\[[^\]]*\])*\{([^}]+)\}", tex):
        problems += [f"\\cite{{{k.strip()}}} has no \\bibitem" for k in group.split(",") if k.strip() not in bibitems]
    problems += [f"\\includegraphics{{{f}}}: no such file" for f in
                 re.findall(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]+)\}", tex) if not (base / f).is_file()]
    return problems
