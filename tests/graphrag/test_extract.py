"""The offline extractor, entity keys and aliases, the LLM extractor (any generator, an endpoint) and its reading
of replies, and the graph extra."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

from nbrag import errors
from nbrag.errors import NbragError
from nbrag.graphrag.base import get_extractor
from nbrag.graphrag.llm import LLMExtractor, parse_reply, read_extraction
from nbrag.graphrag.offline import OfflineExtractor
from nbrag.graphrag.resolve import aliases, key

TEXT = ("The University of Chicago was founded by John D. Rockefeller in 1890. However, Rockefeller never taught "
        "there. In 1942 Enrico Fermi built the first reactor under the stands of Stagg Field.")


def names(text: str, **options) -> list[str]:
    return [m.name for m in OfflineExtractor(**options).extract_one(text).mentions if m.type != "concept"]


def test_names_join_particles_and_drop_leading_function_words():
    found = names(TEXT, keyphrases=0)
    assert "University of Chicago" in found and "Enrico Fermi" in found and "Stagg Field" in found
    assert "Rockefeller" in found and "However" not in found and not any(n.startswith("The ") for n in found)
    assert "John D. Rockefeller" in found or "John D" in found


def test_mentions_point_at_their_text():
    text = "Lyon is a city in France. Marie lived in Lyon."
    extraction = OfflineExtractor().extract_one(text)
    for m in extraction.mentions:
        assert text[m.start:m.end] == m.name


def test_same_sentence_links_and_topic_links():
    text = "Ada Lovelace\nShe was born in London. She worked with Charles Babbage on the Analytical Engine."
    links = {(x.source, x.target, x.kind) for x in OfflineExtractor(keyphrases=0).extract_one(text).links}
    assert ("Charles Babbage", "Analytical Engine", "sentence") in links
    assert ("Ada Lovelace", "Charles Babbage", "topic") in links  # "She" is the title's subject


def test_keyphrases_are_lower_case_concepts_without_edges_of_function_words():
    text = ("Tea leaves are withered, rolled and oxidised. Green tea is steamed or pan-fired to stop oxidation, "
            "while black tea is fully oxidised before drying.")
    concepts = [m.name for m in OfflineExtractor().extract_one(text).mentions if m.type == "concept"]
    assert concepts and all(c == c.lower() for c in concepts)
    assert not any(c.split()[0] in {"and", "the", "is"} or c.split()[-1] in {"and", "the", "is"} for c in concepts)


def test_chinese_names_and_places():
    text = "鲁迅出生于浙江绍兴，是中国现代文学的奠基人。他曾在北京大学任教。陆羽写了《茶经》。"
    found = {(m.name, m.type) for m in OfflineExtractor().extract_one(text).mentions}
    assert ("鲁迅", "name") in found and ("北京大学", "organization") in found and ("绍兴", "place") in found
    assert ("茶经", "work") in found
    links = {(x.source, x.target) for x in OfflineExtractor().extract_one(text).links}
    assert ("鲁迅", "绍兴") in links


def test_text_without_entities():
    assert OfflineExtractor().extract_one("it rained. then it stopped.").mentions == []
    assert OfflineExtractor().extract_one("").mentions == []


def test_key_merges_case_articles_possessives_and_concept_plurals():
    assert key("The Beatles") == key("Beatles") == key("BEATLES") == key("beatles", concept=False)
    assert key("Queen's") == key("Queen")
    assert key("weather stations") == key("weather station")
    assert key("Williams") != key("William")  # names keep their plurals
    assert key("New-York") == key("New York")


def test_aliases_of_one_document():
    found = aliases(["John Lennon", "Lennon", "BBC", "British Broadcasting Corporation", "Paul", "Paul McCartney",
                     "Pakistan", "Islamabad Capital Territory of Pakistan"])
    assert found == {"Lennon": "John Lennon", "BBC": "British Broadcasting Corporation"}
    assert aliases(["Lennon", "John Lennon", "Julian Lennon"]) == {}  # which Lennon? neither


@pytest.mark.parametrize("reply", [
    '{"entities": [{"name": "Marie Curie", "type": "person"}], "relations": []}',
    'Here you go:\n```json\n{"entities": [{"name": "Marie Curie", "type": "person"},], "relations": [],}\n```',
    "{'entities': [{'name': 'Marie Curie', 'type': 'person'}]}",
    '[{"name": "Marie Curie"}]',
])
def test_parse_reply_is_lenient(reply):
    extraction = read_extraction("Marie Curie was born in Warsaw.", reply)
    assert extraction.error is None and [m.name for m in extraction.mentions] == ["Marie Curie"]


@pytest.mark.parametrize("reply", ["", "1, 2, 3", "Sure! The entities are Marie and Warsaw.", "{not json at all",
                                   '{"entities": "Marie"}', '{"entities": [{"name": "Napoleon"}]}'])
def test_unusable_replies_are_errors_not_crashes(reply):
    extraction = read_extraction("Marie Curie was born in Warsaw.", reply)
    assert extraction.error and extraction.mentions == [] and extraction.reply == reply


def test_parse_reply_never_runs_code():
    with pytest.raises(ValueError):
        parse_reply("{__import__('os').system('echo hi')}")


def test_llm_relations_need_both_ends_in_the_chunk():
    reply = ('{"entities": [{"name": "Marie Curie"}, {"name": "Warsaw"}, {"name": "Paris"}], "relations": ['
             '{"source": "Marie Curie", "target": "Warsaw", "relation": "born in"}, '
             '{"source": "Marie Curie", "target": "Paris", "relation": "died in"}]}')
    extraction = read_extraction("Marie Curie was born in Warsaw.", reply)
    assert [m.name for m in extraction.mentions] == ["Marie Curie", "Warsaw"]
    assert [(x.source, x.target, x.evidence) for x in extraction.links] == [
        ("Marie Curie", "Warsaw", "Marie Curie born in Warsaw")]


def test_endpoint_needs_a_model_name():
    with pytest.raises(NbragError,
                       match=r"^model: the endpoint http://localhost:8000/v1 needs the name of a model") as caught:
        LLMExtractor(endpoint="http://localhost:8000/v1")
    assert caught.value.option == "model"
    with pytest.raises(NbragError, match=r"^model: an option of OpenAI-compatible endpoints"):
        LLMExtractor(model="m")  # checked by nbrag.llm.resolve, at once


CURIE = "Marie Curie was born in Warsaw. She worked in Paris."


def curie(messages):
    """A complete(messages) -> str model: it names what the prompt's last text holds."""
    text = messages[-1]["content"].rsplit("Text: ", 1)[1]
    found = [n for n in ("Marie Curie", "Warsaw", "Paris") if n in text]
    return json.dumps({"entities": [{"name": n, "type": "person" if " " in n else "place"} for n in found],
                       "relations": [{"source": "Marie Curie", "target": "Warsaw", "relation": "born in"}]})


