"""The score view: marked query terms, bars that add up to the fused score, a slider that re-fuses,
a document view on click, the comparison of modes, and escaped static HTML."""

import json
import time

import pytest

import nbrag
from nbrag.analyzers import analyze
from nbrag.display import view_for
from nbrag.errors import NbragError
from nbrag.ranking.bm25 import terms
from nbrag.retrieval import Hit, Index, RetrievalResult
from nbrag.retrieval.comparison import RetrievalComparison, compare
from nbrag.views.retrieval import (
    RetrievalComparisonView,
    ScoreView,
    bar_segments,
    highlight_spans,
    move_label,
    result_view,
    score_parts,
    slider_weights,
)

# BM25 finds the words of the query in the first; the meaning is in the second.
KEYWORDS = "The flat above the bakery has a bicycle rack; fix the tyre sign to its door. <script>alert(1)</script>"
MEANING = "Patching a punctured bike wheel: take out the inner tube, find the hole, roughen it, glue on a patch."
ELSEWHERE = "Tea leaves keep best in a dry, dark, airtight tin, away from spices and coffee."
QUERY = "How do I fix a flat bicycle tyre?"


@pytest.fixture(scope="module")
def index(python_doc):
    idx = Index(f"view-test-{time.monotonic_ns()}", memory=True)
    idx.add({"keywords": KEYWORDS, "meaning": MEANING, "elsewhere": ELSEWHERE, "with": python_doc},
            chunker="fixed", size=64, overlap=0, progress=False)
    return idx


def shown(text, spans):
    return [text[s["start"]:s["end"]] for s in spans]


def test_marks_are_the_query_terms_bm25_matched_in_any_case():
    text = "The Lighthouse light: LIGHT from lighthouses, and a lightship."
    spans = highlight_spans(text, {"lighthouse": 2.0, "light": 1.0})
    assert shown(text, spans) == ["Lighthouse", "light", "LIGHT"]  # whole words only, as BM25 counts them
    assert spans[0]["title"] == "lighthouse 2.000"
    assert highlight_spans(text, {}) == []


def test_chinese_bigrams_merge_into_one_mark_per_run():
    text = "绿茶应该怎样储存？储存在阴凉处。Python的with语句"
    matched = dict.fromkeys(terms("绿茶储存 python 语句"), 1.0)
    assert set(matched) == {"绿茶", "茶储", "储存", "python", "语句"}
    spans = highlight_spans(text, matched)
    assert shown(text, spans) == ["绿茶", "储存", "储存", "Python", "语句"]
    run = highlight_spans("绿茶储存", matched)
    assert shown("绿茶储存", run) == ["绿茶储存"] and set(run[0]["terms"]) == {"绿茶", "茶储", "储存"}
    wide = "ＰＹＴＨＯＮ"  # full width: NFKC makes it python, as BM25 does
    assert shown(wide, highlight_spans(wide, {"python": 1.0})) == [wide]


def test_each_hit_marks_the_terms_of_its_own_bm25_explanation(index):
    result = index.search(QUERY, k=3, mode="hybrid")
    for hit, drawn in zip(result, ScoreView.of(result).hits.columns[0]["hits"]):
        marked = {t for s in highlight_spans(hit.text, hit.terms, index.language) for t in s["terms"]}
        assert marked == {t for t in hit.terms if t in analyze(hit.text, index.language)}
        assert [(m["start"], m["end"]) for m in drawn["marks"]] == \
            [(s["start"], s["end"]) for s in highlight_spans(hit.text, hit.terms, index.language)]
    row, top = next((i, h) for i, h in enumerate(result) if h.document == "keywords")
    assert index.language == "auto"
    assert {"fix", "flat", "bicycl", "tyre"} <= set(top.terms)  # English stems
    marks = ScoreView.of(result).hits.columns[0]["hits"][row]["marks"]
    assert "bicycle" in [top.text[m["start"]:m["end"]] for m in marks]  # the stem marks the word it came from


def test_a_stem_marks_every_word_it_came_from():
    text = "Running shoes: she runs, he ran, the runner's run."
    spans = highlight_spans(text, {"run": 1.5}, "english")
    assert shown(text, spans) == ["Running", "runs", "run"]  # "ran" and "runner" have stems of their own
    assert spans[0]["title"] == "run 1.500"
    assert shown(text, highlight_spans(text, {"run": 1.5})) == ["run"]  # language "none": whole words only
    german = "Die Häuser der Altstadt; ein Haus am Markt."
    assert shown(german, highlight_spans(german, {"haus": 1.0}, "german")) == ["Häuser", "Haus"]


