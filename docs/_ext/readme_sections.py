"""README sections (the benchmark tables, the measured defaults) as generated reStructuredText.

The README is the one place where the measured numbers are written; this turns the sections named in
``SECTIONS`` into rst at build time so the site never holds a stale copy. Only the Markdown the README
uses is handled: headings, paragraphs, lists, pipe tables, fenced code and inline code, links and bold.
"""

from __future__ import annotations

import re
from pathlib import Path

from generated import generate_on_build, heading, literal

SECTIONS = ("Benchmarks", "Defaults that differ from the original design")
"""Titles of the README sections shown on the benchmarks page (any heading level, matched by prefix; shown in
the README's order, so "below" and "above" in their text stay true)."""

_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def inline(text: str) -> str:
    """Markdown inline markup to rst: code spans, links, bold; everything else escaped."""
    out, pos = [], 0
    for match in _CODE.finditer(text):
        out.append(_plain(text[pos:match.start()]))
        out.append(f"``{match.group(1)}``\\ " if match.end() < len(text) and text[match.end()].isalnum()
                   else f"``{match.group(1)}``")
        pos = match.end()
    out.append(_plain(text[pos:]))
    return "".join(out)


def _plain(text: str) -> str:
    links = []

    def keep(match):
        links.append(f"`{_escape(match.group(1))} <{match.group(2)}>`__")
        return f"\0{len(links) - 1}\0"

    text = _escape(_LINK.sub(keep, text))
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], text)


def _escape(text: str) -> str:
    text = text.replace("\\", "\\\\")
    parts = text.split("**")  # bold stays bold; any other markup character is literal
    escaped = [re.sub(r"([*_|<>`])", r"\\\1", part) for part in parts]
    return "**".join(escaped) if len(parts) % 2 == 1 else "\\*\\*".join(escaped)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _cell(cell: str) -> str:
    if not cell or cell in ("-", "+", "*"):  # an empty cell, or a lone bullet character
        return "\\" + cell
    return inline(cell)


def table(rows: list[str]) -> str:
    """A Markdown pipe table as an rst list-table (the first row is the header)."""
    body = [r for r in rows if not re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", r)]
    text = ".. list-table::\n   :header-rows: 1\n\n"
    for row in body:
        cells = _cells(row)
        text += "".join(f"   {'*' if j == 0 else ' '} - {_cell(cell)}\n" for j, cell in enumerate(cells))
    return text + "\n"


def markdown_to_rst(lines: list[str], level_chars: str = "-~^") -> str:
    """Convert the Markdown of one README section (without its own title) to rst."""
    out, i, paragraph = [], 0, []

    def flush():
        if paragraph:
            out.append(inline(" ".join(paragraph)) + "\n\n")
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            out.append(literal("\n".join(lines[i + 1:end]), line[3:].strip() or "text"))
            i = end + 1
            continue
        if line.lstrip().startswith("|"):
            flush()
            end = i
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            out.append(table(lines[i:end]))
            i = end
            continue
        title = re.match(r"(#+)\s+(.*)", line)
        if title:
            flush()
            depth = min(len(title.group(1)) - 2, len(level_chars) - 1)
            out.append(heading(inline(title.group(2)), level_chars[max(depth, 0)]))
        elif re.match(r"\s*[-*]\s+", line):
            flush()
            out.append("- " + inline(re.sub(r"\s*[-*]\s+", "", line, count=1)) + "\n\n")
        elif line.startswith("!["):
            flush()  # pictures are shown on the pages they belong to
        elif not line.strip():
            flush()
        else:
            paragraph.append(line.strip())
        i += 1
    flush()
    return "".join(out)


def sections(readme: str, titles=SECTIONS) -> dict[str, list[str]]:
    """The lines of each named section: from its heading to the next heading of the same or higher level."""
    lines = readme.splitlines()
    found = {}
    for i, line in enumerate(lines):
        match = re.match(r"(#+)\s+(.*)", line)
        if not match or not any(match.group(2).startswith(t) for t in titles):
            continue
        level = len(match.group(1))
        end = next((j for j in range(i + 1, len(lines))
                    if (m := re.match(r"(#+)\s", lines[j])) and len(m.group(1)) <= level), len(lines))
        found[match.group(2)] = lines[i + 1:end]
    missing = [t for t in titles if not any(name.startswith(t) for name in found)]
    if missing:
        raise RuntimeError(f"README.md has no section titled {missing}; update SECTIONS in {__file__}.")
    return found


def benchmarks_page(readme_path: Path) -> str:
    text = heading("Benchmarks and measured defaults")
    text += (".. This page is generated from README.md when the docs are built; edit the README.\n\n"
             "The measured numbers, as the README states them (each table names the command that made it).\n\n")
    for title, lines in sections(readme_path.read_text(encoding="utf-8")).items():  # in the README's order
        text += heading(inline(title), "-") + markdown_to_rst(lines, "~^\"")
    return text


def setup(app):
    readme = Path(app.srcdir).parent / "README.md"
    generate_on_build(app, "benchmarks", lambda: benchmarks_page(readme))
    return {"parallel_read_safe": True}
