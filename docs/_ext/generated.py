"""Writing generated reStructuredText into ``docs/generated/`` (shared by the page generators)."""

from __future__ import annotations

from pathlib import Path


def write_page(srcdir, name: str, text: str) -> Path:
    """Write ``generated/<name>.rst`` under ``srcdir``, only when its text changed (keeps rebuilds quick)."""
    path = Path(srcdir) / "generated" / f"{name}.rst"
    path.parent.mkdir(exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def generate_on_build(app, name: str, make_text) -> None:
    """Have Sphinx write ``generated/<name>.rst`` from ``make_text()`` before it reads the sources."""
    app.connect("builder-inited", lambda app: write_page(app.srcdir, name, make_text()))


def heading(text: str, char: str = "=") -> str:
    """An rst section title."""
    return f"{text}\n{char * len(text)}\n\n"


def literal(text: str, language: str = "text") -> str:
    """``text`` as an rst code block (``text``: shown as it is, no highlighting)."""
    body = "\n".join(f"   {line}" if line.strip() else "" for line in text.rstrip().splitlines())
    return f".. code-block:: {language}\n\n{body}\n\n"
