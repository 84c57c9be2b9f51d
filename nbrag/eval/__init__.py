"""Evaluation: measure a choice (chunking, retrieval, …) on questions with known answers."""

from nbrag.eval.chunking import ChunkingEval, EvalSet, Question, chunking, load_chroma_csv, load_hotpotqa

__all__ = ["ChunkingEval", "EvalSet", "Question", "chunking", "load_chroma_csv", "load_hotpotqa"]
