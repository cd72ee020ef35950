"""Images end to end: a folder in, a CNN program out, predictions on folders, files and tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import learnt
from learnt.data.tables import Table
from learnt.errors import DataError
from learnt.runtime.format import ImageInput
from learnt.runtime.predict import predict_table, read_inputs
from learnt.training.augment import ImageBatches


def test_a_folder_trains_a_cnn_program(image_program: learnt.Program) -> None:
    manifest = image_program.manifest
    assert manifest.architecture.family == "cnn"
    assert manifest.preprocessing.image is not None
    assert (manifest.preprocessing.image.size, manifest.preprocessing.image.channels) == (16, 1)
    assert len(manifest.preprocessing.image.mean) == 1
    assert manifest.labels.classes == [str(d) for d in range(10)]  # folder names
    assert manifest.metrics["n"] == 80
    assert manifest.metrics["accuracy"] > 0.6  # 15 short epochs on 280 images: learning, not done


def test_predict_on_a_folder_files_and_a_table(
    image_program: learnt.Program, digit_folder: Path, tmp_path: Path
) -> None:
    from_folder = predict_table(image_program, read_inputs(image_program, [digit_folder]))
    assert len(from_folder["path"]) == 400
    assert list(from_folder)[:2] == ["path", "prediction"]
    files = [digit_folder / "3" / "000.png", digit_folder / "7" / "001.png"]
    from_files = predict_table(image_program, read_inputs(image_program, files))
    positions = [from_folder["path"].tolist().index(str(f)) for f in files]
    np.testing.assert_allclose(from_files["proba_3"], from_folder["proba_3"][positions], atol=1e-6)
    table = tmp_path / "to_check.csv"
    table_dir = tmp_path / "tables"
    relative = [os.path.relpath(f, table_dir) for f in files]  # relative to the table's folder
    table_dir.mkdir()
    (table_dir / "to_check.csv").write_text("path,note\n" + "".join(f"{r},x\n" for r in relative))
    rows = read_inputs(image_program, [table_dir / "to_check.csv"])
    np.testing.assert_allclose(
        predict_table(image_program, rows)["proba_3"], from_files["proba_3"], atol=1e-6
    )
    assert not table.exists()


def test_onnx_and_torch_runtimes_agree_on_images(
    image_program: learnt.Program, digit_folder: Path
) -> None:
    from learnt.training.torch_runtime import torch_runner

    inputs = read_inputs(image_program, [digit_folder / "5"])
    onnx = predict_table(image_program, inputs)
    torch_runtime = predict_table(image_program, inputs, torch_runner)
    for name in onnx:
        if name.startswith("proba_"):
            np.testing.assert_allclose(onnx[name], torch_runtime[name], atol=1e-5)


ONNX_IN_ANOTHER_PROCESS = """
import json, sys
import learnt
from learnt.runtime.predict import predict_table, read_inputs
from pathlib import Path
program = learnt.load(sys.argv[1])
columns = predict_table(program, read_inputs(program, [Path(sys.argv[2])]))
heavy = sorted(m for m in ("torch", "pandas", "safetensors") if m in sys.modules)
print(json.dumps({"proba_5": columns["proba_5"].tolist(), "heavy": heavy}))
"""


def test_a_separate_process_predicts_the_same_without_torch(
    image_program: learnt.Program, digit_folder: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            ONNX_IN_ANOTHER_PROCESS,
            str(image_program.path),
            str(digit_folder / "5"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    there = json.loads(result.stdout)
    here = predict_table(image_program, read_inputs(image_program, [digit_folder / "5"]))
    assert there["heavy"] == []
    np.testing.assert_allclose(there["proba_5"], here["proba_5"], atol=1e-12)


def test_evaluate_on_a_class_folder(image_program: learnt.Program, digit_folder: Path) -> None:
    metrics = learnt.load(image_program.path).evaluate(digit_folder)
    assert metrics["n"] == 400 and metrics["accuracy"] > 0.6
    predictions = image_program.predict(digit_folder / "2")
    assert list(predictions.columns[:2]) == ["path", "prediction"] and len(predictions) == 40


def test_unreadable_images_at_prediction(
    image_program: learnt.Program, digit_folder: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"nope")
    good = digit_folder / "1" / "000.png"
    with pytest.raises(DataError, match=r"broken\.png: not an image"):
        predict_table(image_program, read_inputs(image_program, [good, broken]))
    columns = predict_table(
        image_program, read_inputs(image_program, [good, broken]), skip_bad=True
    )
    assert columns["prediction"][1] is None and np.isnan(columns["proba_1"][1])
    assert columns["error"].tolist() == ["", "not an image, or a format Pillow cannot read"]
    assert columns["prediction"][0] is not None


def test_skip_bad_leaves_files_out_and_records_them(digit_folder: Path, tmp_path: Path) -> None:
    import shutil

    folder = Path(shutil.copytree(digit_folder, tmp_path / "digits"))
    (folder / "4" / "zz-corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(DataError, match=r"zz-corrupt\.png"):
        learnt.train(folder, epochs=1, out=tmp_path / "strict")
    assert not (tmp_path / "strict" / "program").exists()
    program = learnt.train(folder, epochs=1, skip_bad=True, out=tmp_path / "lenient")
    skipped = program.manifest.training.skipped
    assert [Path(s["file"]).name for s in skipped] == ["zz-corrupt.png"]
    assert sum(program.manifest.training.rows.values()) == 400


def test_a_table_of_image_paths_trains_too(digit_folder: Path, tmp_path: Path) -> None:
    files = sorted(digit_folder.rglob("*.png"))
    frame = pd.DataFrame(
        {
            "file": [str(f.relative_to(digit_folder)) for f in files],
            "digit": [f.parent.name for f in files],
        }
    )
    frame["unused"] = 1.5
    table = digit_folder / "labels.csv"
    frame.to_csv(table, index=False)
    try:
        program = learnt.train(table, label="digit", epochs=1, out=tmp_path)
    finally:
        table.unlink()
    schema = program.manifest.input_schema
    assert [(c.name, c.kind) for c in schema.features] == [("file", "image")]
    assert [d.name for d in schema.dropped] == ["unused"]


def test_batches_are_augmented_only_while_training() -> None:
    spec = ImageInput(column="path", size=8, channels=1, mean=[0.5], std=[0.25])
    pixels = torch.arange(2 * 64, dtype=torch.uint8).reshape(2, 1, 8, 8)
    batches = ImageBatches(spec, "crop+flip")
    (evaluation,) = batches((pixels,), None)
    torch.testing.assert_close(evaluation, (pixels.float() / 255 - 0.5) / 0.25)
    (training,) = batches((pixels,), torch.Generator().manual_seed(0))
    assert training.shape == (2, 1, 8, 8)
    assert not torch.equal(training, evaluation)
    (again,) = batches((pixels,), torch.Generator().manual_seed(0))
    torch.testing.assert_close(training, again)  # drawn from the generator handed in


def test_quickstart_images_reaches_its_accuracy(tmp_path: Path) -> None:
    from learnt.quickstart import run_quickstart

    run_quickstart("images", tmp_path)
    assert learnt.load(tmp_path / "program").manifest.metrics["accuracy"] >= 0.9


def test_table_programs_refuse_image_folders(
    titanic_program: learnt.Program, digit_folder: Path
) -> None:
    with pytest.raises(DataError, match="this program reads a table"):
        read_inputs(titanic_program, [digit_folder])
    _ = Table, Image
