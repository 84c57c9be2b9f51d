import numpy as np
import pytest

import nbrag
from nbrag.chunking.semantic import neighbour_similarities, threshold_value
from nbrag.errors import NbragError

# Three topics, three sentences each: the cuts belong between the topics.
TOPICS_EN = [
    "Bread dough needs flour, water, salt and yeast. Knead it until it is smooth and elastic. "
    "Let it rise in a warm place before baking it in a hot oven.",
    "Jupiter is the largest planet in the solar system. It is a gas giant with dozens of moons. "
    "Its Great Red Spot is a storm larger than the Earth.",
    "The striker scored twice in the second half of the match. The goalkeeper saved a penalty in the final minute. "
    "The team won the league title on the last day of the season.",
]
TOPICS_ZH = [
    "做面包需要面粉、水、盐和酵母。把面团揉到光滑有弹性。发酵后放进热烤箱里烘烤。",
    "木星是太阳系中最大的行星。它是一颗拥有几十颗卫星的气态巨行星。大红斑是一场比地球还大的风暴。",
    "前锋在下半场打进两球。守门员在最后一分钟扑出点球。球队在赛季最后一天夺得联赛冠军。",
]


@pytest.mark.parametrize("topics, sep", [(TOPICS_EN, " "), (TOPICS_ZH, "")])
def test_cuts_fall_between_topics(topics, sep):
    text = sep.join(topics)
    result = nbrag.chunk(text, method="semantic", threshold_type="percentile", threshold=25, max_size=200)
    assert [c.text for c in result] == topics
    assert all(text[c.start:c.end] == c.text for c in result)
    assert [cut["reason"] for cut in result.details["cuts"]] == ["similarity", "similarity"]


def test_details_hold_the_curve_threshold_and_cuts():
    text = " ".join(TOPICS_EN)
    result = nbrag.chunk(text, method="semantic", threshold_type="std", threshold=1.0, max_size=200)
    sims = np.array(result.details["similarities"])
    assert len(sims) == len(result.details["units"]) - 1 == 8
    assert result.details["threshold_value"] == pytest.approx(sims.mean() - sims.std(), abs=1e-3)
    for cut in result.details["cuts"]:
        assert cut["similarity"] < result.details["threshold_value"]


def test_max_size_is_never_exceeded(python_doc):
    for max_size in (16, 48, 128):
        result = nbrag.chunk(python_doc, method="semantic", max_size=max_size)
        assert result.chunks and all(1 <= c.tokens <= max_size for c in result)
        assert all(python_doc[c.start:c.end] == c.text for c in result)


def test_min_size_holds_back_similarity_cuts(python_doc):
    loose = nbrag.chunk(python_doc, method="semantic", threshold=30, max_size=256)
    held = nbrag.chunk(python_doc, method="semantic", threshold=30, max_size=256, min_size=64)
    assert len(held) < len(loose)
    for chunk, cut in zip(held, held.details["cuts"]):  # the chunk before each cut
        if cut["reason"] == "similarity":
            assert chunk.tokens >= 64


def test_absolute_threshold_of_minus_one_never_cuts_by_similarity():
    text = " ".join(TOPICS_EN)
    result = nbrag.chunk(text, method="semantic", threshold_type="absolute", threshold=-1.0, max_size=500)
    assert len(result) == 1 and result[0].text == text


def test_similarity_window_and_threshold_helpers():
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    assert neighbour_similarities(vectors, 1).tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert neighbour_similarities(vectors, 2)[1] == pytest.approx(0.0)
    sims = np.array([0.1, 0.5, 0.9])
    assert threshold_value(sims, "percentile", 50) == 0.5
    assert threshold_value(sims, "absolute", 0.3) == 0.3
    assert threshold_value(sims, "std", 1.0) == pytest.approx(0.5 - sims.std())


@pytest.mark.parametrize("options, message", [
    ({"threshold_type": "median"}, "threshold_type='median': choose one of percentile, absolute, std."),
    ({"threshold": 150}, "threshold=150: with the percentile threshold type, give a number from 0 to 100."),
    ({"threshold_type": "absolute", "threshold": 2},
     "threshold=2: with the absolute threshold type (a cosine similarity), give a number from -1 to 1."),
    ({"threshold": "10"}, "threshold='10': give a number."),
    ({"threshold_type": "std", "threshold": float("nan")},
     "threshold=nan: with the std threshold type, give a finite number of standard deviations."),
    ({"window": 0}, "window=0: must be a whole number of at least 1 sentence."),
    ({"max_size": 10, "min_size": 20}, "min_size=20: must be a whole number from 0 to max_size=10."),
])
def test_bad_options(options, message):
    with pytest.raises(NbragError) as info:
        nbrag.chunk("Some text. More text.", method="semantic", **options)
    assert str(info.value) == message


def test_empty_text():
    assert len(nbrag.chunk("  \n ", method="semantic")) == 0
