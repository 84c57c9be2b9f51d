import json
import math
import re

import pytest

import nbrag
from nbrag.data import sample_documents
from nbrag.errors import NbragError
from nbrag.eval import BeirEval, beir, load_beir
from nbrag.eval.retrieval import _ranking
from nbrag.views.beir import BeirTable
from tests.conftest import SHARED_DATA

HOTPOT = SHARED_DATA / "hotpotqa"
needs_hotpot = pytest.mark.skipif(not (HOTPOT / "corpus.jsonl").exists(), reason=f"{HOTPOT} is not here")

TITLES = {"lighthouses": "Lighthouses and Their Optics", "weather_station": "A Community Weather Station",
          "tea": "茶"}
PICKED = {"lighthouses": range(6), "weather_station": range(2, 6), "tea": range(1, 3)}
QUERIES = [  # (id, text, {passage: relevance})
    ("q-pharos", "Where did the Pharos of Alexandria stand?", {"lighthouses-1": 1}),
    ("q-unjudged", "How should green tea be stored?", {"tea-1": 0}),
    ("q-fresnel", "Which French physicist made lenses for lighthouses?", {"lighthouses-5": 1, "gone-7": 1}),
    ("q-nothing", "zyxwv qwxzk", {"lighthouses-0": 1}),
    ("q-luyu", "陆羽写了哪本书？", {"tea-1": 1}),
]


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip() and not p.startswith("#")]