def test_a_plain_complete_function_drives_the_llm_extractor():
    seen = []

    def model(messages):
        seen.append(messages)
        return curie(messages)

    extractor = LLMExtractor(generator=model, max_chars=40)
    (extraction,) = extractor.extract([CURIE])
    assert [m.name for m in extraction.mentions] == ["Marie Curie", "Warsaw"]  # Paris lies past max_chars
    assert [(x.source, x.target, x.evidence) for x in extraction.links] == [
        ("Marie Curie", "Warsaw", "Marie Curie born in Warsaw")]
    assert seen[0][0]["role"] == "user" and seen[0][0]["content"].endswith(f"Text: {CURIE[:40]}\nJSON:")
    assert extractor.options() == {"generator": "model", "endpoint": None, "model": None, "max_new_tokens": 256,
                                   "max_chars": 40}


def test_complete_is_the_old_name_of_generator(monkeypatch):
    monkeypatch.setattr(errors, "_warned", set())
    with pytest.warns(FutureWarning, match=r"LLMExtractor\(complete=\.\.\.\) is now LLMExtractor\(generator="):
        extractor = LLMExtractor(complete=curie)
    assert [m.name for m in extractor.extract([CURIE])[0].mentions] == ["Marie Curie", "Warsaw", "Paris"]
    with pytest.raises(NbragError, match=r"^complete: the old name of generator="):
        LLMExtractor(generator=curie, complete=curie)


