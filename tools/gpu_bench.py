"""A short benchmark of nbrag's CUDA paths, run by tools/gpu_check.sh; writes one JSON file.

    python tools/gpu_bench.py --out build/gpu-check/bench.json          # on the device nbrag resolves
    NBRAG_DEVICE=cpu python tools/gpu_bench.py --quick --out bench.json  # a rehearsal on the CPU, small sizes

Every model runs where nbrag puts it (``nbrag.models.resolve_device()``, which follows
``$NBRAG_DEVICE``), in the dtype nbrag picks (bfloat16 on a GPU that has it). Entries:

- generation: SmolLM2's greedy tokens/s with and without the KV cache (``nbrag.inspectors.speed``,
  medians of a few runs per length), and ``kv_cache()``'s measured bytes against the formula in the
  model's dtype;
- embedding: MiniLM texts/s through ``nbrag.models.embed`` at two batch sizes, on chunks of the shipped
  sample documents;
- lora: seconds per optimizer step of ``nbrag.lora.train``'s loop (variant ``lora``, bf16 autocast on
  CUDA) against a bare peft + torch loop on the same model, config, optimizer, examples, batch order
  and autocast, in turns, medians; the run's memory table (its peak is ``torch.cuda.max_memory_allocated``
  on CUDA);
- inspectors: ``attention()`` (which switches the model to eager attention and back) against a plain
  forward in the model's own attention, and against an eager forward with ``output_attentions=True``.

Each entry that fails is recorded with its traceback and the others still run. ``checks`` are
properties that must hold on any device (cache bytes equal the formula, the attention implementation is
restored, embeddings have unit length, ...). The exit status is 1 when an entry failed or a check did not
hold.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROMPT = "Explain what a key-value cache is, and why it makes generation faster."
SIZES = {  # full run on a GPU; --quick for a rehearsal on two busy CPU cores (one torch thread), every path once
    "full": {"lengths": (64, 256), "gen_runs": 2, "texts": 4096, "batches": (32, 128), "lora_batch": 4,
             "lora_rounds": 10, "lora_steps": 2, "attention_tokens": (128, 512), "attention_rounds": 20},
    "quick": {"lengths": (4, 8), "gen_runs": 1, "texts": 32, "batches": (16, 32), "lora_batch": 1,
              "lora_rounds": 1, "lora_steps": 1, "attention_tokens": (32,), "attention_rounds": 1},
}
LORA_MAX_LENGTH = 256  # the longest shipped instruction example is 238 tokens


class Bench:
    def __init__(self, device: str):
        self.device = device
        self.checks: list[dict[str, Any]] = []

    def check(self, name: str, ok: bool, detail: Any) -> None:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})

    def sync(self) -> None:
        """Wait for the GPU: a CUDA call returns before its kernels finish."""
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def clock(self, fn: Callable[[], Any]) -> float:
        self.sync()
        t = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t


def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    import nbrag
    from nbrag.models import resolve_dtype

    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "transformers": transformers.__version__, "device": device,
           "dtype": str(resolve_dtype(device)).removeprefix("torch."), "device_setting": nbrag.settings.device,
           "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        capability = ".".join(map(str, torch.cuda.get_device_capability(0)))
        env.update(gpu=torch.cuda.get_device_name(0), capability=capability,
                   gpu_memory_gib=round(props.total_memory / 2**30, 1), bf16=torch.cuda.is_bf16_supported())
    return env


# --------------------------------------------------------------------------- generation


def generation(bench: Bench, size: dict) -> dict[str, Any]:
    from nbrag.config import settings
    from nbrag.inspectors import Loaded, kv_cache, speed
    from nbrag.models import load_generator

    t = time.perf_counter()
    model, tokenizer = load_generator(device=bench.device)
    load_s = time.perf_counter() - t
    loaded = Loaded(model, tokenizer, settings.generator)
    rows: dict[int, dict[str, list]] = {n: {"cached_s": [], "uncached_s": [], "same_tokens": []}
                                        for n in size["lengths"]}
    for _ in range(size["gen_runs"]):
        for row in speed(PROMPT, loaded, size["lengths"]).rows:
            rows[row.new_tokens]["cached_s"].append(row.cached_seconds)
            rows[row.new_tokens]["uncached_s"].append(row.uncached_seconds)
            rows[row.new_tokens]["same_tokens"].append(row.same_tokens)
    lengths = {}
    for n, row in rows.items():
        cached, uncached = statistics.median(row["cached_s"]), statistics.median(row["uncached_s"])
        lengths[str(n)] = {**row, "cached_tokens_per_s": round(n / cached, 1),
                           "uncached_tokens_per_s": round(n / uncached, 1), "speedup": round(uncached / cached, 2)}
    report = kv_cache(PROMPT, loaded, 32)
    dtype = str(model.dtype).removeprefix("torch.")
    bench.check("kv cache bytes equal the formula", report.agrees,
                {"measured": report.total_bytes, "formula": report.formula_bytes})
    bench.check("kv cache is in the model's dtype", report.geometry.dtype == dtype == report.layers[0].dtype,
                {"model": dtype, "geometry": report.geometry.dtype, "layer 0": report.layers[0].dtype,
                 "bytes_per_element": report.geometry.bytes_per_element})
    bench.check("the generator runs on the device", model.device.type == bench.device, str(model.device))
    return {"model": settings.generator, "device": str(model.device), "dtype": dtype,
            "attention": model.config._attn_implementation, "load_s": round(load_s, 2), "runs": size["gen_runs"],
            "lengths": lengths,
            "kv_cache": {"tokens": report.tokens, "bytes": report.total_bytes, "formula": report.formula,
                         "cache_class": report.cache_class, "tokens_per_s": round(report.tokens_per_second, 1)}}


# --------------------------------------------------------------------------- embedding


def embedding(bench: Bench, size: dict) -> dict[str, Any]:
    import numpy as np

    import nbrag
    from nbrag.data import sample_documents
    from nbrag.models import embed, load_embedder, load_tokenizer

    chunks = [c.text for doc in sample_documents().values() for c in nbrag.chunk(doc, size=128, overlap=0)]
    texts = (chunks * (size["texts"] // len(chunks) + 1))[:size["texts"]]
    tok = load_tokenizer("all-MiniLM-L6-v2")
    tokens = sum(len(tok.encode(t).ids) for t in texts)
    t = time.perf_counter()
    embedder = load_embedder(device=bench.device)
    load_s = time.perf_counter() - t
    embed(texts[:32])  # warm-up
    runs = {}
    for batch in size["batches"]:
        t = time.perf_counter()
        vectors = embed(texts, batch_size=batch)  # a numpy array: the GPU has finished
        seconds = time.perf_counter() - t
        runs[str(batch)] = {"seconds": round(seconds, 3), "texts_per_s": round(len(texts) / seconds, 1),
                            "tokens_per_s": round(tokens / seconds)}
    norms = np.linalg.norm(vectors, axis=1)
    bench.check("embeddings have unit length", bool(np.allclose(norms, 1.0, atol=1e-3)),
                {"min": float(norms.min()), "max": float(norms.max())})
    param = next(embedder.parameters())
    bench.check("the embedder runs on the device", param.device.type == bench.device, str(param.device))
    return {"model": "all-MiniLM-L6-v2", "device": str(param.device), "dtype": str(param.dtype).removeprefix("torch."),
            "load_s": round(load_s, 2), "texts": len(texts), "mean_tokens": round(tokens / len(texts), 1),
            "batch_sizes": runs}


# --------------------------------------------------------------------------- LoRA


def bf16_autocast(device: str) -> bool:
    """Whether nbrag's loop trains under bf16 autocast here: on a CUDA device that has bf16."""
    import torch

    return device == "cuda" and torch.cuda.is_bf16_supported()


