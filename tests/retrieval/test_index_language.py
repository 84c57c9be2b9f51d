"""An index records its BM25 language: new indexes take it from settings.language or language=, reopening keeps
it, another language rebuilds BM25 and is recorded, an index written before languages opens as "none"."""

import itertools
import time
import warnings

import pytest

from nbrag.errors import NbragError
from nbrag.retrieval import Index

GERMAN = ("Die alten Häuser der Altstadt wurden im Mittelalter gebaut. Heute wohnen dort viele Familien, und die "
          "Touristen besuchen die engen Gassen und die Kirchen.")
ENGLISH = ("The old houses of the town centre were built in the Middle Ages. Today many families live there, and "
           "tourists visit the narrow lanes and the churches.")
DOCS = {"de": GERMAN, "en": ENGLISH}

_names = itertools.count()


def fresh(prefix="lang"):
    return f"{prefix}-{next(_names)}-{time.monotonic_ns()}"


def add(index):
    index.add(DOCS, chunker="fixed", unit="char", size=400, overlap=0, progress=False)
    return index


def bm25_top(index, query):
    return [hit.document for hit in index.search(query, k=2, mode="bm25")]


def test_a_new_index_records_its_language_and_reopens_with_it(tmp_path, settings_guard):
    name = fresh()
    index = add(Index(name, path=tmp_path))
    assert index.language == index.bm25.language == "auto" == index.store.state()["language"]
    assert sorted(index.bm25.languages) == ["english", "german"]
    assert bm25_top(index, "Haus")[0] == "de" and bm25_top(index, "house")[0] == "en"
    assert "BM25 bm25s (language auto)" in repr(index)
    settings_guard.update(language="french")  # the setting is for new indexes only
    reopened = Index(name, path=tmp_path)
    assert reopened.language == "auto" and reopened.bm25.language == "auto"
    assert bm25_top(reopened, "Haus")[0] == "de"
    assert Index(fresh(), memory=True).language == "french"
    with pytest.raises(NbragError, match=r"^language='deutsch': not a language BM25 can analyze"):
        Index(fresh(), path=tmp_path, language="deutsch")


def test_another_language_rebuilds_bm25_and_is_recorded(tmp_path):
    name = fresh()
    add(Index(name, path=tmp_path, language="none"))
    with pytest.warns(UserWarning, match=r"was analyzed in language 'none': its BM25 is built again in 'english'"):
        english = Index(name, path=tmp_path, language="en")
    assert english.language == english.bm25.language == "english" and len(english.bm25) == 2
    assert bm25_top(english, "houses tourist")[0] == "en" and set(english.search("tourist", k=1, mode="bm25")[0]
                                                                   .terms) == {"tourist"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = Index(name, path=tmp_path)  # None: what the index has, nothing rebuilt
        assert again.language == "english" and again.bm25.language == "english"
        assert Index(name, path=tmp_path, language="english").language == "english"
    assert english.store.state()["language"] == "english"


def test_an_index_written_before_languages_opens_without_stemming(tmp_path):
    name = fresh()
    index = add(Index(name, path=tmp_path, language="english"))
    state = index.store.state()
    del state["language"]  # as an earlier release left it: a generation, no language
    index.store.documents.modify(metadata=state)
    old = Index(name, path=tmp_path)
    assert old.language == old.bm25.language == "none"
    assert bm25_top(old, "houses")[0] == "en" and old.search("house", k=1, mode="bm25").hits == []
    with pytest.warns(UserWarning, match="built again in 'auto'"):
        stemmed = Index(name, path=tmp_path, language="auto")
    assert stemmed.search("house", k=1, mode="bm25")[0].document == "en"


def test_another_process_changing_the_language_is_followed(tmp_path):
    name = fresh()
    first = add(Index(name, path=tmp_path, language="none"))
    with pytest.warns(UserWarning):
        Index(name, path=tmp_path, language="english")
    assert first.search("house", k=1, mode="bm25")[0].document == "en"  # it saw the new generation
    assert first.language == first.bm25.language == "english"


def test_the_magics_take_a_language(ip, settings_guard, caplog):
    from IPython.core.error import UsageError

    from nbrag.data import samples_dir
    from tests.magics.test_magics import run

    session = ip.magics_manager.registry["RetrieveMagics"].session
    ip.user_ns["corpus"] = str(samples_dir() / "corpus")
    name = fresh("magic-lang")
    run(ip, f"%nbrag index $corpus --memory --name {name} --chunker recursive --size 128 --language en")
    index = session.indexes[name]
    assert index.language == index.bm25.language == "english"
    assert run(ip, "%retrieve --mode bm25 -k 1 --query lighthouses shining").hits[0].document == "lighthouses.md"
    with pytest.warns(UserWarning, match="built again in 'none'"):
        run(ip, f"%nbrag index $corpus --memory --name {name} --chunker recursive --size 128 --language none")
    assert session.indexes[name].language == session.indexes[name].bm25.language == "none"
    with pytest.raises(UsageError) as info:
        run(ip, f"%nbrag index $corpus --memory --name {name} --language klingon")
    assert str(info.value).startswith("--language klingon: not a language BM25 can analyze. Choose auto")
    run(ip, "%config NbragMagics.language = 'de'")
    assert settings_guard.language == "german"
    run(ip, "%config NbragMagics.language = 'klingon'")  # refused: %config logs it and keeps the setting
    assert settings_guard.language == "german"
    assert "language='klingon': not a language BM25 can analyze" in caplog.text