def test_an_endpoint_reads_the_chunks_and_its_key_is_never_recorded():
    from tests.rag.servers import serving

    reply = curie([{"role": "user", "content": f"Text: {CURIE}"}])
    with serving(lambda body: (reply, {"prompt_tokens": 50, "completion_tokens": 30})) as server:
        extractor = LLMExtractor(endpoint=server.url, model="tiny", api_key="sk-secret", timeout=10,
                                 max_new_tokens=64)
        (extraction,) = extractor.extract([CURIE])
    assert [m.name for m in extraction.mentions] == ["Marie Curie", "Warsaw", "Paris"]
    assert server.requests[0]["model"] == "tiny" and server.requests[0]["max_tokens"] == 64
    assert extractor.options() == {"generator": None, "endpoint": server.url, "model": "tiny", "max_new_tokens": 64,
                                   "max_chars": 2000}
    assert "sk-secret" not in repr(extractor.options()) + repr(extractor.choice) + repr(extractor.generator)


def test_wrong_extractor_options_name_the_option():
    with pytest.raises(NbragError, match=r"^extractor='spacy': unknown extractor: use one of "):
        get_extractor("spacy")
    with pytest.raises(NbragError, match=r"^keyphrase=3: not an option of the offline extractor; it takes "):
        get_extractor("offline", keyphrase=3)
    with pytest.raises(NbragError, match=r"^keyphrases=-1: give a whole number of at least 0"):
        get_extractor("offline", keyphrases=-1)
    with pytest.raises(NbragError, match=r"^max_new_tokens=0: give a whole number of at least 1"):
        get_extractor("llm", generator=curie, max_new_tokens=0)
    with pytest.raises(TypeError, match=r"^extractor=42: not an extractor"):
        get_extractor(42)


@pytest.mark.parametrize("missing", ["leidenalg", "jieba"])
def test_without_the_graph_extra_importing_graphrag_says_what_to_install(missing):
    code = (f"import sys\nsys.modules[{missing!r}] = None  # as if it were not installed\n"
            "try:\n    import nbrag.graphrag\nexcept Exception as error:\n    print(type(error).__name__, error)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == (f"MissingExtraError GraphRAG needs the package {missing!r}, which is not installed: "
                           'run pip install "nbrag[graph]".')


@pytest.mark.slow
def test_smollm2_extractor_never_breaks_the_build():
    from nbrag.data import sample_multihop
    from nbrag.eval import load_beir
    from nbrag.graphrag import KnowledgeGraph

    passages = list(load_beir(sample_multihop()).corpus.items())[:3]
    graph = KnowledgeGraph("llm", max_new_tokens=96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the warning counts the chunks the model failed on
        update = graph.add({pid: (text, pid) for pid, text in passages}, progress=False)
    assert update.added == 3 and update.failed == len(graph.failures) <= 3
    for failure in graph.failures:
        assert failure["error"] and failure["reply"] is not None
    for _, data in graph.graph.nodes(data=True):  # every entity the model kept occurs in its chunk
        assert any(name.casefold() in dict(passages)[c].casefold() for name in data["names"] for c in data["chunks"])



def test_a_reply_cut_off_by_the_token_limit_keeps_its_complete_entities():
    reply = ('{"entities": [{"name": "Van Hook Township", "type": "place"}, {"name": "Mountrail County", '
             '"type": "place"}, {"name": "North Dak')
    extraction = read_extraction("Van Hook Township is in Mountrail County, North Dakota.", reply)
    assert [m.name for m in extraction.mentions] == ["Van Hook Township", "Mountrail County"]
