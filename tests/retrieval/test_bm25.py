import json
import re
import warnings

import pytest

import nbrag
from nbrag import errors
from nbrag.analyzers import analyze
from nbrag.errors import NbragError, NbragTypeError
from nbrag.ranking.bm25 import BM25, STOP_WORDS, terms

BACKENDS = BM25.BACKENDS
CREDIT_ABSENT_TERMS = ("bm25s:bm25l", "bm25s:bm25+")  # their delta: a part for each query term a document lacks

ENGLISH = {
    "tea": "Green tea keeps its flavour longest when stored in an airtight tin, away from light and moisture.",
    "coffee": "Roasted coffee beans go stale within weeks; grind them just before brewing.",
    "python": "Python's with statement wraps a block in the methods of a context manager.",
    "rust": "Rust's borrow checker rejects programs in which a reference outlives the value it points to.",
    "paris": "The Eiffel Tower was built for the 1889 World's Fair in Paris.",
    "rome": "The Colosseum in Rome could hold some fifty thousand spectators.",
    "bread": "Sourdough bread rises slowly because wild yeast ferments the dough.",
    "piano": "A grand piano has more than two hundred strings, stretched over an iron frame.",
}

CHINESE = {
    "绿茶": "绿茶应当密封储存在阴凉干燥的地方，避免阳光直射和受潮，否则香气很快就会散失。",
    "长城": "长城是古代中国为抵御北方游牧民族而修建的军事防御工程，绵延上万里。",
    "熊猫": "大熊猫主要生活在四川的山区竹林里，每天要花十几个小时吃竹子。",
    "高铁": "中国的高速铁路网连接了大多数省会城市，最高运营时速达到三百五十公里。",
}


def bm25_text(id):
    return {**ENGLISH, **CHINESE}[id]


def index(backend="bm25s", docs=ENGLISH, **params):
    bm25 = BM25(backend, **params)
    bm25.upsert(list(docs), list(docs.values()))
    return bm25


# ------------------------------------------------------------------ the analyzer


def test_terms_english():
    assert terms("The Quick brown fox, and THE lazy dog!") == ["quick", "brown", "fox", "lazy", "dog"]
    assert terms("Don't stop-words_here: 3.14") == ["stop", "words", "3", "14"]
    assert terms("Café naïve ÉCOLE") == ["café", "naïve", "école"]
    assert terms("Straße") == ["strasse"]  # case folding, not just lower-casing
    assert terms("") == [] and terms("  ,.;!? ") == [] and terms("the of and") == []
    assert all(w == w.casefold() and w.isalpha() for w in STOP_WORDS) and 80 <= len(STOP_WORDS) <= 150


def test_terms_chinese_bigrams():
    assert terms("绿茶储存") == ["绿茶", "茶储", "储存"]
    assert terms("茶") == ["茶"]  # a run of one character stays a unigram
    assert terms("绿茶，储存。") == ["绿茶", "储存"]  # punctuation ends a run
    assert terms("Python的with语句") == ["python", "的", "语句"]  # "with" is a stop word
    assert terms("用Python 3写爬虫") == ["用", "python", "3", "写爬", "爬虫"]


def test_terms_other_cjk_scripts():
    assert terms("ラーメン") == ["ラー", "ーメ", "メン"]
    assert terms("東京タワー") == ["東京", "京タ", "タワ", "ワー"]
    assert terms("한국어 공부") == ["한국", "국어", "공부"]


def test_terms_normalises_full_width():
    assert terms("Ｐｙｔｈｏｎ３") == ["python3"]
    assert terms("ｶﾀｶﾅ") == ["カタ", "タカ", "カナ"]  # half-width katakana
    assert terms("ﬁle") == ["file"]


def test_terms_keeps_words_with_combining_marks():
    assert terms("हिन्दी भाषा") == ["हिन्दी", "भाषा"]


# ------------------------------------------------------------------ search


