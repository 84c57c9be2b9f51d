"""BM25's analyzers: Snowball stemming per language, each document's language detected, queries stemmed in the
languages of the documents, and BM25 keeping its language through save and load."""

import json

import pytest
import Stemmer

import nbrag
from nbrag import analyzers
from nbrag.analyzers import analyze, detect, query_terms, spans
from nbrag.config import LANGUAGES, SNOWBALL, language_name
from nbrag.errors import NbragError, NbragTypeError
from nbrag.ranking.bm25 import BM25
from nbrag.text import terms

GERMAN = ("Die alten Häuser der Altstadt wurden im Mittelalter gebaut. Heute wohnen dort viele Familien, und die "
          "Touristen besuchen die engen Gassen und die Kirchen.")
FRENCH = ("Les maisons anciennes de la vieille ville ont été construites au Moyen Âge. Aujourd'hui, de nombreuses "
          "familles y vivent et les touristes visitent les ruelles étroites et les églises.")
ENGLISH = ("The old houses of the town centre were built in the Middle Ages. Today many families live there, and "
           "tourists visit the narrow lanes and the churches.")


# ------------------------------------------------------------------ languages and stems


def test_every_language_is_a_snowball_stemmer_and_codes_name_them():
    assert set(SNOWBALL) <= set(Stemmer.algorithms())
    assert LANGUAGES[:2] == ("auto", "none")
    assert language_name("de") == "german" and language_name(" English ") == "english"
    assert language_name("FR") == "french" and language_name("none") == "none"


def test_a_bad_language_names_the_choices(settings_guard):
    with pytest.raises(NbragError, match=r"^language='klingon': not a language BM25 can analyze\. Choose auto .*"
                                         r"none .*german.*ISO 639-1 code"):
        language_name("klingon")
    with pytest.raises(NbragError, match=r"^language='xx'"):
        BM25(language="xx")
    with pytest.raises(NbragTypeError, match="give a language name as a str"):
        BM25(language=None)
    with pytest.raises(NbragError, match=r"^language='engl'"):
        nbrag.configure(language="engl")
    assert nbrag.settings.language == "auto"  # the default of new indexes; a rejected change leaves it
    assert nbrag.configure(language="de").language == "german"


def test_english_is_stemmed_after_the_stop_words_go():
    assert analyze("The runners were running; she runs.", "english") == ["runner", "run", "run"]
    assert analyze("Connected connections connecting", "en") == ["connect", "connect", "connect"]
    assert analyze("Die Häuser, das Haus", "german") == ["die", "haus", "das", "haus"]  # the stop list is English
    assert analyze("Les maisons anciennes", "french") == ["le", "maison", "ancien"]


def test_none_keeps_words_whole():
    text = "The runners were running: parse_args() and HTTPServer on port 8080"
    assert analyze(text, "none") == terms(text) == ["runners", "running", "parse", "args", "httpserver", "port",
                                                    "8080"]
    assert analyze(text, "english")[:2] == ["runner", "run"]


@pytest.mark.parametrize("language", ["none", "english", "german", "auto"])
def test_cjk_stays_character_bigrams_whatever_the_language(language):
    assert analyze("绿茶储存", language) == ["绿茶", "茶储", "储存"]
    assert analyze("ラーメン と 한국어", language) == ["ラー", "ーメ", "メン", "と", "한국", "국어"]
    mixed = analyze("用Python写爬虫 running", language)
    assert mixed[:4] == ["用", "python", "写爬", "爬虫"] and mixed[4] == ("run" if language in ("english", "auto")
                                                                          else "running")  # German keeps it


def test_auto_detects_german_and_french_and_falls_back_to_english():
    assert detect(GERMAN) == "german" and detect(FRENCH) == "french" and detect(ENGLISH) == "english"
    assert analyze(GERMAN, "auto") == analyze(GERMAN, "german") != analyze(GERMAN, "english")
    assert analyze(FRENCH, "auto") == analyze(FRENCH, "french")
    assert detect("Häuser") == analyzers.FALLBACK == "english"  # too short to tell
    assert detect("绿茶应当密封储存在阴凉干燥的地方，避免阳光直射和受潮。") == "english"  # no letters to tell by
    assert detect("") == "english"


def test_a_query_is_stemmed_in_each_language_of_the_documents():
    assert query_terms("running houses", ["english"]) == ["run", "hous"]
    assert query_terms("Häuser houses", ["german", "english"]) == ["haus", "häuser", "hous"]
    assert query_terms("Haus", ["german", "english"]) == ["haus"]  # a stem both give counts once
    assert query_terms("running", ["none", "english"]) == ["running", "run"]
    assert query_terms("绿茶 tea", ["german", "english"]) == ["绿茶", "tea"]


