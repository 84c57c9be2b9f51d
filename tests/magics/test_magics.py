import subprocess
import sys

import pytest
from IPython.core.error import UsageError

import nbrag
from nbrag.chunking import ChunkResult


def run(ip, source):
    """Run a cell; return its result, re-raising what the cell raised."""
    outcome = ip.run_cell(source)
    if outcome.error_in_exec is not None:
        raise outcome.error_in_exec
    if outcome.error_before_exec is not None:
        raise outcome.error_before_exec
    return outcome.result


def test_loading_the_extension_imports_no_heavy_library():
    code = (
        "import sys, time; from IPython.testing.globalipapp import start_ipython; ip = start_ipython();"
        "t = time.perf_counter(); ip.run_line_magic('load_ext', 'nbrag'); dt = time.perf_counter() - t;"
        "heavy = [m for m in ('torch', 'transformers', 'chromadb', 'sentence_transformers', 'anywidget') "
        "if m in sys.modules];"
        "print(heavy, 'chunk' in ip.magics_manager.magics['cell'], 'nbrag' in ip.magics_manager.magics['line'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1].endswith("[] True True")  # IPython 7 writes a terminal title first


def test_cell_magic_chunks_the_cell_and_stores_the_result(ip):
    text = "Retrieval needs chunks. Chunks need boundaries that a person can see and judge."
    result = run(ip, f"%%chunk --size 8 --overlap 2 -o parts\n{text}")
    assert isinstance(result, ChunkResult)
    assert ip.user_ns["parts"] is result
    assert result.params["size"] == 8 and result.params["overlap"] == 2
    assert [c.to_dict() for c in result] == [c.to_dict() for c in nbrag.chunk(text + "\n", size=8, overlap=2)]


def test_method_picks_the_chunker(ip, python_doc):
    ip.user_ns["doc"] = python_doc
    result = run(ip, "%chunk --var doc -m recursive --size 48")
    assert result.method == "recursive" and all(c.tokens <= 48 for c in result)
    assert [c.to_dict() for c in result] == [c.to_dict() for c in nbrag.chunk(python_doc, method="recursive", size=48)]


def test_semantic_options_reach_the_chunker(ip, python_doc):
    ip.user_ns["doc"] = python_doc
    result = run(ip, "%chunk --var doc -m semantic --max-size 96 --min-size 8 --threshold 1 --threshold-type std")
    assert result.params["max_size"] == 96 and result.params["threshold_type"] == "std"
    assert all(c.tokens <= 96 for c in result)


def test_structure_chunks_a_markdown_cell(ip):
    result = run(ip, "%%chunk -m structure --size 32\n# Title\n\nSome text.\n\n## Part\n\n```\ncode\n```\n")
    assert [c.meta["heading_path"] for c in result] == ["Title", "Title > Part"]


def test_compare_runs_chunkers_side_by_side(ip, python_doc):
    from nbrag.chunking import ChunkComparison

    ip.user_ns["doc"] = python_doc
    result = run(ip, "%chunk --var doc --compare fixed,recursive --size 32 -o both")
    assert isinstance(result, ChunkComparison) and ip.user_ns["both"] is result
    assert list(result.results) == ["fixed", "recursive"]
    with pytest.raises(UsageError, match="--compare rekursive: no such chunker; choose one of fixed, llm"):
        run(ip, "%chunk --var doc --compare fixed,rekursive")


def test_line_magic_reads_a_variable_or_a_file(ip, tmp_path, python_doc):
    ip.user_ns["doc"] = python_doc
    by_var = run(ip, "%chunk --var doc --size 64 --overlap 8")
    path = tmp_path / "doc.txt"
    path.write_text(python_doc, encoding="utf-8")
    by_file = run(ip, f"%chunk --file {path} --size 64 --overlap 8")
    assert len(by_var) == len(by_file) == len(nbrag.chunk(python_doc, size=64, overlap=8))


def test_the_result_shows_itself_as_the_boundary_widget(ip):
    result = run(ip, "%%chunk --size 4 --overlap 1\nOne two three four five six seven.")
    data, _ = result._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert 'data-chunks="3"' in data["text/html"]


@pytest.mark.parametrize("source, message", [
    ("%%chunk --size 0\ntext", "--size 0: must be a whole number of at least 1"),
    ("%%chunk --size 8 --overlap 8\ntext", "--overlap 8: must be a whole number from 0 to 7 (smaller than size=8)"),
    ("%%chunk --size 8 --overlap 9\ntext", "smaller than size=8"),
    ("%%chunk --sise 8\ntext", "unrecognized arguments: --sise 8"),
    ("%%chunk --size eight\ntext", "argument -s/--size: invalid int value: 'eight'"),
    ("%%chunk -m semantik\ntext", "--method semantik: no such chunker; choose one of fixed, llm, recursive, semantic, "
                                  "structure."),
    ("%%chunk -m fixed --format html\ntext", "--format html: not an option of the fixed chunker, which takes size, "
                                             "overlap, unit, tokenizer."),
    ("%%chunk -m semantic --threshold 200\ntext", "--threshold 200.0: with the percentile threshold type, give a "
                                                  "number from 0 to 100."),
    ("%%chunk -m recursive --overlap 4\ntext", "--overlap 4: not an option of the recursive chunker, which takes "
                                               "size, unit, tokenizer, levels."),
    ("%%chunk --unit word\ntext", "invalid choice: 'word'"),
    ("%%chunk -o 2x\ntext", "-o '2x' is not a valid Python variable name"),
    ("%%chunk -o class\ntext", "-o 'class' is not a valid Python variable name"),
    ("%chunk --size 8", "No text to chunk"),
    ("%chunk --var nowhere", "--var nowhere: no variable of that name"),
    ("%chunk --var number", "--var number holds a int, not a str"),
    ("%chunk --file /no/such/file.txt", "Cannot read --file /no/such/file.txt"),
    ("%%chunk --var doc\nand a cell", "Text to chunk given twice (the cell and --var)"),
    ("%%chunk --tokenizer no-such-org/no-such-model\ntext", "'no-such-org/no-such-model' is not available here"),
])
def test_bad_input_is_one_line_usage_error(ip, source, message):
    ip.user_ns.update(number=3, doc="a document")
    ip.user_ns.pop("nowhere", None)
    ip.user_ns["keep"] = "still here"
    with pytest.raises(UsageError) as info:
        run(ip, source)
    assert message in str(info.value)
    assert "\n" not in str(info.value).strip()
    assert ip.user_ns["keep"] == "still here"


def test_config_traitlets_reach_the_engine(ip, settings_guard):
    run(ip, "%config NbragMagics.chunk_size = 40")
    run(ip, "%config NbragMagics.chunk_overlap = 10")
    assert (nbrag.settings.chunk_size, nbrag.settings.chunk_overlap) == (40, 10)
    result = run(ip, "%%chunk\n" + "word " * 100)
    assert result.params["size"] == 40 and result.params["overlap"] == 10


def test_a_bad_config_value_is_refused_and_changes_nothing(ip, settings_guard, caplog):
    run(ip, "%config NbragMagics.device = 'tpu'")
    assert nbrag.settings.device == "auto"
    assert "device='tpu': choose one of auto, cpu, cuda, mps" in caplog.text
    magics = next(m for m in ip.configurables if type(m).__name__ == "NbragMagics")
    assert magics.device == "auto"


def test_nbrag_line_magic(ip, capsys):
    run(ip, "%nbrag")
    out = capsys.readouterr().out
    assert "embedder:  all-MiniLM-L6-v2" in out and "generator: SmolLM2-135M-Instruct" in out
    assert "device: cpu" in out or "device: cuda" in out or "device: mps" in out
    run(ip, "%nbrag config")
    assert "chunk_overlap" in capsys.readouterr().out
    run(ip, "%nbrag help")
    assert "%%chunk" in capsys.readouterr().out
    with pytest.raises(UsageError, match=r"Unknown %nbrag command 'hepl'\. Available: info, config, help"):
        run(ip, "%nbrag hepl")


def test_traitlets_start_from_the_session_settings(settings_guard):
    from nbrag.magics import NbragMagics

    nbrag.configure(chunk_size=100, chunk_overlap=20)
    magics = NbragMagics(shell=None)
    assert (magics.chunk_size, magics.chunk_overlap) == (100, 20)


def test_every_area_registers_its_magics(ip):
    from nbrag.magics import AREAS

    registry = ip.magics_manager.registry
    assert {area.__name__ for area in AREAS} <= set(registry)
    cells = ip.magics_manager.magics["cell"]
    for name, area in [("chunk", "ChunkMagics"), ("retrieve", "RetrieveMagics"), ("graphrag", "GraphragMagics"),
                       ("attention", "InspectorMagics"), ("kvcache", "InspectorMagics"), ("moe", "InspectorMagics"),
                       ("lora", "LoraMagics"), ("ask", "AskMagics")]:
        assert type(cells[name].__self__).__name__ == area
    sessions = {id(registry[area.__name__].session) for area in AREAS}
    assert len(sessions) == 1, "the areas share one session (the indexes built with %nbrag index)"


def test_no_magics_class_is_longer_than_200_lines():
    import ast
    from pathlib import Path

    folder = Path(nbrag.__file__).parent / "magics"
    sizes = {}
    for path in folder.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                sizes[f"{path.name}:{node.name}"] = node.end_lineno - node.lineno + 1
    assert sizes and max(sizes.values()) <= 200, sizes


def test_a_bug_inside_the_engine_keeps_its_traceback(ip, monkeypatch, capsys):
    """Only the engine's NbragError becomes a one-line usage error: anything else is a bug, shown whole."""
    import nbrag.chunking

    def broken(text, method="fixed", **options):
        return {}["no such key"]

    monkeypatch.setattr(nbrag.chunking, "chunk", broken)
    with pytest.raises(KeyError, match="no such key"):
        run(ip, "%%chunk --size 8\nsome text")
    ip.run_cell("%%chunk --size 8\nsome text")
    shown = capsys.readouterr()
    assert "Traceback" in shown.out + shown.err and "broken" in shown.out + shown.err


def test_an_engine_error_names_the_magics_flag(ip):
    with pytest.raises(UsageError) as info:
        run(ip, "%%chunk --size 8 --overlap 9\nsome text")
    assert str(info.value).startswith("--overlap 9: ")
