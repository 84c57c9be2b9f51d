"""Community reports: what a community is about, in a form search can rank and people can read.

The extractive report (offline, the default) holds the community's most connected
entities, its strongest relations with the sentence that states each, the sentences that
name most of its entities, and the chunks that mention it most. Its ``summary`` joins
these into plain text, which global search ranks against the query. With a generator
(``KnowledgeGraph(reports="llm")``, any :class:`nbrag.llm.Generator`), the model writes the
``summary`` from that same material, and the extractive parts stay beside it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import networkx as nx

from nbrag.graphrag.communities import Community
from nbrag.llm import Generator

TOP_ENTITIES = 10
TOP_RELATIONS = 6
TOP_SENTENCES = 4
TOP_CHUNKS = 10
MAX_NEW_TOKENS = 160  # a written summary's length at most, in the model's tokens


def extractive(graph: nx.Graph, community: Community) -> dict[str, Any]:
    """The offline report of ``community`` (see the module docstring)."""
    members = set(community.members)
    sub = graph.subgraph(members)
    degree = dict(sub.degree(weight="weight"))
    ranked = sorted(members, key=lambda n: (-degree.get(n, 0.0), -len(graph.nodes[n]["chunks"]), n))
    entities = [{"key": n, "name": graph.nodes[n]["name"], "type": graph.nodes[n]["type"],
                 "degree": round(degree.get(n, 0.0), 3), "chunks": len(graph.nodes[n]["chunks"])}
                for n in ranked[:TOP_ENTITIES]]
    edges = sorted(sub.edges(data=True), key=lambda e: (-e[2]["weight"], e[0], e[1]))
    relations = [{"source": graph.nodes[a]["name"], "target": graph.nodes[b]["name"],
                  "weight": round(d["weight"], 3), "evidence": d["evidence"][0][1] if d["evidence"] else ""}
                 for a, b, d in edges[:TOP_RELATIONS]]
    sentences: Counter[str] = Counter()
    for _, _, d in sub.edges(data=True):
        for _, text in d["evidence"]:
            if len(text.split()) >= 4:  # a sentence, not a stray heading or initial
                sentences[text] += d["weight"]
    chunk_share: Counter[str] = Counter()
    for n in members:
        for chunk_id, count in graph.nodes[n]["chunks"].items():
            chunk_share[chunk_id] += count
    names = [e["name"] for e in entities]
    title = ", ".join(names[:3]) + (f" and {len(members) - 3} more" if len(members) > 3 else "")
    best = [text for text, _ in sorted(sentences.items(), key=lambda p: (-p[1], p[0]))[:TOP_SENTENCES]]
    lines = [f"{title}.", f"Entities: {', '.join(names)}."]
    said: set[str] = set()
    for r in relations:  # each sentence once, with the first relation it states
        if r["evidence"] and r["evidence"] not in said:
            said.add(r["evidence"])
            lines.append(f"{r['source']} — {r['target']}: {r['evidence']}")
    lines += [sentence for sentence in best if sentence not in said]
    summary = "\n".join(lines)
    return {"title": title, "size": len(members), "level": community.level, "entities": entities,
            "relations": relations, "sentences": best,
            "chunks": [c for c, _ in sorted(chunk_share.items(), key=lambda p: (-p[1], p[0]))[:TOP_CHUNKS]],
            "summary": summary, "written_by": "extractive"}


REPORT_PROMPT = """You summarise one community of a knowledge graph built from documents.
Write three to five plain sentences saying what connects these entities, using only the material below.

{material}

Summary:"""


def written(report: dict[str, Any], generator: Generator, max_new_tokens: int = MAX_NEW_TOKENS) -> dict[str, Any]:
    """``report`` with a ``summary`` that ``generator`` wrote from its extractive material."""
    prompt = REPORT_PROMPT.format(material=report["summary"])
    reply = generator.complete([{"role": "user", "content": prompt}], max_new_tokens=max_new_tokens).strip()
    if len(reply.split()) < 4:  # an empty or one-word reply is no summary: keep the extractive one, say why
        return {**report, "written_by": "extractive", "llm_reply": reply}
    return {**report, "extractive_summary": report["summary"], "summary": reply, "written_by": "llm"}
