"""context=: every chunker embeds each chunk with its title, neighbouring sentences or a generated line,
its span unchanged, within the embedder's limit."""

import pytest

import nbrag
from nbrag.chunking import available, chunk, compare
from nbrag.chunking.context import headings
from nbrag.data import sample_documents
from nbrag.errors import NbragError, NbragTypeError
from nbrag.models import embedder_max_tokens, load_tokenizer

CONTEXTS = ["none", "title", "neighbours", "sentences:1", "title+neighbours", "title+sentences:3", "generated",
            "title+generated+sentences:2"]

# Paragraphs that open with a title line, as HotpotQA's documents do (and plain-text notes often).
PLAIN = ("Pharos of Alexandria\nThe lighthouse was built in the third century BC on the island of Pharos. It stood "
         "more than 100 metres high. Earthquakes damaged it, and it had fallen into ruin by the fourteenth century.\n\n"
         "Eddystone Lighthouse\nThe rock lies fourteen kilometres off Plymouth. The present tower, the fourth, was "
         "completed in 1882. Its light can be seen 41 kilometres away.")


def situate(messages):
    """A generator of our own: names the document's first heading, whatever the chunk."""
    return "From the guide to " + messages[-1]["content"].split("\n")[1].lstrip("# ") + ".\nA second line."


def options(method: str, size: int) -> dict:
    if method == "semantic":
        return {"max_size": size}
    if method == "llm":  # a client that always names sentence 2; the real model is tested in test_llm.py
        return {"max_size": size, "generator": lambda messages: "2"}
    return {"size": size}


def count(texts, special=False):
    return [len(e.ids) for e in load_tokenizer(nbrag.settings.embedder).encode_batch(texts, add_special_tokens=special)]


@pytest.fixture(scope="module")
def docs():
    return sample_documents()


@pytest.mark.parametrize("method", available())
@pytest.mark.parametrize("context", CONTEXTS)
def test_spans_stay_exact_and_the_embedded_text_holds_the_chunk_whole_within_the_limit(method, context, docs):
    limit = embedder_max_tokens()
    extra = {"context_generator": situate} if "generated" in context else {}
    changed = []
    for source in (docs["lighthouses"][:3000], PLAIN):
        plain = chunk(source, method=method, **options(method, 48))
        result = chunk(source, method=method, context=context, **options(method, 48), **extra)
        assert [(c.start, c.end, c.text) for c in result] == [(c.start, c.end, c.text) for c in plain]
        for c in result:
            assert source[c.start:c.end] == c.text
        if context == "none":
            assert all(c.embed_text is None and c.embedded == c.text for c in result)
            continue
        assert result.params["context"] == context
        for c, own, whole in zip(result, count(result.texts), count([c.embedded for c in result], special=True)):
            assert c.text in c.embedded
            if own + 2 <= limit:
                assert whole <= limit, (c, c.embedded)
        changed += [c.embedded != c.text for c in result]
    assert context == "none" or any(changed)  # (a chunk that is its whole section has no neighbours to add)


def test_the_title_is_the_heading_path_and_a_given_title_comes_first(docs):
    text = docs["lighthouses"]
    for method in ("recursive", "structure", "fixed"):
        result = chunk(text, method=method, size=32, context="title", title="Sea marks")
        lens = next(c for c in result if "catadioptric" in c.text and not c.text.lstrip().startswith("#"))
        assert lens.embedded.startswith("Sea marks > Lighthouses and Their Optics > The Fresnel lens > "), \
            (method, lens.embedded)
        assert lens.embedded.endswith(lens.text)
    plain = chunk(PLAIN, method="recursive", size=12, context="title")
    built = next(c for c in plain if "1882" in c.text)
    assert built.embedded == f"Eddystone Lighthouse\n{built.text}"


def test_headings_found_in_markdown_and_plain_text():
    text = "Guide\n=====\n\nIntro line.\n\n## Install\n\nRun it.\n\nLinux notes\nUse apt.\n\n- a list item\nmore"
    assert [(level, title) for _, _, level, title in headings(text)] == [(1, "Guide"), (2, "Install"),
                                                                          (7, "Linux notes")]
    wrapped = "This paragraph is wrapped by hand at a short width\nand goes on in lower case."
    assert headings(wrapped) == []


