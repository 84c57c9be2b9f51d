"""Inspector benchmarks for bench/run.py: what the KV cache buys, and what the inspectors cost.

- ``kv_speedup``: tokens per second of SmolLM2-135M's greedy generation on the CPU with and
  without the KV cache, at 64, 128, 256 and 512 new tokens, through ``nbrag.inspectors.speed``
  (each timing includes the prompt's forward pass; end-of-sequence suppressed so every run has
  its length); medians of a few runs, fewer as the runs get long (512 without the cache runs
  once), the lengths in turns per round. The commonly quoted speedup is 3-5x;
- ``overhead``: each inspector against the bare call it wraps, on the same model, text and
  thread count, in turns (the order swapped every round), medians: ``kv_cache()`` against
  ``model.generate`` of the same length with the cache, ``routing()`` against a plain forward of
  the same tiny MoE (and, with no goal, against a forward that like routing() computes the
  next-token logits of the last position only: the inspector's own work), ``attention()``
  against an eager forward with ``output_attentions=True`` (the model switched to eager
  outside the bare side's timing; the inspector switches it itself). Both sides tokenize
  the text. Goal: at most 1.2x for the KV cache and routing.

Every comparison runs with torch and the BLAS/OpenMP pools at ``THREADS`` threads
(``torch.set_num_threads`` and ``threadpoolctl.threadpool_limits``) on both sides. One thread,
because on these two shared cores two threads stall while another process holds a core (in a
trial, SmolLM2 generated 23 tokens/s on one thread and 3 on two).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time

THREADS = 1
GOAL_OVERHEAD = 1.2  # kv_cache() and routing() against the bare call
PROMPT = "Explain what a key-value cache is, and why it makes generation faster."
LENGTHS = (64, 128, 256, 512)
RUNS = {64: 3, 128: 3, 256: 2, 512: 1}  # at most; fewer where --repeat is smaller
OVERHEAD_NEW_TOKENS = 64


@contextlib.contextmanager
def threads(n: int):
    """torch and the native thread pools at ``n`` threads for the block; restored after."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(before)


def document() -> str:
    """A real English text that ships with Python: the reference section on ``with``."""
    from pydoc_data.topics import topics

    return " ".join(topics["with"].split())


def window(text: str, tokenizer, tokens: int) -> str:
    """The start of ``text`` that the model reads as ``tokens`` tokens (special tokens included)."""
    from nbrag.inspectors.base import encode

    enc = encode(tokenizer, text, max_tokens=None)
    ends = [end for _, end in enc.offsets[:tokens] if end]
    cut = text[:ends[-1]]
    while len(encode(tokenizer, cut).tokens) > tokens:  # a word piece cut off can tokenize longer
        cut = cut[:cut.rstrip().rfind(" ")]
    return cut


def generator():
    """SmolLM2 (the configured generator) as the inspectors' Loaded, and its load time."""
    from nbrag.config import settings
    from nbrag.inspectors import Loaded
    from nbrag.models import load_generator

    t = time.perf_counter()
    model, tokenizer = load_generator()
    return Loaded(model, tokenizer, settings.generator), round(time.perf_counter() - t, 2)


# --------------------------------------------------------------------------- KV cache speedup


def kv_speedup(n: int) -> dict:
    """Tokens/s with and without the cache per number of new tokens; the lengths in turns per round."""
    import torch

    from nbrag.inspectors import speed

    load_start = os.getloadavg()  # other work on the machine: the 1, 5 and 15 minute load averages
    loaded, load_s = generator()
    runs = {length: min(n, RUNS[length]) for length in LENGTHS}
    rows: dict[int, dict[str, list]] = {length: {"cached_s": [], "uncached_s": [], "same_tokens": []}
                                        for length in LENGTHS}
    with threads(THREADS):
        for r in range(max(runs.values())):
            for length in LENGTHS:
                if r < runs[length]:
                    row = speed(PROMPT, loaded, (length,)).rows[0]
                    rows[length]["cached_s"].append(row.cached_seconds)
                    rows[length]["uncached_s"].append(row.uncached_seconds)
                    rows[length]["same_tokens"].append(row.same_tokens)
        prompt_tokens = speed(PROMPT, loaded, (1,)).prompt_tokens
    lengths = {}
    for length, row in rows.items():
        cached, uncached = statistics.median(row["cached_s"]), statistics.median(row["uncached_s"])
        lengths[str(length)] = {**row, "runs": len(row["cached_s"]), "cached_tps": length / cached,
                                "uncached_tps": length / uncached, "speedup": uncached / cached}
    model = loaded.model
    return {"model": loaded.name, "device": str(model.device), "dtype": str(model.dtype).removeprefix("torch."),
            "attention": model.config._attn_implementation, "threads": THREADS, "torch_version": torch.__version__,
            "load_s": load_s, "prompt": PROMPT, "prompt_tokens": prompt_tokens, "lengths": lengths,
            "load_average": {"start": load_start, "end": os.getloadavg()}}