@pytest.mark.parametrize("fusion", ["rrf", "minmax", "zscore"])
def test_the_parts_of_each_bar_add_up_to_the_fused_score(index, fusion):
    result = index.search(QUERY, k=4, mode="hybrid", fusion=fusion, weights={"bm25": 0.3, "dense": 0.7})
    parts = score_parts(result)
    for hit in result:
        assert set(parts[hit.id]) == {"bm25", "dense"}
        assert sum(parts[hit.id].values()) == pytest.approx(hit.score, abs=1e-9)
    if fusion == "rrf":  # each retriever's share is weight / (rrf_k + rank), rrf_k 5 by default
        hit = result[0]
        assert result.params["rrf_k"] == 5
        assert parts[hit.id]["bm25"] == pytest.approx(0.3 / (5 + hit.ranks["bm25"]))
        assert parts[hit.id]["dense"] == pytest.approx(0.7 / (5 + hit.ranks["dense"]))
    drawn = ScoreView.of(result).hits.columns[0]["hits"]
    assert [d["score"] for d in drawn] == pytest.approx([h.score for h in result], abs=1e-6)


def test_bars_share_one_scale_and_negative_parts_lie_left_of_zero():
    zero, rows = bar_segments([{"bm25": 2.0, "dense": 1.0}, {"bm25": 1.0, "dense": -1.0}])
    assert zero == pytest.approx(25.0)  # the scale runs from -1 to 3
    (a, b), (c, d) = rows
    assert (a["left"], a["width"], b["left"], b["width"]) == pytest.approx((25, 50, 75, 25))
    assert (c["left"], c["width"]) == pytest.approx((25, 25)) and (d["left"], d["width"]) == pytest.approx((0, 25))
    zero, rows = bar_segments([{"bm25": 0.008, "dense": 0.008}])
    assert zero == 0.0 and sum(s["width"] for s in rows[0]) == pytest.approx(100)


def test_one_retriever_draws_its_own_score(index):
    result = index.search(QUERY, k=3, mode="bm25")
    view = ScoreView.of(result)
    assert view.weight is None and view.fusion is None
    col = view.hits.columns[0]
    assert [d["score"] for d in col["hits"]] == pytest.approx([h.scores["bm25"] for h in result], abs=1e-6)
    assert all(d["scoreName"] == "bm25" and d["ranks"] == [] for d in col["hits"])
    assert "BM25 score" in col["legend"]


def test_the_slider_fuses_again_and_changes_the_order(index):
    result = index.search(QUERY, k=3, mode="hybrid")
    view = ScoreView.of(result)
    assert view.weight.value == 0.3 and view.fusion.value == "minmax"  # the search's defaults, shown as they are
    before = [h["id"] for h in view.hits.columns[0]["hits"]]
    assert before[0].startswith("keywords#") and "scaled to 0–1" in view.hits.columns[0]["legend"]
    view.weight.value = 0.0  # dense alone
    after = [h["id"] for h in view.hits.columns[0]["hits"]]
    assert after == result.fuse(weights=slider_weights(0.0)).ids != before
    assert after[0].startswith("meaning#") and view.dense.value == "dense weight 1.00"
    assert view.result.candidates is result.candidates  # fused again, not searched again
    view.fusion.value = "rrf"
    assert view.result.params["fusion"] == "rrf" and "weight / (rrf_k + its rank)" in view.hits.columns[0]["legend"]
    assert [h["id"] for h in view.hits.columns[0]["hits"]] == \
        result.fuse(weights=slider_weights(0.0), fusion="rrf").ids


def test_clicking_a_hit_opens_its_document_with_the_index_chunks(index, python_doc):
    result = index.search("the with statement and context managers", k=5, mode="bm25")
    view = ScoreView.of(result)
    assert view.document.layout.display == "none"
    row = next(i for i, h in enumerate(result) if h.document == "with")
    hit = result[row]
    view.hits.selected = [0, row]
    doc = view.document
    assert doc.layout.display is None and doc.title.startswith("with · ")
    assert "".join(s["text"] for s in doc.segments) == python_doc
    chunk = doc.chunks[doc.selected]
    assert (chunk["start"], chunk["end"]) == (hit.start, hit.end) and chunk["hit"] == hit.rank
    starred = sorted(c["hit"] for c in doc.chunks if c["hit"])
    assert starred == [h.rank for h in result if h.document == "with"]
    assert [c["start"] for c in doc.chunks] == sorted(c["start"] for c in doc.chunks)
    view.hits.selected = []
    assert view.document.layout.display == "none"


def test_a_refused_value_says_why_and_keeps_the_drawing(index):
    view = ScoreView.of(index.search(QUERY, k=3, mode="hybrid"))
    drawn = view.hits.columns
    view.fuse(weights={"bm25": 0.0, "dense": 0.0})
    assert "give numbers of at least 0 with a positive sum" in view.status.value
    assert 'class="nbrag-retrieval-error"' in view.status.value and "style=" not in view.status.value
    assert view.hits.columns is drawn
    view.fuse(weights={"bm25": 1.0, "dense": 0.0})  # a good value clears the message
    assert view.status.value == "" and view.hits.columns is not drawn


