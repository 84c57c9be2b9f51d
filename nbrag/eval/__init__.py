"""Evaluation: measure a choice (chunking, retrieval, …) on questions with known answers."""

from nbrag.eval.answers import QAEval, evaluate_qa, exact_match, f1_score, load_qa, normalize_answer, supporting_recall
from nbrag.eval.chunk_quality import ChunkingEval, EvalSet, Question, chunking, load_chroma_csv, load_hotpotqa
from nbrag.eval.retrieval import BeirEval, BeirSet, beir, load_beir

qa = evaluate_qa

__all__ = ["BeirEval", "BeirSet", "ChunkingEval", "EvalSet", "QAEval", "Question", "beir", "chunking", "evaluate_qa",
           "exact_match", "f1_score", "load_beir", "load_chroma_csv", "load_hotpotqa", "load_qa", "normalize_answer",
           "qa", "supporting_recall"]
