"""Retrieval quality on a BEIR-layout set: nDCG, recall and reciprocal rank of each search mode.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels.tsv`` or ``qrels/test.tsv`` (tab-separated, header
``query-id corpus-id score``). Each passage becomes one document of an in-memory
:class:`~nbrag.Index`, its text ``title + "\\n" + text`` and its id the passage's ``_id``, so
a hit's ``document`` is the id the judgements name. Only queries with at least one
relevant passage (score above 0) are run, in the order of ``queries.jsonl``, as BEIR does.

Every mode searches each query for ``max(100, k)`` hits; a document counts once, at its
best hit's rank (an index whose passages were split into several chunks scores the same
way). The metrics come from ir-measures (pytrec_eval): nDCG@k, R@k, R@100 and RR
(reciprocal rank of the first relevant passage, over all the hits). Runs are given to
ir-measures by rank, never by score, so fused scores that tie cannot reorder them. A
query that finds nothing scores 0 and still counts in the means.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbrag.config import settings
from nbrag.display import Shown, show
from nbrag.errors import NbragError, NbragTypeError, whole_number

DEPTH = 100
PRESETS: dict[str, dict[str, Any]] = {
    "bm25": {"mode": "bm25"},
    "dense": {"mode": "dense"},
    "hybrid": {"mode": "hybrid"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-minmax": {"mode": "hybrid", "fusion": "minmax"},
    "hybrid-zscore": {"mode": "hybrid", "fusion": "zscore"},
    "hyde": {"mode": "dense", "hyde": True},
    "rerank": {"mode": "hybrid", "rerank": True},
    "graph-local": {"mode": "graph", "graph": "local"},
    "graph-ppr": {"mode": "graph", "graph": "ppr"},
    "graph-global": {"mode": "graph", "graph": "global"},
    "hybrid+graph": {"mode": "hybrid+graph"},
}


# --------------------------------------------------------------------------- the data


@dataclass
class BeirSet:
    """A BEIR-layout set: passages by id, the judged queries in file order, and their judgements."""

    name: str
    corpus: dict[str, str]  # passage id -> title + "\n" + text
    queries: dict[str, str]  # query id -> text; only queries with a relevant passage
    qrels: dict[str, dict[str, int]]  # query id -> passage id -> relevance
    unjudged: int = 0  # queries in queries.jsonl without a relevant passage (not run)

    def __repr__(self) -> str:
        return f"BeirSet({self.name!r}: {len(self.corpus)} passages, {len(self.queries)} judged queries)"

    def index(self, *, progress: bool = False):
        """An in-memory Index with one chunk per passage (built once per corpus and embedder in a session)."""
        from nbrag.retrieval import Index

        digest = hashlib.sha1(settings.embedder.encode("utf-8"))
        for doc_id, text in self.corpus.items():
            digest.update(f"{doc_id}\x1f{text}\x1e".encode())
        slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", self.name).strip("._-")[:40] or "set"
        index = Index(f"beir-{slug}-{digest.hexdigest()[:12]}", memory=True)
        have = set(index.documents)
        missing = {doc_id: text for doc_id, text in self.corpus.items() if doc_id not in have}
        if missing:  # one fixed window of characters as long as the longest passage: a passage is one chunk
            size = max(len(text) for text in missing.values())
            index.add(missing, chunker="fixed", unit="char", size=size, overlap=0, progress=progress)
        return index


def _jsonl(path: Path, required: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise NbragError(f"{path} line {number} is not JSON ({error.msg}); each line of {path.name} is "
                                 f"one JSON object with {what}.") from None
            if not isinstance(row, dict):
                raise NbragError(f"{path} line {number} is a JSON {type(row).__name__}, not an object with {what}.")
            absent = [key for key in required if key not in row]
            if absent:
                raise NbragError(f"{path} line {number} has no {', '.join(repr(k) for k in absent)} field; each "
                                 f"line of {path.name} needs {what}.")
            rows.append(row)
    return rows


def _qrels(folder: Path) -> tuple[Path, dict[str, dict[str, int]]]:
    for path in (folder / "qrels.tsv", folder / "qrels" / "test.tsv"):
        if path.exists():
            break
    else:
        raise NbragError(f"{folder} has no judgements: neither {folder / 'qrels.tsv'} nor "
                         f"{folder / 'qrels' / 'test.tsv'} exists (tab-separated, header query-id corpus-id score).")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = [column.strip() for column in next(reader, [])]
        absent = [c for c in ("query-id", "corpus-id", "score") if c not in header]
        if absent:
            raise NbragError(f"{path} lacks the column{'s' * (len(absent) > 1)} {', '.join(absent)}: its first line "
                             f"is {header!r}; BEIR qrels start with the tab-separated header query-id corpus-id score.")
        q, d, s = (header.index(c) for c in ("query-id", "corpus-id", "score"))
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                score = int(float(row[s]))
                qrels.setdefault(row[q], {})[row[d]] = score
            except (IndexError, ValueError):
                raise NbragError(f"{path} line {number} is {row!r}: it needs a query id, a corpus id and a whole "
                                 "number score, separated by tabs.") from None
    return path, qrels


def load_beir(path: str | Path, name: str | None = None) -> BeirSet:
    """Read a BEIR-layout folder; errors name the missing file, field or column."""
    folder = Path(path)
    if not folder.is_dir():
        raise NbragError("not a folder: give the folder that holds corpus.jsonl, queries.jsonl and qrels.tsv (or "
                         "qrels/test.tsv).", option="path", value=str(path))
    for file in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / file).exists():
            raise NbragError(f"{folder / file} does not exist; a BEIR folder holds corpus.jsonl, queries.jsonl and "
                             "qrels.tsv (or qrels/test.tsv).")
    corpus = {}
    for row in _jsonl(folder / "corpus.jsonl", ("_id", "text"), "_id, title and text"):
        title, text = str(row.get("title") or "").strip(), str(row["text"] or "")
        passage = f"{title}\n{text}" if title else text
        if passage.strip():  # an empty passage can never be found
            corpus[str(row["_id"])] = passage
    if not corpus:
        raise NbragError(f"{folder / 'corpus.jsonl'} holds no passage with text.")
    queries = {str(row["_id"]): str(row["text"])
               for row in _jsonl(folder / "queries.jsonl", ("_id", "text"), "_id and text")}
    qrels_path, qrels = _qrels(folder)
    relevant = {qid for qid, judged in qrels.items() if any(score > 0 for score in judged.values())}
    judged = {qid: text for qid, text in queries.items() if qid in relevant}
    if not judged:
        raise NbragError(f"No query of {folder / 'queries.jsonl'} has a relevant passage in {qrels_path}: are the "
                         "files from the same set?")
    return BeirSet(name=name or folder.name, corpus=corpus, queries=judged,
                   qrels={qid: qrels[qid] for qid in judged}, unjudged=len(queries) - len(judged))


# --------------------------------------------------------------------------- the result


@dataclass
class BeirEval(Shown):
    """Each mode's metrics (means over queries) and every query's; shown as a table.

    ``rows`` (``table()``): ``mode``, ``nDCG@10``, ``R@10``, ``R@100``, ``RR``, ``queries`` and
    ``seconds_per_query``. ``per_query[mode][query id]`` holds that query's metrics, its
    ``seconds`` and the ids of the passages it ``retrieved`` (top k, best first), and the
    hypothetical answer it searched with under HyDE (``hyde``). ``plot()`` draws the metrics.
    """

    name: str
    k: int
    rows: list[dict[str, Any]]
    per_query: dict[str, dict[str, dict[str, Any]]] = field(repr=False, default_factory=dict)
    modes: dict[str, dict[str, Any]] = field(repr=False, default_factory=dict)
    metrics: list[str] = field(repr=False, default_factory=list)
    data: BeirSet | None = field(repr=False, default=None)
    index: Any = field(repr=False, default=None, compare=False)

    def __repr__(self) -> str:
        first = self.metrics[0] if self.metrics else ""
        scores = ", ".join(f"{row['mode']} {row[first]:.3f}" for row in self.rows)
        queries = self.rows[0]["queries"] if self.rows else 0
        return f"BeirEval({self.name!r}, {queries} queries, {first}: {scores})"

    def table(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows]

    def scores(self, mode: str, metric: str | None = None) -> dict[str, float]:
        """One metric (default nDCG@k) of every query under ``mode``: query id -> value."""
        if mode not in self.per_query:
            raise NbragError(f"not scored in this evaluation: choose one of {', '.join(self.per_query)}.",
                             option="mode", value=mode)
        metric = metric or self.metrics[0]
        if metric not in self.metrics:
            raise NbragError(f"not measured: choose one of {', '.join(self.metrics)}.", option="metric", value=metric)
        return {qid: record[metric] for qid, record in self.per_query[mode].items()}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k, "metrics": list(self.metrics), "modes": self.modes,
                "rows": self.table(), "per_query": self.per_query}

    def plot(self) -> Any:
        """The metrics of each mode as grouped bars (a plotly figure)."""
        return show(self, "plot")


# --------------------------------------------------------------------------- the evaluation


def _search_options() -> set[str]:
    from nbrag.retrieval import Index

    return set(inspect.signature(Index.search).parameters) - {"self", "query", "k"}


def _modes(modes: Any, common: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``label -> search options`` from names, ``(label, options)`` pairs or a dict."""
    from nbrag.retrieval import FUSIONS, MODES

    if isinstance(modes, str) or (isinstance(modes, tuple) and len(modes) == 2 and isinstance(modes[1], Mapping)):
        modes = [modes]
    if isinstance(modes, Mapping):
        pairs = [(str(label), options) for label, options in modes.items()]
    else:
        pairs = []
        for entry in modes:
            if isinstance(entry, str):
                if entry not in PRESETS:
                    raise NbragError(f"{entry!r} is not a mode: name one of {', '.join(PRESETS)}, or give a pair "
                                     "(label, search options), e.g. ('mine', {'mode': 'hybrid', 'rrf_k': 10}).",
                                     option="modes", value=modes)
                pairs.append((entry, PRESETS[entry]))
            elif isinstance(entry, Sequence) and len(entry) == 2 and isinstance(entry[1], Mapping):
                pairs.append((str(entry[0]), entry[1]))
            else:
                raise NbragTypeError(f"{entry!r} is neither a mode's name ({', '.join(PRESETS)}) nor a pair "
                                     "(label, search options).", option="modes", value=modes)
    allowed = _search_options()
    out: dict[str, dict[str, Any]] = {}
    for label, options in pairs:
        if not isinstance(options, Mapping):
            raise NbragTypeError(f"the search options of {label!r} are a {type(options).__name__}: give a dict.",
                                 option="modes", value=modes)
        if label in out:
            raise NbragError(f"two modes are labelled {label!r}: give each its own label.", option="modes", value=modes)
        chosen = {**common, **options}
        unknown = sorted(set(chosen) - allowed)
        if unknown:
            raise NbragError(f"mode {label!r}: Index.search has no option {', '.join(unknown)}. It takes "
                             f"{', '.join(sorted(allowed))} (k comes from beir's own k).", option="modes", value=modes)
        chosen.setdefault("mode", label if label in MODES else "hybrid")
        if chosen["mode"] not in MODES:
            raise NbragError(f"mode {label!r}: {chosen['mode']!r} is not a search mode: choose one of "
                             f"{', '.join(MODES)}.", option="modes", value=modes)
        if chosen.get("fusion", "rrf") not in FUSIONS:
            raise NbragError(f"mode {label!r}: {chosen['fusion']!r} is not a fusion: choose one of "
                             f"{', '.join(FUSIONS)}.", option="modes", value=modes)
        out[label] = chosen
    if not out:
        raise NbragError("no mode to evaluate: name some, e.g. modes=('bm25', 'dense', 'hybrid').", option="modes",
                         value=modes)
    return out


