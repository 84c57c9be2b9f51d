"""%%attention, %%kvcache and %%moe on tiny random-weight models (and one SmolLM2 case, marked slow)."""

import numpy as np
import pytest
from IPython.core.error import UsageError

from nbrag.inspectors import (
    AttentionMap,
    CacheReport,
    RoutingTrace,
    SpeedReport,
    attention,
    routing,
)
from tests.magics.test_magics import run
from tests.tiny import tiny

TEXT = "The cat sat on the mat because it was tired."
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch on one thread, restored after


@pytest.fixture(scope="module")
def olmoe(ip):
    """A tiny MoE (model, tokenizer) pair held in a variable of the notebook."""
    ip.user_ns["olmoe_pair"] = tiny("olmoe")
    return ip.user_ns["olmoe_pair"]


def test_attention_cell_line_and_var_forms(ip):
    result = run(ip, f"%%attention --model tiny:llama --layer -1 --head 2 -o att\n{TEXT}")
    assert isinstance(result, AttentionMap) and ip.user_ns["att"] is result
    assert result.selection == {"layer": 1, "head": 2} and result.text == TEXT
    np.testing.assert_array_equal(result.weights, attention(TEXT, model="tiny:llama").weights)  # seeded weights
    by_query = run(ip, f"%attention --model tiny:llama --query {TEXT}")
    ip.user_ns["doc"] = TEXT
    by_var = run(ip, "%attention --model tiny:llama --var doc --max-tokens 64")
    assert by_query.tokens == by_var.tokens == result.tokens and by_query.selection == {}
    assert by_var.params["max_tokens"] == 64


def test_kvcache_with_speed_returns_both_reports(ip, monkeypatch):
    report = run(ip, f"%%kvcache --model tiny:mistral --max-new-tokens 20 --layer 1 --head -1\n{TEXT}")
    assert isinstance(report, CacheReport) and report.agrees and report.new_tokens == 20
    assert report.selection == {"layer": 1, "head": 1}  # tiny mistral: 2 layers, 2 KV heads
    both = run(ip, f"%%kvcache --model tiny:llama --max-new-tokens 4 --speed 2,4 --window 4 -o kv\n{TEXT}")
    cache, timing = both
    assert ip.user_ns["kv"] is both and isinstance(cache, CacheReport) and isinstance(timing, SpeedReport)
    assert [r.new_tokens for r in timing.rows] == [2, 4] and all(r.same_tokens for r in timing.rows)
    assert any(s.name == "sliding window of 4" for s in cache.savings)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    both._ipython_display_()  # each report shows its own view
    assert shown == [cache, timing]


def test_moe_layer_expert_and_comparison(ip, olmoe, monkeypatch):
    trace = run(ip, f"%%moe --model tiny:deepseek_v3 --layer 1 --expert 7 -o route\n{TEXT}")
    assert isinstance(trace, RoutingTrace) and ip.user_ns["route"] is trace
    assert trace.layers == [1] and trace.selection == {"layer": 1, "expert": 7}
    ip.user_ns["other"] = "Stocks fell sharply on Monday morning."
    pair = run(ip, f"%%moe --model olmoe_pair --vs other --layer -1 -o both\n{TEXT}")
    first, second = pair
    assert ip.user_ns["both"] is pair
    assert first.text == TEXT and second.text == "Stocks fell sharply on Monday morning."
    assert first.selection == second.selection == {"layer": 1}
    np.testing.assert_array_equal(first.experts, routing(TEXT, model=olmoe).experts)  # the variable's own model
    assert pair.comparison.layers == first.layers and pair.comparison.tokens == (first.num_tokens, second.num_tokens)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    pair._ipython_display_()  # the comparison first, then each text's routing
    assert shown == [pair.comparison, first, second]


