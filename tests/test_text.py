"""Text end to end: a CSV with a text column in, a Transformer program out, predictions anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import learnt
from learnt.errors import DataError, UsageError
from learnt.training.loop import LoopData


def test_a_text_column_trains_a_transformer_program(text_program: learnt.Program) -> None:
    manifest = text_program.manifest
    assert manifest.architecture.family == "transformer"
    assert [(c.name, c.kind) for c in manifest.input_schema.features] == [("text", "text")]
    assert manifest.preprocessing.text is not None
    assert 8 <= manifest.preprocessing.text.max_length <= 256
    assert set(manifest.files) == {"model.onnx", "weights.safetensors", "tokenizer.json"}
    assert manifest.metrics["accuracy"] > 0.85  # 4 epochs on 864 messages


def test_onnx_and_torch_runtimes_agree_on_text(
    text_program: learnt.Program, sms_file: Path
) -> None:
    from learnt.training.torch_runtime import torch_runner

    onnx = text_program.predict(sms_file)
    torch_runtime = text_program.predict(sms_file, runner=torch_runner)
    np.testing.assert_allclose(
        onnx[["proba_ham", "proba_spam"]], torch_runtime[["proba_ham", "proba_spam"]], atol=1e-5
    )


def test_padding_never_changes_a_prediction(text_program: learnt.Program) -> None:
    short = pd.DataFrame({"text": ["call now to claim your prize"]})
    mixed = pd.DataFrame({"text": ["call now to claim your prize", "ok " * 200]})
    np.testing.assert_allclose(
        text_program.predict(short)["proba_spam"].iloc[0],
        text_program.predict(mixed)["proba_spam"].iloc[0],
        atol=1e-6,
    )


ONNX_IN_ANOTHER_PROCESS = """
import json, sys
import learnt
program = learnt.load(sys.argv[1])
from learnt.data.tables import read_table
from learnt.runtime.predict import predict_table
columns = predict_table(program, read_table(sys.argv[2]))
heavy = sorted(m for m in ("torch", "pandas", "safetensors") if m in sys.modules)
print(json.dumps({"proba_spam": columns["proba_spam"].tolist(), "heavy": heavy}))
"""


def test_a_separate_process_predicts_the_same_without_torch(
    text_program: learnt.Program, sms_file: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", ONNX_IN_ANOTHER_PROCESS, str(text_program.path), str(sms_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    there = json.loads(result.stdout)
    assert there["heavy"] == []
    np.testing.assert_allclose(
        there["proba_spam"], text_program.predict(sms_file)["proba_spam"], atol=1e-12
    )


def test_stdin_gives_one_prediction_per_line(text_program: learnt.Program) -> None:
    lines = "WINNER! claim your free prize now\n\nsee you at lunch 🙂\n"
    result = subprocess.run(
        [sys.executable, "-m", "learnt", "predict", str(text_program.path), "-"],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = result.stdout.strip().splitlines()
    assert rows[0] == "prediction,proba_ham,proba_spam" and len(rows) == 4  # the empty text too
    expected = text_program.predict(pd.DataFrame({"text": lines.splitlines()}))
    assert [r.split(",")[0] for r in rows[1:]] == expected["prediction"].tolist()


def test_files_that_are_not_utf8(
    text_program: learnt.Program, tmp_path: Path, sms_file: Path
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\nça va bien,ham\nwin a free café,spam\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv, line 2: not valid UTF-8 .*--encoding"):
        text_program.predict(latin)
    from learnt.runtime.predict import predict_table, read_inputs

    table = read_inputs(text_program, [latin], encoding="latin-1")
    assert table.columns["text"][0] == "ça va bien"
    assert len(predict_table(text_program, table)["prediction"]) == 2
    frame = pd.read_csv(sms_file).head(300)
    frame.to_csv(tmp_path / "sms_latin.csv", index=False, encoding="latin-1", errors="replace")
    with pytest.raises(DataError, match="--encoding"):
        learnt.train(tmp_path / "sms_latin.csv", label="label", epochs=1, out=tmp_path / "strict")


def test_other_columns_beside_the_text_are_named_not_silently_dropped(
    sms_file: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(sms_file).head(200).assign(sender_age=35, channel="mobile")
    program = learnt.train(frame, label="label", text="text", epochs=1, out=tmp_path)
    dropped = {d.name: d.reason for d in program.manifest.input_schema.dropped}
    assert dropped == {
        name: "not read beside a text column (not supported yet)"
        for name in ("sender_age", "channel")
    }


def test_an_unknown_text_column_is_a_usage_error(sms_file: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--text txt: no such column.*'text'"):
        learnt.train(sms_file, label="label", text="txt", out=tmp_path)


def test_batches_group_texts_of_similar_length() -> None:
    lengths = torch.tensor([2, 50, 3, 49, 4, 48, 5, 47] * 8)
    tokens = torch.zeros(len(lengths), 50, dtype=torch.int64)
    mask = (torch.arange(50) < lengths[:, None]).long()
    data = LoopData((tokens, mask), torch.zeros(len(lengths), dtype=torch.int64), lengths=lengths)
    batches = [data.batch(rows) for rows in data.plan(8, torch.Generator().manual_seed(0))]
    spreads = [int(m.sum(1).max() - m.sum(1).min()) for (_, m), _ in batches]
    assert spreads == [0] * 8  # sorted within the pool: each batch holds one length
    assert sum(len(t) for _, t in batches) == len(lengths)


def test_quickstart_text(tmp_path: Path) -> None:
    from learnt.quickstart import run_quickstart

    run_quickstart("text", tmp_path)
    assert learnt.load(tmp_path / "program").manifest.metrics["accuracy"] >= 0.9
