import itertools

import pytest

import nbrag
from nbrag.chunking.structure import detect_format, markdown_blocks
from nbrag.errors import NbragError

GUIDE_MD = """Guide
=====

Intro paragraph about the tool. It explains what the guide covers.

## Install

### Linux

```bash
pip install nbrag
make demo
```

| os | command |
|----|---------|
| linux | make |

- one item
- two items

Setext Use
----------

Open the notebook. It shows chunk boundaries.

## 中文

中文段落。检索增强生成先检索，再生成。
"""

GUIDE_HTML = """<html><body>
<h1>Guide</h1>
<p>Intro paragraph about the tool.</p>
<h2>Install &amp; <em>run</em></h2>
<pre><code>pip install nbrag
make demo</code></pre>
<ul><li>one <ul><li>nested</li></ul></li><li>two</li></ul>
<h2>Use</h2>
<p>Open the notebook.</p>
</body></html>
"""


def check(text, result, size):
    for i, c in enumerate(result):
        assert c.index == i and text[c.start:c.end] == c.text and 1 <= c.tokens <= size
    for a, b in itertools.pairwise(result):
        assert a.end <= b.start


def test_markdown_heading_paths_and_whole_blocks():
    result = nbrag.chunk(GUIDE_MD, method="structure", size=40)
    check(GUIDE_MD, result, 40)
    assert result.params["format"] == "markdown"
    paths = [c.meta["heading_path"] for c in result]
    assert paths[0] == "Guide"
    assert "Guide > Install > Linux" in paths and "Guide > Setext Use" in paths and "Guide > 中文" in paths
    code = next(c for c in result if "code" in c.meta["blocks"])
    assert "```bash\npip install nbrag\nmake demo\n```" in code.text, "the fence stays whole"
    table = next(c for c in result if "table" in c.meta["blocks"])
    assert "| os | command |" in table.text and "| linux | make |" in table.text
    listed = next(c for c in result if "list" in c.meta["blocks"])
    assert "- one item\n- two items" in listed.text
    # No chunk mixes two sections.
    assert not any("## Install" in c.text and "Setext Use" in c.text for c in result)


def test_a_heading_alone_joins_its_first_subsection():
    result = nbrag.chunk(GUIDE_MD, method="structure", size=40)
    install = next(c for c in result if c.text.startswith("## Install"))
    assert install.text.startswith("## Install\n\n### Linux")
    assert install.meta["heading_path"] == "Guide > Install > Linux"


def test_a_block_larger_than_size_is_split_inside(python_doc):
    result = nbrag.chunk(python_doc, method="structure", size=32)
    check(python_doc, result, 32)
    assert len(result) > 5


def test_html_headings_and_elements():
    assert detect_format(GUIDE_HTML) == "html"
    result = nbrag.chunk(GUIDE_HTML, method="structure", size=40)
    check(GUIDE_HTML, result, 40)
    paths = [c.meta["heading_path"] for c in result]
    assert "Guide > Install & run" in paths and "Guide > Use" in paths
    code = next(c for c in result if "code" in c.meta["blocks"])
    assert code.text.startswith("<pre><code>pip install nbrag") and code.text.endswith("</code></pre>")
    nested = next(c for c in result if "list" in c.meta["blocks"])
    assert nested.text.endswith("<li>two</li></ul>"), "a nested list ends at its own closing tag"


def test_markdown_blocks_map_to_exact_spans():
    blocks = markdown_blocks(GUIDE_MD)
    kinds = [b.kind for b in blocks]
    assert kinds[:2] == ["heading", "paragraph"] and "code" in kinds and "table" in kinds and "list" in kinds
    heading = blocks[0]
    assert GUIDE_MD[heading.start:heading.end] == "Guide\n=====\n" and heading.level == 1 and heading.title == "Guide"


def test_format_is_checked():
    with pytest.raises(NbragError, match=r"^format='pdf': choose one of auto, markdown, html\.$"):
        nbrag.chunk("text", method="structure", format="pdf")
