"""The README and docs/*.md: every relative link resolves to a file in the repository, and
the README sends readers to no folder outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*(?:<([^>]+)>|([^)\s]+))(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def _without_code(text: str) -> str:
    """The text with fenced and inline code removed (links there are examples, not links)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.M)  # indented code blocks
    return re.sub(r"(`+)(?:(?!\1).)+\1", "", text)


def relative_links(path: Path) -> list[str]:
    """Targets of Markdown links and images in `path` that are not URLs or bare anchors."""
    return [
        target
        for angled, plain in LINK.findall(_without_code(path.read_text()))
        if not EXTERNAL.match(target := angled or plain) and not target.startswith("#")
    ]


def test_link_finder_finds_links_and_skips_code(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "[a](docs/a.md) ![img](x.png#frag) [web](https://example.org) [top](#top)\n"
        "`[not](a link)` and\n```\n[not](fenced.md)\n```\n    [not](indented.md)\n"
        '[titled](b.md "title") [angle](<c d.md>)\n'
    )
    assert relative_links(page) == ["docs/a.md", "x.png#frag", "b.md", "c d.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_in_the_repository(doc: Path) -> None:
    links = relative_links(doc)
    broken = []
    for target in links:
        file = (doc.parent / target.split("#", 1)[0]).resolve()
        if not file.is_relative_to(ROOT) or not file.exists():
            broken.append(target)
    assert not broken, f"{doc.name}: links that do not resolve inside the repository: {broken}"


def test_readme_links_the_design_and_names_no_outside_folder() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/design.md" in relative_links(ROOT / "README.md")
    for outside in ("DESIGN.md", "shared folder", "/work/"):
        assert outside not in readme, outside
