"""Code shown in the docs as an excerpt of a source file (a ```python block right after a line
``<!-- source: PATH -->``) is still what that file says, line for line, so the docs cannot drift."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXCERPT = re.compile(r"<!-- source: (\S+) -->\n```python\n(.*?)```", re.S)
CASES = [(doc.name, path, code) for doc in sorted((ROOT / "docs").glob("*.md"))
         for path, code in EXCERPT.findall(doc.read_text())]


def test_the_docs_have_excerpts():
    assert any(doc == "autograd.md" for doc, _, _ in CASES)


@pytest.mark.parametrize("doc, path, code", CASES, ids=[f"{d}:{p}:{i}" for i, (d, p, _) in enumerate(CASES)])
def test_excerpt_matches_its_source(doc, path, code):
    assert code in (ROOT / path).read_text(), f"{doc}: an excerpt of {path} no longer matches the file"