@pytest.mark.parametrize("backend", BACKENDS)
def test_english_ranking(backend):
    bm25 = index(backend)
    for query, want in [("how should I store green tea", "tea"),
                        ("Python context manager with statement", "python"),
                        ("when was the Eiffel Tower built", "paris"),
                        ("borrow checker references", "rust"),
                        ("why does sourdough rise slowly", "bread")]:
        hits = bm25.search(query, 3)
        assert hits[0][0] == want, (query, hits)
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


def test_backends_agree_on_the_top_document():
    queries = ["green tea tin", "coffee grind brewing", "iron frame strings", "Colosseum spectators", "wild yeast"]
    tops = {backend: [index(backend).search(q, 1)[0][0] for q in queries] for backend in BACKENDS}
    assert all(top == tops["bm25s"] for top in tops.values()), tops


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_matching_documents_are_returned(backend):
    bm25 = index(backend)
    hits = bm25.search("tea flavour", 100)  # k beyond the index is fine
    assert [id for id, _ in hits] == ["tea"]
    assert bm25.search("tea piano", 100) and {id for id, _ in bm25.search("tea piano", 100)} == {"tea", "piano"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_explain_sums_to_the_search_score(backend):
    bm25 = index(backend, {**ENGLISH, **CHINESE})
    for query in ["Python with statement context block", "tea tea in a tin", "长城和绿茶", "the piano strings"]:
        hits = bm25.search(query, 10)
        assert hits
        for id, score in hits:
            shares = bm25.explain(query, id)
            assert sum(shares.values()) == pytest.approx(score, abs=1e-6), (query, id, shares)
            matched = set(analyze(bm25_text(id), bm25.language)) & set(bm25.analyze_query(query))
            assert matched and matched <= set(shares)
            if backend in CREDIT_ABSENT_TERMS:
                assert all(shares[t] > 0 for t in set(shares) - matched)
            else:
                assert set(shares) == matched
    assert bm25.explain("coffee", "tea") == {}
    with pytest.raises(NbragError, match=r"^id='nope': no document with this id in this BM25 index \(12 documents\)"):
        bm25.explain("tea", "nope")


@pytest.mark.parametrize("backend", BACKENDS)
def test_chinese_query_finds_its_passage(backend):
    bm25 = index(backend, {**ENGLISH, **CHINESE})
    assert bm25.search("绿茶怎么储存才不会受潮", 3)[0][0] == "绿茶"
    assert bm25.search("大熊猫吃什么", 3)[0][0] == "熊猫"
    assert bm25.search("高速铁路", 3)[0][0] == "高铁"


# ------------------------------------------------------------------ changes


@pytest.mark.parametrize("backend", BACKENDS)
def test_upsert_replaces_and_delete_removes(backend):
    bm25 = index(backend)
    assert len(bm25) == len(ENGLISH) and "tea" in bm25 and bm25.ids == list(ENGLISH)
    assert bm25.search("sourdough", 5)[0][0] == "bread"

    bm25.upsert(["tea"], ["Sourdough loaves from the corner bakery, baked with sourdough starter."])
    assert bm25.ids == list(ENGLISH) and len(bm25) == len(ENGLISH)  # replaced in place
    assert bm25.search("sourdough", 5)[0][0] == "tea"
    assert bm25.search("green tea airtight", 5) == []

    bm25.upsert(["x", "x"], ["first text about volcanoes", "second text about glaciers"])  # last wins
    assert bm25.search("glaciers", 5)[0][0] == "x" and bm25.search("volcanoes", 5) == []

    bm25.delete(["tea", "not-there"])
    assert "tea" not in bm25 and len(bm25) == len(ENGLISH)
    assert [id for id, _ in bm25.search("sourdough", 5)] == ["bread"]
    bm25.delete(iter(bm25.ids))
    assert len(bm25) == 0 and bm25.search("sourdough", 5) == []


def test_many_upserts_cost_one_build_and_a_delete_none(monkeypatch):
    from nbrag.ranking.segments import Segments

    builds = []
    original = Segments.rebuild
    monkeypatch.setattr(Segments, "rebuild",
                        lambda self, ids, docs: builds.append(len(ids)) or original(self, ids, docs))
    bm25 = BM25()
    for id, text in ENGLISH.items():
        bm25.upsert([id], [text])
    assert not any(builds)
    bm25.search("tea", 3)
    bm25.search("coffee", 3)
    bm25.upsert(["tea"], [ENGLISH["tea"]])  # the same text: nothing changes
    bm25.delete(["not-there"])
    bm25.search("tea", 3)
    assert [n for n in builds if n] == [len(ENGLISH)]
    bm25.delete(["tea"])  # marked in the segments, not rebuilt
    assert bm25.search("tea", 3) == []
    assert [n for n in builds if n] == [len(ENGLISH)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_documents_without_terms_keep_ids_aligned(backend):
    docs = {"empty": "", "stop": "the and of", "punct": "…!?", **ENGLISH, "last": "A lighthouse warns ships."}
    bm25 = index(backend, docs)
    assert bm25.search("lighthouse ships", 3)[0][0] == "last"
    assert bm25.search("wild yeast dough", 3)[0][0] == "bread"
    assert bm25.explain("lighthouse", "empty") == {}

    only_empty = index(backend, {"a": "", "b": "the of"})
    assert only_empty.search("anything", 5) == [] and only_empty.explain("anything", "a") == {}


# ------------------------------------------------------------------ edges and errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_index_empty_query_and_unknown_terms(backend):
    assert BM25(backend).search("tea", 5) == []
    bm25 = index(backend)
    assert bm25.search("", 5) == [] and bm25.search("the of and", 5) == [] and bm25.search("?!", 5) == []
    assert bm25.search("zyzzyva quux", 5) == []
    assert bm25.search("zyzzyva green tea", 5)[0][0] == "tea"
    for k in (0, -1):
        with pytest.raises(NbragError, match=rf"^k={k}: give a whole number of at least 1\.$"):
            bm25.search("tea", k)
    with pytest.raises(TypeError, match=r"^k=2\.5: give a whole number"):
        bm25.search("tea", 2.5)


def test_bad_arguments():
    with pytest.raises(NbragError, match=r"^backend='rank_bm25': choose one of bm25s, bm25s:robertson, bm25s:bm25l, "
                                         r"bm25s:bm25\+\.$"):
        BM25("rank_bm25")
    with pytest.raises(NbragError, match=r"^k1=0: give a number greater than 0 \(1\.2 to 2\.0 is usual\)\.$"):
        BM25(k1=0)
    with pytest.raises(NbragError, match=r"^b=1\.5: give a number from 0 to 1 \(0: no length normalisation"):
        BM25(b=1.5)
    with pytest.raises(NbragError, match=r"^k1=nan: give a finite number greater than 0"):
        BM25(k1=float("nan"))
    with pytest.raises(NbragTypeError, match=r"^b=True: give a number from 0 to 1"):
        BM25(b=True)
    bm25 = BM25()
    with pytest.raises(NbragError, match="2 ids and 1 texts"):
        bm25.upsert(["a", "b"], ["only one"])
    with pytest.raises(TypeError, match=r"^ids: holds the int 1"):
        bm25.upsert([1], ["text"])
    with pytest.raises(TypeError, match=r"^ids='a': one str: give a list of ids, e.g. \['a'\]"):
        bm25.delete("a")
    assert len(bm25) == 0


def test_no_progress_bars(capfd):
    bm25 = index("bm25s")
    bm25.search("tea", 3)
    bm25.explain("tea", "tea")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ------------------------------------------------------------------ files


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_load_round_trip(tmp_path, backend):
    bm25 = index(backend, {**ENGLISH, **CHINESE}, k1=1.2, b=0.6)
    bm25.delete(["rome"])
    path = tmp_path / "sub" / "bm25.json"
    bm25.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["bm25.json"]  # no temporary file left behind
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["backend"] == backend and saved["ids"] == bm25.ids and "绿茶" in path.read_text(encoding="utf-8")

    loaded = BM25.load(path)
    assert (loaded.backend, loaded.k1, loaded.b, loaded.ids) == (backend, 1.2, 0.6, bm25.ids)
    for query in ["green tea", "Python with statement", "绿茶储存", "the strings of a piano", "Colosseum"]:
        assert loaded.search(query, 5) == bm25.search(query, 5)

    bm25.upsert(["new"], ["a new document about glaciers"])
    bm25.save(path)  # overwrites in place
    assert BM25.load(path).search("glaciers", 1)[0][0] == "new"


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"ids": []}', encoding="utf-8")
    with pytest.raises(NbragError, match=r"^path='.*/other.json': not a saved nbrag BM25 index"):
        BM25.load(path)


# ------------------------------------------------------------------ bm25s's methods, and rank-bm25's names


def test_the_methods_score_as_their_formulas_say():
    """Each backend's score of one document for one term, worked out by hand from its formula."""
    import math

    docs = {"a": "tea tea tin", "b": "coffee beans", "c": "tea leaves", "d": "bread rises slowly"}
    n, df, tf, length, avg, k1, b = 4, 2, 2, 3, (3 + 2 + 2 + 3) / 4, 1.5, 0.75
    norm = 1 - b + b * length / avg
    lucene = math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf / (k1 * norm + tf)
    robertson = max(math.log((n - df + 0.5) / (df + 0.5)), 0.0) * tf / (k1 * norm + tf)
    c = tf / norm
    bm25l = math.log((n + 1) / (df + 0.5)) * (k1 + 1) * (c + 0.5) / (k1 + c + 0.5)
    bm25plus = math.log((n + 1) / df) * ((k1 + 1) * tf / (k1 * norm + tf) + 1.0)
    expected = {"bm25s": lucene, "bm25s:robertson": robertson, "bm25s:bm25l": bm25l, "bm25s:bm25+": bm25plus}
    assert set(expected) == set(BACKENDS)
    for backend, score in expected.items():
        bm25 = index(backend, docs)
        assert dict(bm25.search("tea", 4)).get("a", 0.0) == pytest.approx(score, abs=1e-9), backend
    # Robertson's idf is 0 for a term in half the documents or more: such a term finds nothing
    assert robertson == 0.0 and index("bm25s:robertson", docs).search("tea", 4) == []
    assert [id for id, _ in index("bm25s", docs).search("tea", 4)] == ["a", "c"]


@pytest.fixture
def warned_afresh(monkeypatch):
    """Each old name warns once a session: forget which ones did."""
    monkeypatch.setattr(errors, "_warned", set())


@pytest.mark.parametrize(("old", "new"), [("rank_bm25:okapi", "bm25s:robertson"), ("rank_bm25:l", "bm25s:bm25l"),
                                          ("rank_bm25:plus", "bm25s:bm25+")])
def test_rank_bm25_names_open_as_the_closest_bm25s_method(tmp_path, warned_afresh, old, new):
    with pytest.warns(FutureWarning, match=re.escape(f"the BM25 backend '{old}' is now '{new}'")):
        bm25 = index(old)
    assert bm25.backend == new and bm25.search("green tea", 1)[0][0] == "tea"
    path = tmp_path / "bm25.json"
    state = {"format": "nbrag.bm25", "version": 1, "backend": old, "k1": 1.2, "b": 0.7, "ids": ["tea", "rust"],
             "texts": [ENGLISH["tea"], ENGLISH["rust"]]}
    path.write_text(json.dumps(state), encoding="utf-8")  # as an earlier release saved it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = BM25.load(path)
    assert (loaded.backend, loaded.k1, loaded.b) == (new, 1.2, 0.7)
    assert loaded.search("borrow checker", 2) == index(new, {"tea": ENGLISH["tea"], "rust": ENGLISH["rust"]},
                                                       k1=1.2, b=0.7).search("borrow checker", 2)


def test_the_setting_takes_the_new_names_and_the_old_ones_once_more(settings_guard, warned_afresh):
    nbrag.configure(bm25="bm25s:bm25+")
    assert nbrag.settings.bm25 == "bm25s:bm25+"
    with pytest.warns(FutureWarning, match="the BM25 backend 'rank_bm25:okapi' is now 'bm25s:robertson'"):
        nbrag.configure(bm25="rank_bm25:okapi")
    assert nbrag.settings.bm25 == "bm25s:robertson"