def test_spans_give_each_stem_the_characters_of_its_word():
    text = "Running shoes; THE RUNS."
    assert spans(text, "english") == [("run", 0, 7), ("shoe", 8, 13), ("the", 15, 18), ("run", 19, 23)]
    assert spans(text, "none")[0] == ("running", 0, 7)
    assert [t for t, _, _ in spans(GERMAN, "auto")][2] == "haus"  # detected as BM25 detects it
    for language in ("english", "german", "none"):
        got = [(t, a, b) for t, a, b in spans(GERMAN, language) if t in set(analyze(GERMAN, language))]
        assert [t for t, _, _ in got] == analyze(GERMAN, language)  # the same terms, stop words aside


# ------------------------------------------------------------------ BM25 with a language


def test_bm25_finds_word_forms_in_english():
    docs = {"runner": "She was running the marathon in record time.", "tea": "Green tea keeps in a tin."}
    stemmed, whole = BM25(language="english"), BM25(language="none")
    for bm25 in (stemmed, whole):
        bm25.upsert(list(docs), list(docs.values()))
    assert [i for i, _ in stemmed.search("runs", 5)] == ["runner"]
    assert whole.search("runs", 5) == []  # whole words: "runs" is not "running"
    assert stemmed.explain("who runs marathons", "runner").keys() == {"run", "marathon"}
    assert repr(stemmed) == "BM25('bm25s', k1=1.5, b=0.75, language='english', 2 documents)"
    assert BM25().language == "auto"


def test_a_mixed_language_index_finds_each_language_by_its_own_stems():
    bm25 = BM25()  # auto
    bm25.upsert(["de", "fr", "en"], [GERMAN, FRENCH, ENGLISH])
    assert sorted(bm25.languages) == ["english", "french", "german"]
    assert bm25.search("Haus", 5)[0][0] == "de"  # "Häuser" in the text, stemmed to haus
    assert bm25.search("maison", 5)[0][0] == "fr"  # "maisons"
    assert bm25.search("house", 5)[0][0] == "en"  # "houses"
    assert set(bm25.explain("Haus", "de")) == {"haus"}
    bm25.delete(["fr"])
    assert sorted(bm25.languages) == ["english", "german"]
    bm25.upsert(["de"], [ENGLISH.replace("old", "ancient")])  # the same id, now English: its language changes
    assert bm25.languages == ["english"]
    assert bm25.analyze_query("Häuser") == ["häuser"]  # English stems only now


def test_save_and_load_keep_the_language_and_each_documents(tmp_path, monkeypatch):
    bm25 = BM25("bm25s:bm25+", language="auto")
    bm25.upsert(["de", "en", "short"], [GERMAN, ENGLISH, "Haus"])
    bm25.save(tmp_path / "bm25", stamp="g1")
    state = json.loads((tmp_path / "bm25").read_text(encoding="utf-8").splitlines()[0])
    assert state["language"] == "auto" and state["languages"] == ["german", "english", "english"]
    detected = []
    monkeypatch.setattr(analyzers, "detect", lambda text: detected.append(text) or "english")
    loaded = BM25.load(tmp_path / "bm25")
    assert detected == []  # the saved languages, not detected again
    assert loaded.language == "auto" and sorted(loaded.languages) == ["english", "german"]
    assert loaded.search("Haus", 3) == bm25.search("Haus", 3)
    assert "language='auto'" in repr(loaded)
    monkeypatch.undo()
    bm25.upsert(["de2"], [GERMAN + " Noch ein Haus."])  # an add appends one line, with its languages too
    assert bm25.append(tmp_path / "bm25", "g2", ["de2"], [])
    monkeypatch.setattr(analyzers, "detect", lambda text: detected.append(text) or "english")
    appended = BM25.load(tmp_path / "bm25")
    assert detected == [] and appended.stamp == "g2" and appended.search("Haus", 4) == bm25.search("Haus", 4)
    assert appended.languages == ["german", "english"]
    monkeypatch.undo()
    for language in ("english", "none"):
        one = BM25(language=language)
        one.upsert(["en"], [ENGLISH])
        one.save(tmp_path / language)
        assert BM25.load(tmp_path / language).language == language
        assert "languages" not in json.loads((tmp_path / language).read_text(encoding="utf-8"))


def test_a_file_saved_before_languages_opens_without_stemming(tmp_path):
    bm25 = BM25(language="english")
    bm25.upsert(["en"], [ENGLISH])
    bm25.save(tmp_path / "bm25")
    state = json.loads((tmp_path / "bm25").read_text(encoding="utf-8"))
    del state["language"]
    (tmp_path / "bm25").write_text(json.dumps(state) + "\n", encoding="utf-8")
    old = BM25.load(tmp_path / "bm25")
    assert old.language == "none" and old.search("houses", 1)[0][0] == "en" and old.search("house", 1) == []