def test_a_bug_in_the_engine_is_not_taken_for_a_refused_value(index, monkeypatch):
    view = ScoreView.of(index.search(QUERY, k=3, mode="hybrid"))

    def broken(self, result, **changes):
        raise RuntimeError("boom")

    monkeypatch.setattr(Index, "fuse", broken)
    with pytest.raises(RuntimeError, match="boom"):
        view.fuse(fusion="minmax")


def test_traits_are_json(index):
    view = ScoreView.of(index.search(QUERY, k=3, mode="hybrid"))
    json.dumps(view.hits.columns)


def test_static_html_escapes_passages(index):
    result = index.search(QUERY, k=3, mode="hybrid")
    page = result.view().to_html()
    assert "alert(1)" in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<mark" in page and page.count('class="nbrag-hit"') == 3
    data, _ = result._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data and data["text/html"] == page


def make_result(mode, ids):
    hits = [Hit(id=i, text=i, document="d", start=0, end=1, score=1.0 / r, rank=r, scores={mode: 1.0 / r},
                ranks={mode: r}) for r, i in enumerate(ids, start=1)]
    return RetrievalResult(query="q", mode=mode, hits=hits, params={"k": len(ids)},
                           candidates={mode: [(i, 1.0 / r) for r, i in enumerate(ids, start=1)]})


def test_rank_changes_against_the_first_mode():
    comparison = RetrievalComparison("q", {"bm25": make_result("bm25", ["a", "b", "c"]),
                                           "dense": make_result("dense", ["c", "a", "x"])})
    assert comparison.moves() == {"bm25": [0, 0, 0], "dense": [2, -1, None]}
    assert [move_label(m) for m in (2, -1, None, 0)] == ["▲2", "▼1", "new", "="]
    view = RetrievalComparisonView.of(comparison)
    first, second = view.hits.columns
    assert [h["move"] for h in first["hits"]] == ["", "", ""]
    assert [h["move"] for h in second["hits"]] == ["▲2", "▼1", "new"]
    assert 'data-move="▲2"' in view.to_html()


def test_compare_runs_each_mode(index):
    comparison = compare(index, QUERY, ["bm25", "dense", "hybrid"], k=3)
    assert comparison.modes == ["bm25", "dense", "hybrid"]
    assert comparison.results["dense"].ids == index.search(QUERY, 3, mode="dense").ids
    view = comparison.view()
    assert [c["mode"] for c in view.hits.columns] == ["bm25", "dense", "hybrid"]
    view.hits.selected = [1, 0]
    assert view.document.title.startswith(comparison.results["dense"][0].document)
    with pytest.raises(NbragError, match=r"^modes=\['bm25', 'sparse'\]: 'sparse' is not a mode: choose from "
                                               r"bm25, dense, hybrid"):
        compare(index, QUERY, ["bm25", "sparse"])
    with pytest.raises(NbragError, match=r"'bm25' is named twice: name each mode once"):
        compare(index, QUERY, ["bm25", "bm25"])
    with pytest.raises(NbragError, match=r"^modes=\[\]: no mode to compare"):
        compare(index, QUERY, [])


def test_hyde_text_is_shown_above_the_hits(index):
    result = nbrag.retrieval.RetrievalResult(query="q", mode="dense", hits=[], params={"k": 1},
                                             candidates={"dense": []}, hyde="An <b>imagined</b> answer.")
    view = ScoreView.of(result)
    assert view.hits.hyde == "An <b>imagined</b> answer."
    assert "An &lt;b&gt;imagined&lt;/b&gt; answer." in view.to_html()


def test_a_reranked_result_shows_the_reranker_score_and_says_whose_order_it_is():
    result = make_result("bm25", ["a", "b"])
    result.params["rerank"] = True
    for hit, score in zip(result, (2.5, -1.0)):
        hit.scores["rerank"] = hit.score = score
    col = ScoreView.of(result).hits.columns[0]
    assert [h["rerank"] for h in col["hits"]] == [2.5, -1.0]
    assert [h["score"] for h in col["hits"]] == [1.0, 0.5]  # the bar: the BM25 score the reranker reordered
    assert "the order is the reranker's" in col["legend"] and "reranked" in col["title"]
    assert "rerank 2.500" in ScoreView.of(result).to_html()


def test_results_show_their_registered_views(index):
    result = index.search(QUERY, k=2, mode="bm25")
    assert view_for(result) is result_view and isinstance(result.view(), ScoreView)
    assert isinstance(result_view(result, layout={"width": "50%"}), ScoreView)
    comparison = compare(index, QUERY, ["bm25", "dense"], k=2)
    assert isinstance(comparison.view(), RetrievalComparisonView)
    data, _ = comparison._repr_mimebundle_()
    assert 'data-columns="2"' in data["text/html"]
