"""Training data: every input form, the chat template with loss on the answer only, the split, and bad input."""

from __future__ import annotations

import json

import pytest

from nbrag.errors import NbragError
from nbrag.lora.data import Batches, Example, read_examples, split
from nbrag.lora.training import encode_all, tokenize

CELL = "The sensor must measure the air.\nA tipping bucket counts rain.\n\n茶树偏爱酸性土壤。\n"


def test_cell_text_is_one_example_per_line_of_plain_text():
    examples = read_examples(CELL)
    assert [e.answer for e in examples] == ["The sensor must measure the air.", "A tipping bucket counts rain.",
                                           "茶树偏爱酸性土壤。"]
    assert all(e.prompt is None for e in examples)


def test_cell_text_of_json_lines_is_instructions(records):
    cell = "\n".join(json.dumps(r, ensure_ascii=False) for r in records[:3])
    examples = read_examples(cell)
    assert [e.prompt for e in examples] == [r["instruction"] for r in records[:3]]
    assert [e.answer for e in examples] == [r["output"] for r in records[:3]]


def test_files_json_jsonl_csv_and_text(tmp_path, records):
    import csv

    rows = [{"instruction": "Translate", "input": "tea", "output": "茶"}, *records[:2]]
    (tmp_path / "a.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    with open(tmp_path / "a.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["instruction", "input", "output"])
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "a.txt").write_text(CELL, encoding="utf-8")
    expected = [Example(answer="茶", prompt="Translate\n\ntea"),
                *(Example(answer=r["output"], prompt=r["instruction"]) for r in records[:2])]
    for name in ("a.json", "a.jsonl", "a.csv"):
        assert read_examples(str(tmp_path / name)) == expected, name
    assert read_examples(tmp_path / "a.txt") == read_examples(CELL)


def test_a_list_of_strings_and_dicts():
    assert read_examples(["one text", {"text": "another"}]) == [Example("one text"), Example("another")]


def test_a_dataframe(records):
    pd = pytest.importorskip("pandas")
    assert read_examples(pd.DataFrame(records)) == read_examples(records)


def test_chat_template_puts_the_loss_on_the_answer_only(chat_llama, records):
    _, tokenizer = chat_llama
    example = read_examples(records[:1])[0]
    tok = tokenize(example, tokenizer)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": example.prompt}], add_generation_prompt=True,
                                           tokenize=True)
    prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    assert tok.input_ids[:len(prompt)] == prompt
    assert tok.labels[:len(prompt)] == [-100] * len(prompt)
    answer = [t for t, label in zip(tok.input_ids, tok.labels) if label != -100]
    assert tokenizer.decode(answer).replace(" ", "").startswith(example.answer.lower().replace(" ", "")[:40])


def test_without_a_template_prompt_and_answer_are_joined_and_plain_text_learns_every_token(llama):
    _, tokenizer = llama
    tok = tokenize(Example(answer="a radiation shield", prompt="Where does the sensor go?"), tokenizer)
    answer = [t for t, label in zip(tok.input_ids, tok.labels) if label != -100]
    assert tokenizer.decode(answer) == "a radiation shield [SEP]"
    plain = tokenize(Example(answer="a radiation shield"), tokenizer)
    assert plain.labels == plain.input_ids


def test_split_is_seeded_and_batches_cycle(llama, records):
    _, tokenizer = llama
    items = encode_all(read_examples(records), tokenizer, 256)
    train, held = split(items, 0.25, seed=3)
    assert len(held) == 3 and len(train) == 9
    assert split(items, 0.25, seed=3) == (train, held) and split(items, 0.25, seed=4) != (train, held)
    assert split(items, 0.0, seed=3)[1] == []
    batches = Batches(train, 4, seed=0, pad_id=0)
    seen = [batches.next()["input_ids"].shape[0] for _ in range(5)]
    assert seen == [4] * 5 and batches.epoch == 3  # 20 examples drawn from 9: a third epoch began