def autocast(device: str):
    """What nbrag's loop uses: bf16 autocast on a CUDA device that has it, nothing elsewhere."""
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16) if bf16_autocast(device) else contextlib.nullcontext()


def bare_loop(bench: Bench, pair: tuple, data: list[dict], run: Any, seed: int, batch: int):
    """peft + torch alone, with nbrag's run's config, learning rate, examples, batch order and autocast."""
    import torch
    from peft import LoraConfig, get_peft_model

    from nbrag.lora.data import Batches, read_examples, split
    from nbrag.lora.training import encode_all

    base, tokenizer = pair
    items = encode_all(read_examples(data), tokenizer, LORA_MAX_LENGTH)
    train_set, _ = split(items, 0.0, seed)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batches = Batches(train_set, batch, seed, pad)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = get_peft_model(copy.deepcopy(base), LoraConfig(
            r=run.options["r"], lora_alpha=run.options["alpha"], lora_dropout=run.options["dropout"],
            target_modules=list(run.target_modules), task_type="CAUSAL_LM"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=run.options["lr"],
                                  weight_decay=0.0)
    losses: list[float] = []
    torch.manual_seed(seed)

    def steps(k: int) -> None:
        for _ in range(k):
            with autocast(bench.device):
                loss = model(**batches.next(bench.device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())

    return steps, losses


def lora_overhead(bench: Bench, size: dict) -> dict[str, Any]:
    from nbrag import lora
    from nbrag.data import sample_instructions
    from nbrag.models import load_generator

    pair = load_generator(device=bench.device)
    data = sample_instructions()
    seed, k, batch = 0, size["lora_steps"], size["lora_batch"]
    run = lora.train(data, "lora", model=pair, steps=0, batch_size=batch, max_length=LORA_MAX_LENGTH,
                     eval_fraction=0.0, seed=seed, progress=False)
    run.resume(1)  # warm-up; nbrag's first step also measures memory, before the bare loop's copy exists
    bare, bare_losses = bare_loop(bench, pair, data, run, seed, batch)
    bare(1)
    seconds: dict[str, list[float]] = {"nbrag_s": [], "bare_s": []}
    for r in range(size["lora_rounds"]):
        sides = [("nbrag_s", lambda: run.resume(k)), ("bare_s", lambda: bare(k))]
        for name, fn in sides if r % 2 == 0 else sides[::-1]:
            seconds[name].append(bench.clock(fn) / k)
    ours, theirs = statistics.median(seconds["nbrag_s"]), statistics.median(seconds["bare_s"])
    memory = dict(run.memory)
    bench.check("the LoRA memory table's peak covers the weights", memory.get("peak", 0) >= memory.get("weights", 1),
                memory)
    bench.check("the LoRA run trains on the device", run.options["device"].startswith(bench.device),
                run.options["device"])
    return {"variant": "lora", "model": run.options["model"], "device": run.options["device"],
            "autocast": "bfloat16" if bf16_autocast(bench.device) else None,
            "batch_size": batch, "examples": len(data), "steps_per_round": k, "rounds": size["lora_rounds"],
            **seconds, "nbrag_s_per_step": ours, "bare_s_per_step": theirs, "ratio": round(ours / theirs, 3),
            "first_loss": {"nbrag": run.history[0]["loss"], "bare": bare_losses[0]}, "memory_bytes": memory}


# --------------------------------------------------------------------------- inspectors


def window(tokenizer: Any, text: str, tokens: int) -> str:
    """The start of ``text`` that the model reads as at most ``tokens`` tokens."""
    from nbrag.inspectors.base import encode

    enc = encode(tokenizer, text)
    ends = [end for _, end in enc.offsets[:tokens] if end]
    cut = text[:ends[-1]]
    while len(encode(tokenizer, cut).tokens) > tokens:
        cut = cut[:cut.rstrip().rfind(" ")]
    return cut


def inspectors(bench: Bench, size: dict) -> dict[str, Any]:
    from pydoc_data.topics import topics

    import numpy as np
    import torch

    from nbrag.config import settings
    from nbrag.inspectors import Loaded, attention
    from nbrag.models import load_generator

    model, tokenizer = load_generator(device=bench.device)
    loaded = Loaded(model, tokenizer, settings.generator)
    own = model.config._attn_implementation
    document = " ".join(topics["with"].split())
    rows = []
    for tokens in size["attention_tokens"]:
        text = window(tokenizer, document, tokens)
        ids = tokenizer(text, return_tensors="pt")["input_ids"].to(model.device)

        def plain(ids=ids) -> None:
            with torch.no_grad():
                model(input_ids=ids, attention_mask=torch.ones_like(ids))

        def eager(ids=ids) -> None:
            with torch.no_grad():
                model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True)

        amap = attention(text, loaded)  # warm-up, and what the checks read
        plain()
        seconds: dict[str, list[float]] = {"attention_s": [], "plain_s": [], "eager_s": []}
        for r in range(size["attention_rounds"]):
            sides = [("attention_s", lambda t=text: attention(t, loaded)), ("plain_s", plain)]
            for name, fn in sides if r % 2 == 0 else sides[::-1]:
                seconds[name].append(bench.clock(fn))
        if own != "eager":
            model.set_attn_implementation("eager")
        try:
            eager()
            seconds["eager_s"] = [bench.clock(eager) for _ in range(size["attention_rounds"])]
        finally:
            if own != "eager":
                model.set_attn_implementation(own)
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        sums = amap.weights.sum(axis=-1)
        bench.check(f"attention rows sum to 1 ({tokens} tokens)", bool(np.allclose(sums, 1.0, atol=2e-2)),
                    {"min": float(sums.min()), "max": float(sums.max())})
        rows.append({"tokens": amap.num_tokens, **seconds, **{f"{k}_median": v for k, v in medians.items()},
                     "attention_over_plain": round(medians["attention_s"] / medians["plain_s"], 2),
                     "attention_over_eager": round(medians["attention_s"] / medians["eager_s"], 2),
                     "implementation": amap.implementation, "notes": amap.notes})
    bench.check("attention() restores the model's attention implementation", model.config._attn_implementation == own,
                {"before": own, "after": model.config._attn_implementation})
    return {"model": settings.generator, "device": str(model.device), "own_attention": own, "rows": rows}


# --------------------------------------------------------------------------- main


ENTRIES = {"generation": generation, "embedding": embedding, "lora": lora_overhead, "inspectors": inspectors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a rehearsal on the CPU")
    parser.add_argument("--only", nargs="+", choices=list(ENTRIES), help="run these entries only")
    args = parser.parse_args(argv)

    from nbrag.models import resolve_device

    device = resolve_device()
    bench = Bench(device)
    size = SIZES["quick" if args.quick else "full"]
    if args.quick:
        import torch

        torch.set_num_threads(1)  # on shared cores, two threads stall while another process holds one
    result: dict[str, Any] = {"environment": environment(device), "size": "quick" if args.quick else "full",
                              "entries": {}, "errors": {}, "seconds": {}}
    for name, entry in ENTRIES.items():
        if args.only and name not in args.only:
            continue
        print(f"gpu_bench: {name} ...", flush=True)
        t = time.perf_counter()
        try:
            result["entries"][name] = entry(bench, size)
        except Exception:  # recorded, and the next entry still runs
            result["errors"][name] = traceback.format_exc()
            print(result["errors"][name], file=sys.stderr, flush=True)
        except KeyboardInterrupt:  # the time box of gpu_check.sh: keep what was measured
            result["errors"][name] = "interrupted (SIGINT): out of time"
            print(f"gpu_bench: {name} interrupted; the entries after it are not run", flush=True)
            break
        finally:
            result["seconds"][name] = round(time.perf_counter() - t, 1)
        print(f"gpu_bench: {name} done in {result['seconds'][name]} s", flush=True)
    result["checks"] = bench.checks
    failed = [c["name"] for c in bench.checks if not c["ok"]]
    result["ok"] = not failed and not result["errors"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    for c in bench.checks:
        print(f"gpu_bench: check {'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}")
    print(f"gpu_bench: {'ok' if result['ok'] else 'FAILED'}; errors in {sorted(result['errors']) or 'none'}; "
          f"results in {args.out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