def write_set(folder, corpus=True, queries=True, qrels="qrels.tsv", header="query-id\tcorpus-id\tscore"):
    """A small BEIR folder: real paragraphs of the sample documents, and five queries."""
    folder.mkdir(parents=True, exist_ok=True)
    if corpus:
        with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
            for doc, text in sample_documents().items():
                for n in PICKED[doc]:
                    f.write(json.dumps({"_id": f"{doc}-{n}", "title": TITLES[doc], "text": paragraphs(text)[n]},
                                       ensure_ascii=False) + "\n")
    if queries:
        with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
            for qid, text, _ in QUERIES:
                f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    if qrels:
        path = folder / qrels
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [header] + [f"{qid}\t{pid}\t{score}" for qid, _, judged in QUERIES for pid, score in judged.items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_set(tmp_path_factory.mktemp("beir") / "small")


@pytest.fixture(scope="module")
def evaluated(small) -> BeirEval:
    return beir(small, ["bm25", "dense", ("fused", {"mode": "hybrid", "rrf_k": 10})], progress=False)


def by_hand(ranked: list[str], relevant: set[str], k: int = 10) -> dict[str, float]:
    """nDCG@k, R@k, R@100 and RR of a ranking with binary relevance, from their definitions."""
    dcg = sum(1 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1) if doc in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    first = next((rank for rank, doc in enumerate(ranked, start=1) if doc in relevant), None)
    return {"nDCG@10": dcg / ideal, "R@10": len(relevant & set(ranked[:k])) / len(relevant),
            "R@100": len(relevant & set(ranked[:100])) / len(relevant), "RR": 1 / first if first else 0.0}


def test_load_reads_the_layout_and_keeps_judged_queries_in_order(small):
    data = load_beir(small)
    assert data.name == "small" and len(data.corpus) == 12
    assert data.corpus["lighthouses-1"].startswith("Lighthouses and Their Optics\nThe most famous lighthouse")
    assert list(data.queries) == ["q-pharos", "q-fresnel", "q-nothing", "q-luyu"]  # q-unjudged has no relevant
    assert data.unjudged == 1
    assert data.qrels["q-fresnel"] == {"lighthouses-5": 1, "gone-7": 1}


def test_metrics_match_their_definitions(evaluated):
    data, index = evaluated.data, evaluated.index
    assert isinstance(evaluated, BeirEval) and evaluated.metrics == ["nDCG@10", "R@10", "R@100", "RR"]
    expected = {}
    for qid, text in data.queries.items():
        ranked = list(dict.fromkeys(hit.document for hit in index.search(text, 100, mode="bm25").hits))
        relevant = {pid for pid, score in data.qrels[qid].items() if score > 0}
        expected[qid] = by_hand(ranked, relevant)
        assert evaluated.per_query["bm25"][qid]["retrieved"] == ranked[:10]
    # the cases worked out in full: the Pharos passage comes first, a query of unknown words finds nothing
    assert expected["q-pharos"] == {"nDCG@10": 1.0, "R@10": 1.0, "R@100": 1.0, "RR": 1.0}
    assert evaluated.per_query["bm25"]["q-nothing"]["retrieved"] == []
    assert expected["q-nothing"] == {"nDCG@10": 0.0, "R@10": 0.0, "R@100": 0.0, "RR": 0.0}
    assert expected["q-fresnel"]["R@10"] == 0.5  # one of its two relevant passages is not in the corpus
    row = evaluated.table()[0]
    assert row["mode"] == "bm25" and row["queries"] == 4  # the query that found nothing counts, as 0
    for metric in evaluated.metrics:
        for qid in data.queries:
            assert evaluated.per_query["bm25"][qid][metric] == pytest.approx(expected[qid][metric], abs=1e-9)
        assert row[metric] == pytest.approx(sum(e[metric] for e in expected.values()) / 4, abs=1e-4)
    assert evaluated.scores("bm25")["q-pharos"] == 1.0


def test_every_mode_runs_and_a_document_counts_once(evaluated):
    rows = {row["mode"]: row for row in evaluated.table()}
    assert list(rows) == ["bm25", "dense", "fused"]
    assert evaluated.modes["fused"] == {"mode": "hybrid", "rrf_k": 10}
    for label, row in rows.items():
        assert row["seconds_per_query"] > 0 and 0 <= row["nDCG@10"] <= 1
        for record in evaluated.per_query[label].values():
            assert len(record["retrieved"]) == len(set(record["retrieved"])) <= 10
    # dense and hybrid rank every passage, so every query finds the Pharos passage near the top
    assert evaluated.per_query["dense"]["q-pharos"]["RR"] == 1.0
    assert evaluated.per_query["fused"]["q-pharos"]["RR"] == 1.0


def test_an_index_is_reused_and_passages_split_in_chunks_count_once(small, evaluated):
    data = load_beir(small)
    again = beir(data, {"dense": {}}, index=evaluated.index, queries=2, progress=False)
    assert again.index is evaluated.index and len(again.index) == 12
    assert list(again.per_query["dense"]) == ["q-pharos", "q-fresnel"]
    for key in ("retrieved", *again.metrics):
        assert again.per_query["dense"]["q-pharos"][key] == evaluated.per_query["dense"]["q-pharos"][key]
    chunked = nbrag.Index("beir-test-chunked", memory=True)
    chunked.add(data.corpus, chunker="fixed", size=24, overlap=0, progress=False)
    assert len(chunked) > 2 * len(data.corpus)
    result = beir(data, ["bm25"], index=chunked, progress=False)
    for record in result.per_query["bm25"].values():
        assert len(record["retrieved"]) == len(set(record["retrieved"]))
    assert result.per_query["bm25"]["q-pharos"]["RR"] == 1.0
    partial = nbrag.Index("beir-test-partial", memory=True)
    partial.add({"lighthouses-1": data.corpus["lighthouses-1"]}, chunker="fixed", size=512, progress=False)
    with pytest.raises(NbragError, match=r"^index=Index\('beir-test-partial'.*\): lacks 11 of the 12 passages of "
                                         r"small \(e\.g\. 'lighthouses-0'\): pass index=None"):
        beir(data, ["bm25"], index=partial, progress=False)


def test_rerank_reorders_the_top_twenty_and_keeps_the_rest_in_fused_order(tmp_path, monkeypatch):
    from nbrag.data import sample_beir

    data = load_beir(sample_beir(tmp_path / "samples"))
    index = data.index()
    query = next(text for text in data.queries.values() if len(index.search(text, 100, mode="bm25")) > 25)
    fused = [hit.document for hit in index.search(query, 100, mode="bm25").hits]

    def shortest_first(query, passages, how=True, generator=None, batch_size=8):
        return [-float(len(p)) for p in passages]

    monkeypatch.setattr("nbrag.retrieval.rerank.rerank", shortest_first)
    reranked = sorted(fused[:20], key=lambda d: (len(data.corpus[d]), fused.index(d)))
    ranked, _ = _ranking(index, query, 100, 5, {"mode": "bm25", "rerank": True})
    assert ranked == reranked + fused[20:]
    data.queries, data.qrels = {"q": query}, {"q": {fused[0]: 1}}
    result = beir(data, ["rerank", ("bm25 reranked", {"mode": "bm25", "rerank": True})], k=5, index=index,
                  progress=False)
    assert result.per_query["bm25 reranked"]["q"]["retrieved"] == reranked[:5]
    assert result.modes["rerank"] == {"mode": "hybrid", "rerank": True}


def test_hyde_and_rerank_with_a_generator_of_ones_own(small, evaluated):
    """One complete(messages) function writes every hypothetical answer and judges every passage."""
    asked = []

    def generator(messages):
        asked.append(messages[-1]["content"])
        if messages[0]["content"].startswith("You judge"):
            return "Yes" if "Pharos" in messages[-1]["content"] else "No"
        return "The Pharos of Alexandria stood on the island of Pharos."

    result = beir(small, ["hyde", "rerank"], index=evaluated.index, queries=1, generator=generator, progress=False)
    assert result.per_query["hyde"]["q-pharos"]["hyde"] == "The Pharos of Alexandria stood on the island of Pharos."
    assert result.per_query["rerank"]["q-pharos"]["retrieved"][0] == "lighthouses-1"
    assert asked[0] == "Where did the Pharos of Alexandria stand?" and len(asked) == 1 + 12  # 12 passages judged
    json.dumps(result.to_dict())  # the function is not among the modes' options


def test_table_dict_html_and_plot(evaluated):
    assert json.loads(json.dumps(evaluated.to_dict()))["rows"] == evaluated.table()
    assert set(evaluated.table()[0]) == {"mode", "nDCG@10", "R@10", "R@100", "RR", "queries", "seconds_per_query"}
    assert isinstance(evaluated.view(), BeirTable)
    bundle = evaluated._repr_mimebundle_()
    page = bundle["text/html"]
    assert "<caption>retrieval quality on small, 12 passages</caption>" in page and "<td>bm25</td>" in page
    assert bundle["text/plain"] == repr(evaluated)
    assert repr(evaluated).startswith("BeirEval('small', 4 queries, nDCG@10: bm25 ")
    fig = evaluated.plot()
    assert [trace.name for trace in fig.data] == evaluated.metrics
    assert list(fig.data[0].x) == ["bm25", "dense", "fused"]
    assert list(fig.data[0].y) == [row["nDCG@10"] for row in evaluated.table()]


def test_k_sets_the_cut_offs(small, evaluated):
    result = beir(small, ["bm25"], k=3, index=evaluated.index, progress=False)
    assert result.metrics == ["nDCG@3", "R@3", "R@100", "RR"]
    assert all(len(r["retrieved"]) <= 3 for r in result.per_query["bm25"].values())
    assert result.table()[0]["RR"] == evaluated.table()[0]["RR"]  # RR reads the whole ranking


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"corpus": False}, NbragError, r"small/corpus.jsonl does not exist"),
    ({"queries": False}, NbragError, r"small/queries.jsonl does not exist"),
    ({"qrels": None}, NbragError, r"neither .*small/qrels.tsv nor .*small/qrels/test.tsv exists"),
    ({"header": "query\tcorpus-id\tscore"}, NbragError, r"qrels.tsv lacks the column query-id"),
    ({"header": "query-id\tdoc\trel"}, NbragError, r"lacks the columns corpus-id, score"),
])
def test_a_missing_file_or_column_is_named(tmp_path, kwargs, error, message):
    folder = write_set(tmp_path / "small", **kwargs)
    with pytest.raises(error, match=message):
        beir(folder, progress=False)