def test_bad_data_gets_one_clear_error(llama, records):
    _, tokenizer = llama
    with pytest.raises(ValueError, match="No training examples"):
        read_examples("  \n\n")
    with pytest.raises(ValueError, match="No training examples"):
        read_examples([])
    with pytest.raises(ValueError, match="needs 'output'"):
        read_examples([{"question_text": "x"}])
    with pytest.raises(TypeError, match="not training data"):
        read_examples(42)
    with pytest.raises(ValueError, match=r"Line 2 of the cell is not valid JSON"):
        read_examples('{"text": "a"}\n{"text": ')
    long = [*records[:2], {"instruction": "Repeat", "input": "", "output": "word " * 300}]
    with pytest.raises(NbragError, match=r"^max_length=256: example 3 \('Repeat word word .*'…\) has 30\d tokens, more "
                                         r"than that allows; it is refused rather than truncated: raise it to at "
                                         r"least 30\d or shorten that example\.$"):
        encode_all(read_examples(long), tokenizer, 256)


def test_a_path_that_names_no_file_is_refused_not_trained_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for missing in ("path/that/does/not/exist.jsonl", "train.jsonl", "data.PARQUET", "notes/today",
                    str(tmp_path / "none"), tmp_path / "none.csv"):
        looked_for = tmp_path / missing
        with pytest.raises(NbragError) as caught:
            read_examples(missing)
        assert str(caught.value).startswith(f"data='{missing}': no such file (looked for {looked_for}). Give a JSON "
                                            "or JSONL file")
        literal = f"; to train on this line of text itself, pass it in a list: [{missing!r}]."
        assert str(caught.value).endswith(literal) == isinstance(missing, str)  # a Path is never text
    with pytest.raises(NbragError, match=r"^data='.*': a folder, not a file \("):
        read_examples(str(tmp_path))
    (tmp_path / "rows.parquet").write_bytes(b"PAR1")
    with pytest.raises(NbragError, match=r"^data='rows\.parquet': a Parquet file, which nbrag does not read itself: "
                                         r"load it with pandas\.read_parquet\(path\) and pass the DataFrame\.$"):
        read_examples("rows.parquet")
    (tmp_path / "bad.json").write_text('[{"text": "a"},', encoding="utf-8")
    with pytest.raises(NbragError, match=r"^data='.*bad\.json': not valid JSON \(Expecting value at line 1"):
        read_examples(tmp_path / "bad.json")
    # one line of text with a slash between words, or a final full stop, is an example, not a path
    line = "Rain is measured in mm/h by the gauge."
    assert read_examples(line) == [Example(line)]
    assert read_examples("either/or\tboth") == [Example("either/or\tboth")]  # any whitespace, not only a blank
    assert read_examples(["train.jsonl"]) == [Example("train.jsonl")]  # in a list: the text itself
    (tmp_path / "a.tsv").write_text("instruction\tinput\toutput\nTranslate\ttea\t茶\n", encoding="utf-8")
    assert read_examples(str(tmp_path / "a.tsv")) == [Example(answer="茶", prompt="Translate\n\ntea")]


def test_the_instruction_sample_is_what_its_tool_writes():
    import importlib.util
    from pathlib import Path

    from nbrag.data import sample_instructions

    tool = Path(__file__).resolve().parents[2] / "tools" / "make_instruction_sample.py"
    spec = importlib.util.spec_from_file_location("make_instruction_sample", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sample_instructions("documents") == module.documents()
    assert sample_instructions("musique") == module.musique()
    records = sample_instructions()
    assert len(records) == 73 and all(set(r) == {"instruction", "input", "output"} for r in records)
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in r["instruction"]) for r in records) >= 5  # the tea guide
    assert all(r["output"] in r["input"] for r in records[34:] if r["output"] != "an American")
    with pytest.raises(NbragError, match=r"^source='alpaca': no such instruction sample; choose one of documents, "
                                         r"musique, or None for all\.$"):
        sample_instructions("alpaca")
