"""Citations in every written form, sentence splitting, and the support check on real text with MiniLM."""

import itertools

import pytest

from nbrag.errors import NbragError
from nbrag.rag import Source, parse_citations, split_sentences, support_check
from nbrag.rag.support import SUPPORT_THRESHOLD, check_threshold
from nbrag.retrieval import Hit

FRESNEL = ("The French physicist Augustin-Jean Fresnel proposed a lens made of many separate pieces of glass. "
           "The first lighthouse lens of his design was installed at the Cordouan lighthouse in 1823.")
RAIN = "A tipping-bucket gauge sends rain from its funnel into a small seesaw with two buckets."


def source(number, text, dropped=False):
    hit = Hit(id=f"c{number}", text=text, document="doc", start=0, end=len(text), score=1.0, rank=number)
    return Source(number=number, hit=hit, text="" if dropped else text, tokens=0, dropped=dropped)


SOURCES = [source(1, FRESNEL), source(2, RAIN), source(3, "Tea grows on hills.")]


@pytest.mark.parametrize("text, numbers", [
    ("Fresnel [1].", [1]),
    ("Fresnel [1, 2].", [1, 2]),
    ("Fresnel [1][3].", [1, 3]),
    ("Fresnel [1-3].", [1, 2, 3]),
    ("菲涅耳【1】。", [1]),
    ("菲涅耳［2］。", [2]),
    ("菲涅耳[1，2]。", [1, 2]),
    ("菲涅耳[1、3]。", [1, 3]),
    ("Fresnel [Source 2].", [2]),
])
def test_every_citation_form(text, numbers):
    citations, warnings = parse_citations(text, SOURCES)
    assert [c.number for c in citations] == numbers
    assert warnings == []
    for c in citations:
        assert c.source == c.number - 1
        assert text[c.start:c.end].strip("[]【】［］ ,，、-").replace("Source ", "").isdigit() or c.end - c.start > 2


def test_marker_spans_never_overlap_and_a_single_number_spans_its_marker():
    text = "A [1]. B [2, 3]."
    citations, _ = parse_citations(text, SOURCES)
    assert text[citations[0].start:citations[0].end] == "[1]"
    assert [text[c.start:c.end] for c in citations[1:]] == ["2", "3"]
    spans = sorted((c.start, c.end) for c in citations)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_a_number_with_no_source_is_kept_and_warned():
    citations, warnings = parse_citations("Fresnel [1] and [7].", SOURCES)
    assert [(c.number, c.source) for c in citations] == [(1, 0), (7, None)]
    assert "[7]" in warnings[0] and "no such source" in warnings[0]


def test_a_dropped_source_is_not_a_citable_source():
    sources = [source(1, FRESNEL), source(2, RAIN, dropped=True)]
    citations, warnings = parse_citations("Rain [2].", sources)
    assert citations[0].source is None and "[2]" in warnings[0]


def test_an_answer_without_citations_is_kept_with_a_warning():
    citations, warnings = parse_citations("Fresnel designed it.", SOURCES)
    assert citations == [] and "cites no source" in warnings[0]


def test_years_and_lists_are_not_citations():
    citations, _ = parse_citations("In 1823 (see page 12), items 1, 2 and 3.", SOURCES)
    assert citations == []


def test_sentences_in_english_and_chinese():
    text = "Fresnel made it. [1] It was installed in 1823 [1]! Was it? 茶树喜欢温暖。绿茶不发酵！真的吗？"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == ["Fresnel made it. [1]", "It was installed in 1823 [1]!", "Was it?",
                                            "茶树喜欢温暖。", "绿茶不发酵！", "真的吗？"]


def test_support_marks_the_sentence_no_cited_source_supports():
    text = "Fresnel proposed a lens made of separate pieces of glass [1]. The rain gauge is made of tea leaves [1]."
    citations, _ = parse_citations(text, SOURCES)
    checks = support_check(text, SOURCES, citations)
    assert [c.cited for c in checks] == [[1], [1]]
    assert checks[0].supported and checks[0].score >= SUPPORT_THRESHOLD
    assert not checks[1].supported and checks[1].score < checks[0].score
    assert text[checks[1].start:checks[1].end] == checks[1].sentence


def test_support_of_an_uncited_sentence_is_against_every_source_and_flagged():
    text = "A tipping-bucket gauge pours rain into a seesaw with two buckets."
    (check,) = support_check(text, SOURCES, [])
    assert check.uncited and check.cited == [] and check.best == 2 and check.supported


def test_threshold_checks():
    assert check_threshold(None) == SUPPORT_THRESHOLD
    assert check_threshold(0.4) == 0.4
    for bad in (2, "high", True, float("nan")):
        with pytest.raises(NbragError, match=rf"^support_threshold={bad!r}: give a (finite )?number from -1 to 1 \(a "
                                             r"cosine similarity; default 0\.6\)\.$"):
            check_threshold(bad)