def _ranking(index: Any, query: str, depth: int, k: int, options: dict[str, Any]) -> tuple[list[str], str | None]:
    """The documents one query finds, best first, each once at its best hit's rank."""
    rerank = options.get("rerank", False)
    result = index.search(query, depth, **{**options, "rerank": False})
    hits = list(result.hits)
    if rerank:  # rerank the top max(20, k), as search(k=k, rerank=...) does; the rest keep their fused order
        top = result.fuse(k=max(20, k), rerank=rerank).hits
        pool = {hit.id for hit in top}
        hits = top + [hit for hit in hits if hit.id not in pool]
    return list(dict.fromkeys(hit.document for hit in hits)), result.hyde


def beir(path: str | Path | BeirSet, modes: Any = ("bm25", "dense", "hybrid"), k: int = 10, *,
         queries: int | None = None, index: Any = None, progress: bool = True, **search_options: Any) -> BeirEval:
    """Score search modes on a BEIR-layout folder (or a :class:`BeirSet` from :func:`load_beir`).

    ``modes`` are names (``bm25``, ``dense``, ``hybrid``, ``hybrid-rrf``, ``hybrid-minmax``,
    ``hybrid-zscore``, ``hyde``, ``rerank``, ``graph-local``, ``graph-ppr``, ``graph-global``,
    ``hybrid+graph``), ``(label, options)`` pairs, or a dict
    ``label -> options`` of :meth:`Index.search` options, e.g.
    ``{"hybrid 0.3/0.7": {"mode": "hybrid", "weights": {"bm25": 0.3, "dense": 0.7}}}``;
    ``search_options`` apply to every mode (``generator=``, anything :func:`nbrag.llm.resolve`
    takes, writes HyDE's answers and judges for ``rerank``). ``queries=N`` runs the first N judged queries.
    ``index`` reuses an Index that already holds every passage (``BeirSet.index()``, or a
    previous result's ``.index``), so that nothing is embedded again; by default the
    passages are indexed in memory, once per corpus in a session. Graph modes build the
    index's knowledge graph first when it has none (offline extractor; ``index.build_graph()``
    beforehand picks another).
    """
    import ir_measures
    from ir_measures import RR, R, nDCG
    from tqdm.auto import tqdm

    whole_number(k, "k")
    if queries is not None and (isinstance(queries, bool) or not isinstance(queries, int) or queries < 1):
        raise NbragError("give how many queries to run (a whole number of at least 1), or None for all.",
                         option="queries", value=queries)
    generator = search_options.pop("generator", None)  # kept out of the modes (to_dict() is JSON)
    chosen = _modes(modes, search_options)
    if any(o.get("hyde") or o.get("rerank") is True for o in chosen.values()):
        from nbrag.llm import resolve

        generator = resolve(generator)  # loaded once, before any work
    data = path if isinstance(path, BeirSet) else load_beir(path)
    if index is None:
        index = data.index(progress=progress)
    else:
        held = set(index.documents)
        missing = [doc_id for doc_id in data.corpus if doc_id not in held]
        if missing:
            raise NbragError(f"lacks {len(missing)} of the {len(data.corpus)} passages of {data.name} (e.g. "
                             f"{missing[0]!r}): pass index=None to index them, or use load_beir(path).index().",
                             option="index", value=index)
    if any("graph" in options["mode"] for options in chosen.values()) and index.graph is None:
        index.build_graph(progress=progress)
    depth = max(DEPTH, k)
    measures = [nDCG @ k, R @ k, R @ depth, RR]
    if depth == k:
        measures = [nDCG @ k, R @ k, RR]
    names = [str(m) for m in measures]
    run_ids = list(data.queries)[:queries]
    qrels = [ir_measures.Qrel(qid, doc_id, score) for qid in run_ids for doc_id, score in data.qrels[qid].items()]

    rows, per_query = [], {}
    for label, options in chosen.items():
        records: dict[str, dict[str, Any]] = {}
        run = []
        for qid in tqdm(run_ids, desc=label, unit="query", disable=not progress):
            started = time.perf_counter()
            ranked, hypothetical = _ranking(index, data.queries[qid], depth, k,
                                            {"generator": generator, **options})
            seconds = time.perf_counter() - started
            # scored by rank, so that the order is ours even where fused scores tie
            run += [ir_measures.ScoredDoc(qid, doc_id, float(len(ranked) - rank))
                    for rank, doc_id in enumerate(ranked)]
            records[qid] = {**dict.fromkeys(names, 0.0), "seconds": seconds, "retrieved": ranked[:k]}
            if hypothetical is not None:
                records[qid]["hyde"] = hypothetical
        for metric in ir_measures.iter_calc(measures, qrels, run) if run else ():
            records[metric.query_id][str(metric.measure)] = float(metric.value)
        per_query[label] = records
        rows.append({"mode": label, **{m: round(statistics.fmean(r[m] for r in records.values()), 4) for m in names},
                     "queries": len(records),
                     "seconds_per_query": round(statistics.fmean(r["seconds"] for r in records.values()), 4)})
    return BeirEval(name=data.name, k=k, rows=rows, per_query=per_query, modes=chosen, metrics=names, data=data,
                    index=index)