def test_qrels_in_a_subfolder_and_bad_lines(tmp_path):
    folder = write_set(tmp_path / "nested", qrels="qrels/test.tsv")
    assert next(iter(load_beir(folder).queries)) == "q-pharos"
    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "x", "text": "no underscore"}) + "\n")
    with pytest.raises(NbragError, match=r"corpus.jsonl line 13 has no '_id' field; each line of corpus.jsonl needs"):
        load_beir(folder)
    (folder / "corpus.jsonl").write_text("{not json\n")
    with pytest.raises(NbragError, match=r"corpus.jsonl line 1 is not JSON"):
        load_beir(folder)
    with pytest.raises(NbragError, match=r"^path='.*corpus.jsonl': not a folder: give the folder that holds"):
        load_beir(folder / "corpus.jsonl")


def test_bad_modes_and_arguments_fail_before_any_work(tmp_path):
    missing = tmp_path / "absent"  # never read: the arguments are checked first
    with pytest.raises(NbragError, match=r"^modes=\['bm25', 'hybird'\]: 'hybird' is not a mode: name one of bm25, "
                                         r"dense, hybrid, hybrid-rrf"):
        beir(missing, ["bm25", "hybird"])
    with pytest.raises(NbragError, match=r"mode 'x': Index.search has no option fusoin"):
        beir(missing, {"x": {"mode": "hybrid", "fusoin": "rrf"}})
    with pytest.raises(NbragError, match=r"mode 'x': 'sum' is not a fusion: choose one of rrf, minmax, zscore\.$"):
        beir(missing, [("x", {"mode": "hybrid", "fusion": "sum"})])
    with pytest.raises(NbragError, match=r"two modes are labelled 'bm25': give each its own label"):
        beir(missing, ["bm25", ("bm25", {"mode": "bm25"})])
    with pytest.raises(TypeError, match=r"^modes=\[3\]: 3 is neither a mode's name"):
        beir(missing, [3])
    with pytest.raises(NbragError, match=r"^k=0: give a whole number of at least 1\.$"):
        beir(missing, k=0)
    with pytest.raises(NbragError, match=r"^queries=0: give how many queries to run"):
        beir(missing, queries=0)
    with pytest.raises(NbragError, match=r"^path='.*absent': not a folder"):
        beir(missing)
    with pytest.raises(NbragError, match=r"^generator=42: not a generator"):
        beir(missing, ["hyde"], generator=42)


@needs_hotpot
@pytest.mark.slow  # embeds the whole 1,971-passage corpus
def test_hotpotqa_twenty_queries():
    result = beir(HOTPOT, ["bm25", "hybrid"], queries=20, progress=False)
    rows = {row["mode"]: row for row in result.table()}
    assert rows["bm25"]["queries"] == rows["hybrid"]["queries"] == 20
    assert 0 < rows["bm25"]["nDCG@10"] <= 1 and 0 < rows["hybrid"]["nDCG@10"] <= 1
    assert 0 < rows["bm25"]["R@10"] <= rows["bm25"]["R@100"] <= 1
    assert len(result.data.corpus) == 1971
