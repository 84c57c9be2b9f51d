"""RAG benchmarks for bench/run.py: answers without retrieval, with RAG and with the agent; the support threshold.

- ``quality`` (entry ``rag-quality``): on the HotpotQA and MuSiQue sets in ``../shared/data`` (the
  BEIR corpus indexed one passage per chunk, and the questions of ``*_200.jsonl`` with their gold
  answers), the first N questions (``--rag-questions``, default 20) are answered three ways with the
  same generator (the offline SmolLM2-135M by default): the generator alone (no retrieval),
  ``nbrag.ask`` (hybrid search, k=4) and ``nbrag.agent`` (k=4, max_steps=16). Exact match, token F1, whether the
  answer contains the gold answer, recall of the supporting passages among everything retrieved,
  seconds and tokens per question (``nbrag.eval.answers``);
- ``calibrate`` (entry ``rag-calibrate``): the support check's default threshold. For each HotpotQA
  question an answer-like sentence (the question followed by its gold answer) is scored, as the
  support check scores a sentence, against each of the question's supporting passages and each
  of its non-supporting passages (same topic: hard negatives); thresholds 0.30-0.80 in steps of
  0.05 with the share of supporting pairs kept, of non-supporting pairs let through, and the
  balanced accuracy.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

SETS = ("hotpotqa", "musique")
NAMES = {"hotpotqa": "HotpotQA", "musique": "MuSiQue"}
METHODS = ("none", "rag", "agent")
DEFAULT_QUESTIONS = 20
AGENT_MAX_STEPS = 16  # a two-hop plan with a rewrite per hop takes 14 steps; the default 10 stops before the check


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def calibrate(shared: Path, questions: int | None = None) -> dict:
    """Scores of answer-like sentences against supporting and non-supporting passages, and the best threshold."""
    from nbrag.rag.support import source_similarity

    started = time.perf_counter()
    positive, negative = [], []
    with (shared / "hotpotqa" / "hotpotqa_200.jsonl").open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if questions is not None and number >= questions:
                break
            row = json.loads(line)
            claim = f"{row['question']} {row['answer']}"
            supporting = {title for title, _ in row["supporting_facts"]}
            titles = [title for title, _ in row["context"]]
            passages = [f"{title}\n{''.join(sentences)}" for title, sentences in row["context"]]
            scores = source_similarity([claim], passages)[0]
            for title, score in zip(titles, scores):
                (positive if title in supporting else negative).append(float(score))
    rows = []
    for step in range(11):
        threshold = round(0.30 + 0.05 * step, 2)
        kept = sum(s >= threshold for s in positive) / len(positive)
        let = sum(s >= threshold for s in negative) / len(negative)
        rows.append({"threshold": threshold, "supporting_kept": kept, "non_supporting_passed": let,
                     "balanced_accuracy": (kept + 1 - let) / 2})
    best = max(rows, key=lambda r: r["balanced_accuracy"])
    return {"questions": questions or 200, "pairs": {"supporting": len(positive), "non_supporting": len(negative)},
            "median": {"supporting": statistics.median(positive), "non_supporting": statistics.median(negative)},
            "rows": rows, "best": best, "seconds": time.perf_counter() - started}


def quality(shared: Path, questions: int = DEFAULT_QUESTIONS, methods: tuple[str, ...] = METHODS, k: int = 4) -> dict:
    """EM, F1, contains, supporting recall, seconds and tokens per question of each method on each set."""
    import torch

    from nbrag.config import settings
    from nbrag.eval import load_beir, load_qa, qa

    out: dict = {"questions": questions, "k": k, "agent_max_steps": AGENT_MAX_STEPS, "generator": settings.generator,
                 "torch_threads": torch.get_num_threads(),
                 "load_average": {"start": _load_average()}, "sets": {}}
    for name in SETS:
        folder = shared / name
        items = load_qa(folder, limit=questions)
        index = load_beir(folder).index()
        per_method = {}
        for method in methods:
            options = {"max_steps": AGENT_MAX_STEPS} if method == "agent" else {}
            scores = qa(items, index, method=method, k=k, progress=False, **options)
            per_method[method] = {"means": scores.means, "rows": scores.rows}
            means = scores.means
            print(f"  {NAMES[name]:<9} {method:<6} EM {means.get('em', 0):.3f}  F1 {means.get('f1', 0):.3f}  "
                  f"contains {means.get('contains', 0):.3f}  recall {means.get('recall', float('nan')):.3f}  "
                  f"{means.get('seconds', 0):.1f} s/q  {means.get('tokens', 0):.0f} tokens/q", flush=True)
        out["sets"][name] = per_method
    out["load_average"]["end"] = _load_average()
    return out


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: (label, nbrag, peer, peer name, note); RAG and the agent against no retrieval."""
    rows = []
    q = results.get("rag_quality")
    if q:
        for name, methods in q["sets"].items():
            base = methods.get("none")
            for method in ("rag", "agent"):
                if method in methods and base:
                    ours, theirs = methods[method]["means"], base["means"]
                    rows.append((f"{NAMES[name]} {method} F1", ours.get("f1", 0.0), theirs.get("f1", 0.0) or None,
                                 "no retr.", f"{q['questions']} questions, {q['generator']}, k={q['k']}"))
    return rows


def report(results: dict) -> None:
    q = results.get("rag_quality")
    if q:
        print(f"\nQA on the first {q['questions']} questions of each set, {q['generator']}, k={q['k']} "
              f"(agent max_steps {q.get('agent_max_steps', 10)}), "
              f"torch threads {q['torch_threads']}; load average (1 min) {q['load_average']['start'][0]:.2f} at the "
              f"start, {q['load_average']['end'][0]:.2f} at the end, on {os.cpu_count()} cores:")
        print(f"  {'set':<10}{'method':<8}{'EM':>7}{'F1':>7}{'contains':>10}{'recall':>8}{'s/question':>12}"
              f"{'tokens/q':>10}")
        for name, methods in q["sets"].items():
            for method, row in methods.items():
                m = row["means"]
                recall = f"{m['recall']:.3f}" if "recall" in m else "-"
                print(f"  {NAMES[name]:<10}{method:<8}{m.get('em', 0):>7.3f}{m.get('f1', 0):>7.3f}"
                      f"{m.get('contains', 0):>10.3f}{recall:>8}{m.get('seconds', 0):>12.1f}"
                      f"{m.get('tokens', 0):>10.0f}")
    c = results.get("rag_calibrate")
    if c:
        print(f"\nsupport threshold on {c['questions']} HotpotQA questions ({c['pairs']['supporting']} supporting, "
              f"{c['pairs']['non_supporting']} non-supporting passage pairs; median similarity "
              f"{c['median']['supporting']:.3f} against {c['median']['non_supporting']:.3f}):")
        print(f"  {'threshold':>9}{'supporting kept':>17}{'non-supp. passed':>18}{'balanced acc.':>15}")
        for row in c["rows"]:
            mark = "  <- best" if row is c["best"] or row == c["best"] else ""
            print(f"  {row['threshold']:>9.2f}{row['supporting_kept']:>17.3f}{row['non_supporting_passed']:>18.3f}"
                  f"{row['balanced_accuracy']:>15.3f}{mark}")