@pytest.mark.parametrize("source, message", [
    ("%%attention --model tiny:llama\n   ", "No text to inspect: write it in the cell under %%attention"),
    ("%moe --model tiny:mixtral", "No text to inspect: write it in the cell under %%moe, or end the line with --query"),
    ("%%attention --model tiny:llama --query one\ntwo", "Text to inspect given twice (the cell and --query)"),
    ("%kvcache --model tiny:llama --var nowhere", "--var nowhere: no variable of that name"),
    ("%kvcache --model tiny:llama --var number", "--var number holds a int, not a str"),
    ("%attention --model no-such-model --query text", "--model no-such-model: The generator 'no-such-model' is not"),
    ("%attention --model no-such-model --query text", "For a model that needs nothing installed, try tiny:llama"),
    ("%attention --model tiny:nope --query text", "--model tiny:nope: no tiny family of that name; available: llama"),
    ("%attention --model number --query text", "--model number holds a int: give a variable that holds (model, tok"),
    ("%attention --model bare --query text", "--model bare holds a model without its tokenizer"),
    ("%%attention --model tiny:llama --layer 2\ntext", "--layer 2: out of range: tiny:llama has 2 layers; give 0 to 1"),
    ("%%attention --model tiny:llama --head -5\ntext", "--head -5: out of range: tiny:llama has 4 attention heads"),
    ("%%attention --model tiny:llama --max-tokens 3\nThe cat sat on the mat",
     "--max-tokens 3: the text is 7 tokens long, over this limit. Raise it to 7 if memory allows"),
    ("%%attention --model tiny:llama --max-tokens 0\ntext", "--max-tokens 0: the text needs room"),
    ("%%kvcache --model tiny:llama --max-tokens 0\ntext", "--max-tokens 0: the prompt needs room"),
    ("%%kvcache --model tiny:llama --head 2\ntext",
     "--head 2: out of range: tiny:llama has 2 KV heads per layer (4 query heads share them)"),
    ("%%kvcache --model tiny:llama --max-new-tokens 0\ntext", "--max-new-tokens 0: generate at least one token."),
    ("%%kvcache --model tiny:llama --speed 16,x\ntext", "--speed 16,x: give numbers of new tokens"),
    ("%%kvcache --model tiny:llama --window 1\ntext", "--window 1: a sliding window holds at least 2 tokens"),
    ("%%kvcache --model all-MiniLM-L6-v2\ntext",
     "--model all-MiniLM-L6-v2: does not generate text, so it builds no KV cache"),
    ("%%moe --model tiny:llama\ntext", "--model tiny:llama: has no experts: LlamaForCausalLM (llama) sends every"),
    ("%%moe --model tiny:deepseek_v3 --layer 0\ntext", "experts in layers 1 only (layer 0 is dense"),
    ("%%moe --model tiny:mixtral --expert 4\ntext", "--expert 4: out of range: tiny:mixtral has 4 experts"),
    ("%%moe --model tiny:mixtral --vs nowhere\ntext", "--vs nowhere: no variable of that name"),
    ("%%moe --model tiny:mixtral --vs empty\ntext", "--vs empty holds an empty text"),
    ("%%moe -o 2x\ntext", "-o '2x' is not a valid Python variable name"),
    ("%%kvcache --layers 1\ntext", "unrecognized arguments: --layers 1"),
])
def test_bad_input_is_one_line_usage_error(ip, source, message):
    ip.user_ns.update(number=3, empty="  ", bare=tiny("llama")[0])
    ip.user_ns.pop("nowhere", None)
    with pytest.raises(UsageError) as info:
        run(ip, source)
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()
    assert "=" not in str(info.value).split(":")[0]  # the flag as the line gives it, not a Python keyword


def test_a_bug_in_the_engine_keeps_its_traceback(ip, monkeypatch):
    import nbrag.inspectors.attention_map
    import nbrag.inspectors.kvcache
    import nbrag.inspectors.moe

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    for module, function, cell in [(nbrag.inspectors.attention_map, "head_metrics", "%%attention --model tiny:llama"),
                                   (nbrag.inspectors.kvcache, "layer_caches", "%%kvcache --model tiny:llama"),
                                   (nbrag.inspectors.moe, "balance", "%%moe --model tiny:mixtral")]:
        monkeypatch.setattr(module, function, broken)
        with pytest.raises(RuntimeError, match=r"^boom$"):
            run(ip, f"{cell} --max-new-tokens 2\n{TEXT}" if "kvcache" in cell else f"{cell}\n{TEXT}")
        monkeypatch.undo()
    # and a mistake still reads as one line naming the flag
    with pytest.raises(UsageError, match=r"^--max-new-tokens -1: generate at least one token\.$"):
        run(ip, f"%%kvcache --model tiny:llama --max-new-tokens -1\n{TEXT}")


def test_help_lists_the_inspector_magics(ip, capsys):
    run(ip, "%nbrag help")
    out = capsys.readouterr().out
    assert "%%attention" in out and "%%kvcache" in out and "%%moe" in out
    assert "--speed" in ip.find_cell_magic("kvcache").__doc__


@pytest.mark.slow
def test_smollm2_by_default(ip):
    att = run(ip, f"%%attention --layer 29 --head 8\n{TEXT}")
    assert att.model == "SmolLM2-135M-Instruct" and att.weights.shape[:2] == (30, 9)
    assert att.selection == {"layer": 29, "head": 8}
    with pytest.raises(UsageError, match=r"^--head 9: out of range: SmolLM2-135M-Instruct has 9 attention heads "
                                         r"per layer; give 0 to 8"):
        run(ip, f"%%attention --head 9\n{TEXT}")
    report = run(ip, f"%kvcache --max-new-tokens 3 --head 2 --query {TEXT}")
    assert report.agrees and report.geometry.kv_heads == 3 and report.selection == {"head": 2}
