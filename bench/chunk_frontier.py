"""The chunking frontier: recall@5 against IoU@5 of chunkers with and without ``context=``.

Small chunks score a high IoU (little text beside the answer) but a lower recall, because the
embedding of a small chunk knows only its own words. On the same sets, in the same run:

- anchors: LangChain's RecursiveCharacterTextSplitter at 200, 400 and 800 characters (overlap 0,
  spans from its ``start_index``, checked, as in run.py's quality entry) and chonkie's
  RecursiveChunker at 64, 128 and 256 MiniLM tokens (spans from its ``start_index``, checked the same way);
- nbrag's recursive chunker at 32, 64 and 128 tokens, each without context and with
  ``context="title"``; recursive 32 with ``"title+sentences:1"``; fixed 32 (overlap 0) with ``"title"``.

Every configuration is scored by ``nbrag.eval.chunking`` (MiniLM, top 5, character-level recall and
IoU as in Chroma's chunking research) on two sets: the first ``questions`` HotpotQA questions
(../shared/data/hotpotqa/hotpotqa_200.jsonl, one document of ten titled paragraphs per question) and
the 32 English questions of bench/data/chunk_frontier_questions.csv over the shipped sample
documents (nbrag/data/samples/corpus), whose answers are exact sentence spans.

The anchors' frontier is the anchors that no other anchor beats on both recall and IoU. The goal:
an nbrag configuration whose recall is at least 0.05 above that of every anchor whose IoU is as
high or higher, on each set; a configuration whose IoU is above every anchor's has nothing to be
compared with and does not count. The plot (docs/images/chunk-frontier.png) shows every
configuration. The two sides of each set run in two processes at once (spawned, two at a time):
only quality is measured here, nothing is timed against a peer.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOTPOTQA = ROOT.parent / "shared" / "data" / "hotpotqa" / "hotpotqa_200.jsonl"
SAMPLES_CSV = ROOT / "bench" / "data" / "chunk_frontier_questions.csv"
SAMPLES_CORPUS = ROOT / "nbrag" / "data" / "samples" / "corpus"
PLOT = ROOT / "docs" / "images" / "chunk-frontier.png"
K = 5
GOAL = 0.05  # recall above every anchor whose IoU is as high or higher
QUESTIONS = 50  # HotpotQA questions, the first N
LANGCHAIN_CHARS = (200, 400, 800)
CHONKIE_TOKENS = (64, 128, 256)
NBRAG: dict[str, dict[str, Any]] = {
    **{f"nbrag recursive {s}": {"method": "recursive", "size": s} for s in (32, 64, 128)},
    **{f"nbrag recursive {s} +title": {"method": "recursive", "size": s, "context": "title"} for s in (32, 64, 128)},
    "nbrag recursive 32 +title+sentences:1": {"method": "recursive", "size": 32, "context": "title+sentences:1"},
    "nbrag fixed 32 +title": {"method": "fixed", "size": 32, "overlap": 0, "context": "title"},
}


def anchors(stats: dict[str, dict[str, int]]) -> dict[str, Callable[[str], list[tuple[int, int]]]]:
    """The peers' chunkers as text -> spans; ``stats`` counts, per peer, chunks whose reported start was not
    their slice and chunks not found in the text at all (left out: they cannot be scored)."""
    import chonkie
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from nbrag.models import load_tokenizer

    def spans_of(label: str, pieces: list[tuple[int, str]], text: str) -> list[tuple[int, int]]:
        counts = stats.setdefault(label, {"chunks": 0, "start_mismatches": 0, "not_found": 0})
        spans, cursor = [], 0
        for start, piece in pieces:
            counts["chunks"] += 1
            if start < 0 or text[start:start + len(piece)] != piece:
                counts["start_mismatches"] += 1
                start = text.find(piece, cursor)
                if start < 0:
                    counts["not_found"] += 1
                    continue
            spans.append((start, start + len(piece)))
            cursor = start + len(piece)
        return spans

    made: dict[str, Callable[[str], list[tuple[int, int]]]] = {}
    for chars in LANGCHAIN_CHARS:
        splitter = RecursiveCharacterTextSplitter(chunk_size=chars, chunk_overlap=0, add_start_index=True)
        label = f"langchain recursive {chars} chars"
        made[label] = (lambda s, lb: lambda text: spans_of(
            lb, [(d.metadata["start_index"], d.page_content) for d in s.create_documents([text])], text))(
                splitter, label)
    tok = load_tokenizer()
    for tokens in CHONKIE_TOKENS:
        label = f"chonkie recursive {tokens}"
        made[label] = (lambda c, lb: lambda text: spans_of(lb, [(x.start_index, x.text) for x in c(text)], text))(
            chonkie.RecursiveChunker(tokenizer=tok, chunk_size=tokens), label)
    return made


def frontier(points: dict[str, tuple[float, float]]) -> list[str]:
    """The labels of ``points`` ((recall, IoU) by label) that no other point beats on both, by IoU."""
    best = [label for label, (r, i) in points.items()
            if not any((r2 >= r and i2 >= i) and (r2, i2) != (r, i) for r2, i2 in points.values())]
    return sorted(best, key=lambda label: points[label][1])


def goal(rows: dict[str, dict[str, float]], anchor_labels: list[str]) -> dict[str, Any]:
    """For each nbrag configuration, its least margin of recall over the anchors whose IoU is as high or higher
    (None where no anchor's IoU is that high); met where a margin is at least GOAL.

    A configuration whose IoU is above every anchor's is not counted; ``beyond`` gives its recall less that of
    the anchor with the highest IoU, for the record."""
    margins, beyond = {}, {}
    precise = max(anchor_labels, key=lambda a: rows[a]["iou"])
    for label, row in rows.items():
        if label in anchor_labels:
            continue
        above = [rows[a]["recall"] for a in anchor_labels if rows[a]["iou"] >= row["iou"]]
        margins[label] = round(row["recall"] - max(above), 4) if above else None
        if not above:
            beyond[label] = round(row["recall"] - rows[precise]["recall"], 4)
    scored = {k: v for k, v in margins.items() if v is not None}
    best = max(scored, key=lambda k: scored[k]) if scored else None
    return {"margins": margins, "best": best, "met": bool(best is not None and scored[best] >= GOAL),
            "beyond": beyond, "most_precise_anchor": precise}


def load(name: str, questions: int) -> Any:
    from nbrag.eval import load_chroma_csv, load_hotpotqa

    if name == "hotpotqa":
        return load_hotpotqa(HOTPOTQA, limit=questions)
    return load_chroma_csv(SAMPLES_CSV, SAMPLES_CORPUS)


def score(name: str, questions: int, side: str) -> dict[str, Any]:
    """One side ("anchors" or "nbrag") of one set: its rows, in a worker process."""
    from nbrag.eval import chunking

    data = load(name, questions)
    stats: dict[str, dict[str, int]] = {}
    configs: dict[str, Any] = anchors(stats) if side == "anchors" else dict(NBRAG)
    t = time.perf_counter()
    result = chunking(data, configs, k=K)
    rows = {row["chunker"]: {"recall": round(row["recall"], 4), "iou": round(row["iou"], 4),
                             "precision": round(row["precision"], 4), "chunks": row["chunks"],
                             "mean_tokens": row["mean_tokens"]} for row in result.table()}
    return {"rows": rows, "stats": stats, "seconds": round(time.perf_counter() - t, 1), "load": os.getloadavg(),
            "questions": len(data.questions), "documents": len(data.documents)}


def chunk_frontier(questions: int = QUESTIONS) -> dict[str, Any]:
    """Both sets, each side in its own process, two at a time (quality only: nothing here is timed against a
    peer), then the plot."""
    from concurrent.futures import ProcessPoolExecutor

    names = {"hotpotqa": f"HotpotQA, first {questions} questions", "samples": "nbrag's sample documents"}
    if not HOTPOTQA.exists():
        print(f"{HOTPOTQA} is not here: chunk-frontier scores the sample documents only")
        del names["hotpotqa"]
    jobs = [(name, side) for name in names for side in ("anchors", "nbrag")]
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = dict(zip(jobs, pool.map(score, *zip(*[(n, questions, side) for n, side in jobs]))))
    sets = {}
    for name, title in names.items():
        peers, ours = done[(name, "anchors")], done[(name, "nbrag")]
        rows = {**peers["rows"], **ours["rows"]}
        points = {label: (row["recall"], row["iou"]) for label, row in peers["rows"].items()}
        sets[name] = {"name": title, "questions": ours["questions"], "documents": ours["documents"],
                      "seconds": {"anchors": peers["seconds"], "nbrag": ours["seconds"]},
                      "load": ours["load"], "rows": rows, "anchors": list(peers["rows"]),
                      "anchor_frontier": frontier(points), "goal": goal(rows, list(peers["rows"])),
                      "peer_offsets": peers["stats"]}
    entry = {"k": K, "goal": GOAL, "sets": sets}
    plot(entry, PLOT)
    entry["plot"] = str(PLOT.relative_to(ROOT))
    return entry


def plot(entry: dict[str, Any], path: Path) -> None:
    """Recall@5 against IoU@5, one panel per set: every configuration a labelled point, the anchors' frontier
    as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = entry["sets"]
    fig, axes = plt.subplots(1, len(sets), figsize=(7.5 * len(sets), 6.5), squeeze=False)
    for ax, s in zip(axes[0], sets.values()):
        rows = s["rows"]
        for label, row in rows.items():
            peer = label in s["anchors"]
            context = "+" in label
            style = {"marker": "s" if peer else "o", "s": 36,
                     "color": "tab:grey" if peer else "tab:orange" if context else "tab:blue"}
            ax.scatter(row["iou"], row["recall"], zorder=3, **style)
            short = label.replace("langchain recursive ", "LC ").replace("chonkie recursive ", "chonkie ") \
                .replace("nbrag recursive ", "rec ").replace("nbrag fixed ", "fixed ").replace(" chars", "c")
            ax.annotate(short, (row["iou"], row["recall"]), textcoords="offset points", xytext=(4, 3), fontsize=7)
        line = s["anchor_frontier"]
        ax.plot([rows[a]["iou"] for a in line], [rows[a]["recall"] for a in line], color="tab:grey", lw=1,
                ls="--", zorder=2, label="anchors' frontier")
        ax.scatter([], [], marker="s", color="tab:grey", label="LangChain, chonkie")
        ax.scatter([], [], marker="o", color="tab:blue", label="nbrag, no context")
        ax.scatter([], [], marker="o", color="tab:orange", label="nbrag with context")
        verdict = "met" if s["goal"]["met"] else "not met"
        ax.set_title(f"{s['name']} ({s['questions']} questions): goal {verdict}", fontsize=10)
        ax.set_xlabel(f"IoU@{entry['k']}")
        ax.set_ylabel(f"recall@{entry['k']}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table_rows(results: dict) -> list[tuple]:
    """Rows for run.py's table: the best nbrag configuration against the best anchor at its IoU or above."""
    q = results.get("chunk_frontier")
    if not q:
        return []
    rows = []
    for key, s in q["sets"].items():
        best = s["goal"]["best"]
        if best is None:
            continue
        r = s["rows"]
        above = [a for a in s["anchors"] if r[a]["iou"] >= r[best]["iou"]]
        peer = max(above, key=lambda a: r[a]["recall"])
        verdict = "met" if s["goal"]["met"] else "MISSED"
        rows.append((f"frontier recall@5 {key}", r[best]["recall"], r[peer]["recall"], peer.split()[0],
                     f"{best} (IoU {r[best]['iou']:.3f}) vs {peer} (IoU {r[peer]['iou']:.3f}); "
                     f"goal +{q['goal']}: {verdict}"))
    return rows


def report(results: dict) -> None:
    """Every configuration of both sets, the anchors' frontier and the goal."""
    q = results.get("chunk_frontier")
    if not q:
        return
    print(f"\nchunking frontier: recall@{q['k']} against IoU@{q['k']} (nbrag.eval.chunking, MiniLM); goal: an nbrag "
          f"configuration with recall at least {q['goal']} above every anchor whose IoU is as high or higher")
    for s in q["sets"].values():
        load = ", ".join(f"{x:.2f}" for x in s["load"])
        print(f"  {s['name']}: {s['questions']} questions, {s['documents']} documents, anchors "
              f"{s['seconds']['anchors']} s, nbrag {s['seconds']['nbrag']} s, load average {load}")
        print(f"    {'configuration':<40}{'chunks':>7}{'tokens':>8}{'recall@5':>10}{'IoU@5':>8}{'margin':>9}")
        g = goal(s["rows"], s["anchors"])
        for label, row in sorted(s["rows"].items(), key=lambda item: item[1]["iou"]):
            margin = g["margins"].get(label)
            mark = "" if label not in s["anchors"] else " (frontier)" if label in s["anchor_frontier"] else " (anchor)"
            margin_s = "" if margin is None else f"{margin:+.4f}"
            beyond = f"  IoU above every anchor; recall {g['beyond'][label]:+.4f} vs the most precise" \
                if label in g["beyond"] else ""
            print(f"    {label + mark:<40}{row['chunks']:>7}{row['mean_tokens']:>8}{row['recall']:>10.4f}"
                  f"{row['iou']:>8.4f}{margin_s:>9}{beyond}")
        best = g["best"]
        verdict = "met" if g["met"] else "MISSED"
        print(f"    goal {verdict}: best margin {g['margins'].get(best)} by {best} (margin: recall less the best "
              f"recall of the anchors whose IoU is as high or higher); most precise anchor {g['most_precise_anchor']}")
        for peer, st in s["peer_offsets"].items():
            if st["start_mismatches"] or st["not_found"]:
                print(f"    {peer}: start not the chunk's slice {st['start_mismatches']}/{st['chunks']}, "
                      f"not found {st['not_found']}")
    print(f"  plot: {q['plot']}")


if __name__ == "__main__":
    # python bench/chunk_frontier.py [QUESTIONS]: the entry alone (run.py --only chunk-frontier also saves it);
    # python bench/chunk_frontier.py --from bench/results/STAMP.json: its report and plot again from a saved run.
    import json
    import sys

    if sys.argv[1:2] == ["--from"]:
        saved = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
        plot(saved["chunk_frontier"], PLOT)
        report(saved)
    else:
        report({"chunk_frontier": chunk_frontier(int(sys.argv[1]) if len(sys.argv) > 1 else QUESTIONS)})
