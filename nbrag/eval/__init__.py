"""Evaluation: measure a choice (chunking, retrieval, …) on questions with known answers."""

from nbrag.eval.beir import BeirEval, BeirSet, beir, load_beir
from nbrag.eval.chunking import ChunkingEval, EvalSet, Question, chunking, load_chroma_csv, load_hotpotqa

__all__ = ["BeirEval", "BeirSet", "ChunkingEval", "EvalSet", "Question", "beir", "chunking", "load_beir",
           "load_chroma_csv", "load_hotpotqa"]