# --------------------------------------------------------------------------- inspectors' overhead


def clock(fn) -> float:
    """Seconds of ``fn()``; a bare call that sets something up around its work returns its own seconds."""
    t = time.perf_counter()
    spent = fn()
    return spent if isinstance(spent, float) else time.perf_counter() - t


def paired(inspect, bare, rounds: int) -> dict:
    """Seconds of ``inspect()`` and ``bare()``, ``rounds`` times in turns (the order swapped every round)."""
    inspect(), bare()  # warm up both
    seconds: dict[str, list[float]] = {"inspector_s": [], "bare_s": []}
    for r in range(rounds):
        order = [("inspector_s", inspect), ("bare_s", bare)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            seconds[name].append(clock(fn))
    ours, theirs = statistics.median(seconds["inspector_s"]), statistics.median(seconds["bare_s"])
    return {**seconds, "rounds": rounds, "inspector_median_s": ours, "bare_median_s": theirs,
            "ratio": round(ours / theirs, 3)}


def kv_pair(loaded, new_tokens: int):
    import torch

    from nbrag.inspectors import kv_cache

    model, tok = loaded.model, loaded.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def bare() -> None:
        ids = tok(PROMPT, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, use_cache=True, return_dict_in_generate=True,
                           pad_token_id=pad)

    return lambda: kv_cache(PROMPT, loaded, new_tokens), bare


def routing_pair(loaded, text: str, head: bool = True):
    """routing() and a plain forward; ``head=False``: the forward computes the next-token logits of the last
    position only (``logits_to_keep=1``), as routing() does, so that the pair shows the inspector's own work."""
    import torch

    from nbrag.inspectors import routing

    model, tok = loaded.model, loaded.tokenizer
    keep = {} if head else {"logits_to_keep": 1}

    def bare() -> None:
        ids = tok(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            model(input_ids=ids, attention_mask=torch.ones_like(ids), **keep)

    return lambda: routing(text, loaded), bare


def attention_pair(loaded, text: str):
    import torch

    from nbrag.inspectors import attention

    model, tok = loaded.model, loaded.tokenizer
    current = model.config._attn_implementation

    def bare() -> float:
        if current != "eager":
            model.set_attn_implementation("eager")  # outside the timing: the bare side starts eager
        t = time.perf_counter()
        ids = tok(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True)
        spent = time.perf_counter() - t
        if current != "eager":
            model.set_attn_implementation(current)
        return spent

    return lambda: attention(text, loaded), bare


def overhead(n: int, generator_too: bool = True) -> dict:
    """Each inspector against its bare call, medians of many rounds in turns."""
    from nbrag.inspectors import Loaded, tiny_model

    def tiny(family: str) -> Loaded:
        model, tok, _ = tiny_model(family)
        return Loaded(model, tok, f"tiny:{family}")

    load_start = os.getloadavg()
    text = document()
    rows = []
    with threads(THREADS):
        llama, mixtral, deepseek = tiny("llama"), tiny("mixtral"), tiny("deepseek_v3")
        cases = [("kv_cache", llama, f"{OVERHEAD_NEW_TOKENS} new tokens", kv_pair(llama, OVERHEAD_NEW_TOKENS), 8 * n)]
        for loaded, tokens in ((mixtral, 16), (mixtral, 512), (deepseek, 512)):
            cases.append(("routing", loaded, f"{tokens} tokens",
                          routing_pair(loaded, window(text, loaded.tokenizer, tokens)), 8 * n))
        # routing() skips the vocabulary logits it never reads; against a forward that skips them too (no goal)
        cases.append(("routing", mixtral, "16 tok, no head",
                      routing_pair(mixtral, window(text, mixtral.tokenizer, 16), head=False), 8 * n))
        cases.append(("attention", llama, "128 tokens", attention_pair(llama, window(text, llama.tokenizer, 128)),
                      8 * n))
        load_s = None
        if generator_too:
            smol, load_s = generator()
            cases.append(("kv_cache", smol, f"{OVERHEAD_NEW_TOKENS} new tokens",
                          kv_pair(smol, OVERHEAD_NEW_TOKENS), n))
            cases.append(("attention", smol, "128 tokens", attention_pair(smol, window(text, smol.tokenizer, 128)), n))
        for inspector, loaded, what, (inspect, bare), rounds in cases:
            result = paired(inspect, bare, rounds)
            goal = inspector in ("kv_cache", "routing") and "no head" not in what
            rows.append({"inspector": inspector, "model": loaded.name, "what": what, **result,
                         "goal": GOAL_OVERHEAD if goal else None,
                         "met": (result["ratio"] <= GOAL_OVERHEAD) if goal else None})
    return {"threads": THREADS, "generator": generator_too, "generator_load_s": load_s, "rows": rows,
            "load_average": {"start": load_start, "end": os.getloadavg()}}


# --------------------------------------------------------------------------- report


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note)."""
    rows = []
    kv = results.get("inspect_kv_speedup")
    if kv:
        for length, row in kv["lengths"].items():
            rows.append((f"KV cache, {length} new (tok/s)", row["cached_tps"], row["uncached_tps"], "no cache",
                         (f"{kv['model']} greedy, CPU, {kv['threads']} thread; speedup {row['speedup']:.2f}x, "
                          f"median of {row['runs']}")))
    ov = results.get("inspect_overhead")
    if ov:
        for row in ov["rows"]:
            bare = {"kv_cache": "generate", "routing": "forward", "attention": "eager fwd"}[row["inspector"]]
            goal = f"; goal <= {row['goal']}: {'met' if row['met'] else 'MISSED'}" if row["goal"] else ""
            rows.append((f"{row['inspector']}() (s)", row["inspector_median_s"], row["bare_median_s"], bare,
                         f"{row['model']}, {row['what']}, median of {row['rounds']}{goal}"))
    return rows


def report(results: dict) -> None:
    """What the inspector entries add below the table."""
    kv = results.get("inspect_kv_speedup")
    if kv:
        print(f"\nKV cache speedup: {kv['model']} ({kv['dtype']}, {kv['attention']} attention) on the {kv['device']}, "
              f"torch {kv['torch_version']} at {kv['threads']} thread(s), greedy from a {kv['prompt_tokens']}-token "
              "prompt through nbrag.inspectors.speed (each timing includes the prompt's forward pass)"
              + _load(kv) + ":")
        print(f"  {'new tokens':>10}{'runs':>6}{'cached tok/s':>14}{'uncached tok/s':>16}{'speedup':>9}"
              f"{'cached s':>10}{'uncached s':>12}  same tokens")
        for length, row in kv["lengths"].items():
            print(f"  {length:>10}{row['runs']:>6}{row['cached_tps']:>14.2f}{row['uncached_tps']:>16.2f}"
                  f"{row['speedup']:>8.2f}x{statistics.median(row['cached_s']):>10.2f}"
                  f"{statistics.median(row['uncached_s']):>12.2f}  {all(row['same_tokens'])}")
    ov = results.get("inspect_overhead")
    if ov:
        print(f"\ninspectors against the bare call they wrap, in turns, medians; {ov['threads']} thread(s) on both "
              f"sides (goal <= {GOAL_OVERHEAD} for kv_cache and routing){_load(ov)}:")
        print(f"  {'inspector':<11}{'model':<24}{'input':<16}{'rounds':>7}{'inspector ms':>14}{'bare ms':>10}"
              f"{'ratio':>8}  goal")
        for row in ov["rows"]:
            goal = ("met" if row["met"] else "MISSED") if row["goal"] else "-"
            print(f"  {row['inspector']:<11}{row['model']:<24}{row['what']:<16}{row['rounds']:>7}"
                  f"{row['inspector_median_s'] * 1000:>14.1f}{row['bare_median_s'] * 1000:>10.1f}"
                  f"{row['ratio']:>8.2f}  {goal}")


def _load(entry: dict) -> str:
    """The machine's load average when the entry started and ended (other work slows every number)."""
    if "load_average" not in entry:
        return ""
    start, end = entry["load_average"]["start"], entry["load_average"]["end"]
    return f"; load average (1 min) {start[0]:.2f} at the start, {end[0]:.2f} at the end, on {os.cpu_count()} cores"