def test_neighbours_stay_in_the_section_and_are_nearest_first():
    result = chunk(PLAIN, method="recursive", size=12, context="sentences:1")
    middle = next(c for c in result if c.text.startswith("It stood"))
    assert middle.embedded == ("The lighthouse was built in the third century BC on the island of Pharos. "
                               "It stood more than 100 metres high. Earthquakes damaged it, and it had fallen into "
                               "ruin by the fourteenth century.")
    last = next(c for c in result if c.text.startswith("Earthquakes"))
    assert "Eddystone" not in last.embedded  # the next section is another subject
    capped = chunk(PLAIN, method="recursive", size=12, context="neighbours", context_size=4)
    for own, whole in zip(count(capped.texts), count([c.embedded for c in capped])):
        assert whole <= own + 4 + 1  # a cut inside a word may cost one token more


def test_a_chunk_that_fills_the_embedder_gets_no_context():
    long = "Harbour lights\n" + " ".join(f"word{i}" for i in range(400)) + ".\n\nMore text follows here."
    result = chunk(long, method="fixed", size=300, overlap=0, context="title+neighbours")
    assert result[0].embedded == result[0].text
    small = chunk(long, method="fixed", size=250, overlap=0, context="title+neighbours")
    assert count([small[0].embedded], special=True)[0] <= embedder_max_tokens()


def test_generated_context_comes_from_a_plain_function(docs):
    seen = []

    def complete(messages):
        seen.append(messages)
        return situate(messages)

    result = chunk(docs["lighthouses"], method="recursive", size=64, context="generated",
                   context_generator=complete)
    assert len(seen) == len(result)
    for c, messages in zip(result, seen):
        assert f"<chunk>\n{c.text}\n</chunk>" in messages[-1]["content"]
        assert c.embedded == f"From the guide to Lighthouses and Their Optics.\n{c.text}"


def test_compare_and_the_magic_pass_the_context_on(ip, docs):
    text = docs["weather_station"][:2000]
    both = compare(text, ["fixed", "recursive"], size=48, context="title")
    assert all(r.params["context"] == "title" for r in both.results.values())
    ip.user_ns["doc"] = text
    ip.run_line_magic("chunk", "--var doc -m recursive --size 48 --context title -o shown")
    assert ip.user_ns["shown"].params["context"] == "title"
    assert ip.user_ns["shown"][-1].embed_text is not None
    ip.user_ns["situate"] = situate
    ip.run_line_magic("chunk", "--var doc --size 48 --context generated --generator situate -o made")
    assert ip.user_ns["made"][0].embedded.startswith("From the guide to")
    with pytest.raises(Exception, match="--context titel: choose none, or one or more of title, neighbours"):
        ip.run_line_magic("chunk", "--var doc --context titel")


@pytest.mark.parametrize(("given", "error"), [
    ({"context": "titel"}, NbragError), ({"context": "sentences:0"}, NbragError),
    ({"context": "title+title"}, NbragError), ({"context": "none+title"}, NbragError), ({"context": 5}, NbragTypeError),
    ({"context": "title", "context_size": 0}, NbragError), ({"context": "title", "title": 3}, NbragTypeError),
    ({"context": "title", "context_generator": situate}, NbragError), ({"contxt": "title"}, NbragTypeError),
])
def test_bad_values_name_the_choices(given, error):
    with pytest.raises(error) as raised:
        chunk(PLAIN, method="recursive", size=32, **given)
    if "context" in given and raised.value.option == "context":
        assert "choose none, or one or more of title, neighbours, sentences:N" in str(raised.value)
    else:
        assert raised.value.option in given


def test_nbrag_index_takes_the_context_option(ip, tmp_path):
    (tmp_path / "notes.md").write_text(PLAIN, encoding="utf-8")
    ip.user_ns["folder"] = str(tmp_path)
    name = f"context-{tmp_path.name}"
    ip.run_line_magic("nbrag", f"index $folder --memory --name {name} --size 12 --context title")
    index = ip.magics_manager.registry["RetrieveMagics"].session.indexes[name]
    hit = index.search("Eddystone Lighthouse completed", k=1, mode="dense")[0]
    assert hit.meta["context"] == "title" and hit.text == PLAIN[hit.start:hit.end]
    with pytest.raises(Exception, match="--context titel: choose none, or one or more of title"):
        ip.run_line_magic("nbrag", f"index $folder --memory --name {name}-bad --context titel")
