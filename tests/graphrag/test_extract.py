"""The offline extractor, entity keys and aliases, and the LLM extractor's reading of replies."""

from __future__ import annotations

import warnings

import pytest

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
    links = {(l.source, l.target, l.kind) for l in OfflineExtractor(keyphrases=0).extract_one(text).links}
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
    links = {(l.source, l.target) for l in OfflineExtractor().extract_one(text).links}
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
    assert [(l.source, l.target, l.evidence) for l in extraction.links] == [
        ("Marie Curie", "Warsaw", "Marie Curie born in Warsaw")]


def test_endpoint_needs_a_model_name():
    with pytest.raises(ValueError, match="model"):
        LLMExtractor(endpoint="http://localhost:8000/v1")


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
    for node, data in graph.graph.nodes(data=True):  # every entity the model kept occurs in its chunk
        assert any(name.casefold() in dict(passages)[c].casefold() for name in data["names"] for c in data["chunks"])



def test_a_reply_cut_off_by_the_token_limit_keeps_its_complete_entities():
    reply = ('{"entities": [{"name": "Van Hook Township", "type": "place"}, {"name": "Mountrail County", '
             '"type": "place"}, {"name": "North Dak')
    extraction = read_extraction("Van Hook Township is in Mountrail County, North Dakota.", reply)
    assert [m.name for m in extraction.mentions] == ["Van Hook Township", "Mountrail County"]
