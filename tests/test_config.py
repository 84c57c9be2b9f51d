import pytest

import nbrag
from nbrag.config import Settings
from nbrag.errors import NbragError


def test_defaults_are_the_offline_models():
    s = Settings()
    assert s.embedder == "all-MiniLM-L6-v2"
    assert s.generator == "SmolLM2-135M-Instruct"
    assert s.chunk_tokenizer == s.embedder


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"device": "tpu"}, "device='tpu': choose one of auto, cpu"),
        ({"dtype": "int3"}, "dtype='int3': choose one of auto, float32"),
        ({"chunk_size": 0}, "chunk_size=0: give a whole number of at least 1."),
        ({"chunk_size": 2.5}, "chunk_size=2.5: give a whole number of at least 1."),
        ({"chunk_overlap": 300}, "smaller than chunk_size=256"),
        ({"embedder": "  "}, "embedder='  ': empty"),
        ({"top_n": 5}, "unknown setting(s) top_n. Available: embedder"),
        ({"top_k": 0}, "top_k=0: give a whole number of at least 1."),
        ({"top_k": True}, "top_k=True: give a whole number of at least 1."),
        ({"top_k": "5"}, "top_k='5': give a whole number of at least 1."),
        ({"chunk_overlap": float("nan")}, "chunk_overlap=nan: give a whole number of at least 0."),
        ({"embedder": ["x"]}, "embedder=['x']: give a str."),
        ({"bm25": "bm26"}, "bm25='bm26': choose one of bm25s, bm25s:robertson, bm25s:bm25l, bm25s:bm25+."),
    ],
)
def test_bad_values_are_refused_and_change_nothing(settings_guard, changes, message):
    before = nbrag.settings.to_dict()
    with pytest.raises(NbragError) as info:
        nbrag.configure(**changes)
    assert message in str(info.value)
    assert nbrag.settings.to_dict() == before


def test_configure_changes_several_fields_together(settings_guard):
    nbrag.configure(chunk_size=16, chunk_overlap=4, tokenizer="all-MiniLM-L6-v2")
    assert (nbrag.settings.chunk_size, nbrag.settings.chunk_overlap) == (16, 4)


def test_data_dir_follows_nbrag_home(monkeypatch, tmp_path):
    monkeypatch.setenv("NBRAG_HOME", str(tmp_path))
    assert Settings().data_dir == str(tmp_path)


@pytest.mark.parametrize("env, device", [("cpu", "cpu"), ("cuda", "cuda"), ("", "auto"), ("  ", "auto")])
def test_device_follows_nbrag_device(monkeypatch, env, device):
    monkeypatch.setenv("NBRAG_DEVICE", env)
    assert Settings().device == device


def test_a_bad_nbrag_device_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("NBRAG_DEVICE", "gpu")
    with pytest.raises(NbragError, match=r"NBRAG_DEVICE='gpu': choose one of auto, cpu, cuda, mps, or unset"):
        Settings()


def test_nbrag_device_reaches_the_magics_defaults(monkeypatch):
    from nbrag.magics.settings import _settings_traits

    monkeypatch.setenv("NBRAG_DEVICE", "cpu")
    assert _settings_traits()["device"].default_value == "cpu"
