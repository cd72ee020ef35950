"""Data from strangers: every hostile or odd input gives a clear error naming the file, row and
column (exit code 2, no traceback, nothing half-written), or a documented handling.

Each case writes its input into the test's directory and runs the CLI in-process, as
`tests/test_errors.py` does (its helpers are reused). `HOSTILE_DATA` lists the cases, one line
each: what the input is and what learnt does with it. Cases `test_errors.py` already covers (empty
file, header only, label all empty, one class, latin-1, unsupported extension, a folder given as a
file, missing columns at prediction) are not repeated here.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest

import learnt
from tests.test_errors import (  # `cli` is taken with request.getfixturevalue
    TITANIC,
    Outcome,
    assert_user_error,
    cli,  # noqa: F401
    in_tmp,  # noqa: F401
    tree,
    write_copy,
)


class Case(NamedTuple):
    name: str
    description: str
    outcome: str


HOSTILE_DATA = [
    # tracebacks before
    Case("regression-on-text", "--task regression on a label holding text", "error: row, column"),
    Case(
        "inf-label",
        "a label holding inf (classification, inferred or forced)",
        "error: row, column",
    ),
    Case("jsonl-list", "a JSONL value that is a list, at train and predict", "error: line, column"),
    Case(
        "stdin-not-utf8", "non-UTF-8 bytes on stdin for predict; --encoding applies", "error: line"
    ),
    Case(
        "out-unwritable",
        "--out under /proc, under a file, in a read-only folder",
        "error, no output",
    ),
    # silently wrong before
    Case("png-16-bit", "16-bit grey PNGs", "scaled to 8 bits (65535 → 255), not white"),
    Case("unseen-boolean", "a third value in a two-valued column at prediction", "read as missing"),
    Case("numeric-typo", "'twenty' among numbers (was dropped as id-like)", "error: row, column"),
    Case("inf-feature", "inf in a numeric feature, train and predict", "error: row, column"),
    Case("symlink-loop", "a `self -> .` link in an image folder", "left out and counted"),
    # misleading before
    Case("compressed", "a gzip/zip/bz2/xz/zstd file named .csv", "error naming the compression"),
    Case("long-field", "a valid CSV with a 10 MB field", "read (no field-size limit)"),
    Case("jsonl-broken-line", "a broken JSONL line at training", "error: line number"),
    Case("one-bad-of-300", "one bad image among 300 paths", "short error naming it"),
    Case("wide-table", "many more columns than training rows", "warning, small network"),
    # everyday cases
    Case("one-row", "a header and one data row", "error: too few rows / classes"),
    Case("features-empty", "every feature column empty", "error: no usable feature columns"),
    Case("duplicate-columns", "two columns with the same name", "error naming them"),
    Case("bom", "UTF-8 with a byte-order mark", "read"),
    Case("semicolons", "a file separated by semicolons", "error naming the separator"),
    Case("quoted-newlines", "quoted fields holding newlines", "read"),
    Case("truncated-parquet", "a Parquet file cut in half", "error: cannot be read as Parquet"),
    Case(
        "columns-at-prediction", "extra, reordered or string-typed columns", "predictions as usual"
    ),
    Case("unseen-category", "a category training never saw", "the 'unknown' slot"),
    Case(
        "bad-images", "zero-byte, truncated or decompression-bomb images", "error naming the file"
    ),
    Case("odd-images", "1×1, CMYK, animated images, nested folders", "decoded and trained"),
    Case("odd-texts", "empty, control-character and emoji-only texts", "predicted"),
    Case("text-not-utf8", "a text file that is not UTF-8", "error: line, --encoding hint"),
]


def case(name: str) -> str:
    """A case's name, checked to be documented in HOSTILE_DATA."""
    assert name in {c.name for c in HOSTILE_DATA}, name
    return name


def test_cases_are_documented_once() -> None:
    names = [c.name for c in HOSTILE_DATA]
    assert len(names) == len(set(names))
    assert all(c.description and c.outcome for c in HOSTILE_DATA)


Cli = Callable[..., Outcome]
RUN_LOCK = {"run", "run/.lock"}  # the run directory's lock, which a failed training may leave


@pytest.fixture
def invoke(request: pytest.FixtureRequest) -> Cli:
    """`learnt ARGS` in-process: test_errors' `cli`."""
    return request.getfixturevalue("cli")


def train_args(name: str, *args: object) -> list[object]:
    return ["train", name, *args, "--epochs", "1", "--out", "run"]


def assert_train_refused(
    outcome: Outcome, tmp_path: Path, before: set[str], *fragments: str
) -> None:
    assert_user_error(outcome, *fragments)
    assert tree(tmp_path) - before <= RUN_LOCK  # no program, no partial files


def small_table(rows: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows).round(3),
            "c": rng.choice(["a", "b", "c"], rows),
            "y": np.arange(rows) % 2,
        }
    )


# --- tracebacks before ----------------------------------------------------------------------------


def test_regression_on_a_text_label(invoke: Cli, tmp_path: Path) -> None:
    case("regression-on-text")
    small_table().assign(y=lambda f: np.where(f.y == 1, "yes", "no")).to_csv("t.csv", index=False)
    before = tree(tmp_path)
    outcome = invoke(*train_args("t.csv", "--label", "y", "--task", "regression"))
    assert_train_refused(
        outcome, tmp_path, before, "t.csv, row 1, column 'y'", "expected a number", "regression"
    )


@pytest.mark.parametrize("task", [[], ["--task", "classification"]], ids=["inferred", "forced"])
def test_an_infinite_label(invoke: Cli, tmp_path: Path, task: list[str]) -> None:
    case("inf-label")
    frame = small_table().astype({"y": float})
    frame.loc[4, "y"] = np.inf
    frame.to_csv("t.csv", index=False)
    before = tree(tmp_path)
    outcome = invoke(*train_args("t.csv", "--label", "y", *task))
    assert_train_refused(outcome, tmp_path, before, "t.csv, row 5, column 'y'", "inf", "infinite")


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_a_jsonl_list_value_at_training(invoke: Cli, tmp_path: Path) -> None:
    case("jsonl-list")
    records = small_table().to_dict("records")
    records[3]["x"] = [1, 2]
    write_jsonl(tmp_path / "t.jsonl", records)
    before = tree(tmp_path)
    outcome = invoke(*train_args("t.jsonl", "--label", "y"))
    assert_train_refused(
        outcome, tmp_path, before, "t.jsonl, line 4, column 'x'", "expected a single value", "list"
    )


def features(rows: int = 5) -> pd.DataFrame:
    return pd.read_csv(TITANIC).head(rows).drop(columns="survived")


def predict_refused(invoke: Cli, tmp_path: Path, program: Path, name: str, *fragments: str) -> None:
    """`learnt predict` refuses the file, naming the problem, and writes no predictions."""
    before = tree(tmp_path)
    outcome = invoke("predict", program, name, "--out", "preds.csv")
    assert_user_error(outcome, *fragments)
    assert tree(tmp_path) == before


def test_a_jsonl_list_value_at_prediction(invoke: Cli, tmp_path: Path, titanic_program) -> None:
    case("jsonl-list")
    records = features().to_dict("records")
    records[1]["fare"] = {"amount": 7}
    write_jsonl(tmp_path / "new.jsonl", records)
    predict_refused(
        invoke,
        tmp_path,
        titanic_program.path,
        "new.jsonl",
        "new.jsonl, line 2, column 'fare'",
        "an object",
    )


def texts(count: int) -> list[str]:
    words = ["prize", "win", "free", "call", "now", "lunch", "tomorrow", "office", "report"]
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, 7)) + f" number {i}" for i in range(count)]


@pytest.fixture(scope="module")
def tiny_text_program(tmp_path_factory: pytest.TempPathFactory) -> learnt.Program:
    """A bag-of-words program on 40 made-up texts, one epoch (what it predicts does not matter)."""
    folder = tmp_path_factory.mktemp("tiny-text")
    body = texts(40)
    frame = pd.DataFrame(
        {"text": body, "label": [("spam" if "prize" in t else "ham") for t in body]}
    )
    frame.to_csv(folder / "texts.csv", index=False)
    return learnt.train(
        folder / "texts.csv", label="label", epochs=1, init="random", arch="bag", out=folder / "run"
    )


def run_with_stdin(
    invoke: Cli, monkeypatch: pytest.MonkeyPatch, data: bytes, *args: object
) -> Outcome:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    return invoke(*args)


def test_non_utf8_bytes_on_stdin(
    invoke: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_text_program
) -> None:
    case("stdin-not-utf8")
    data = "free prize now\nrendez-vous à midi\n".encode("latin-1")
    program = tiny_text_program.path
    outcome = run_with_stdin(invoke, monkeypatch, data, "predict", program, "-", "--out", "p.csv")
    assert_user_error(outcome, "stdin, line 2", "not valid UTF-8", "--encoding")
    assert not (tmp_path / "p.csv").exists()
    outcome = run_with_stdin(
        invoke, monkeypatch, data, "predict", program, "-", "--encoding", "latin-1"
    )
    assert outcome.code == 0
    assert len(pd.read_csv(io.StringIO(outcome.out))) == 2


def unwritable_out(kind: str, tmp_path: Path) -> Path:
    """An --out path that cannot be written: under /proc, under a regular file, in a read-only folder."""
    if kind == "proc":
        return Path("/proc/learnt-test/out")
    if kind == "under-file":
        (tmp_path / "file").write_text("a file\n", encoding="utf-8")
        return tmp_path / "file" / "out"
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    (tmp_path / "locked").mkdir(mode=0o555)
    return tmp_path / "locked" / "out"


OUT_KINDS = ["proc", "under-file", "read-only"]


@pytest.mark.parametrize("kind", OUT_KINDS)
def test_train_out_cannot_be_written(invoke: Cli, tmp_path: Path, kind: str) -> None:
    case("out-unwritable")
    write_copy(tmp_path / "titanic.csv")
    out = unwritable_out(kind, tmp_path)
    before = tree(tmp_path)
    outcome = invoke(
        "train", "titanic.csv", "--label", "survived", "--max-steps", "1", "--out", out
    )
    assert_user_error(outcome, str(out), "cannot be written")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", OUT_KINDS)
def test_predict_out_cannot_be_written(
    invoke: Cli, tmp_path: Path, kind: str, titanic_program
) -> None:
    case("out-unwritable")
    features().to_csv(tmp_path / "new.csv", index=False)
    out = unwritable_out(kind, tmp_path).with_suffix(".csv")
    before = tree(tmp_path)
    outcome = invoke("predict", titanic_program.path, "new.csv", "--out", out)
    assert_user_error(outcome, str(out), "cannot be written")
    assert tree(tmp_path) == before


# --- silently wrong before ------------------------------------------------------------------------


def test_16_bit_png_is_scaled_not_white(tmp_path: Path) -> None:
    case("png-16-bit")
    from PIL import Image

    from learnt.data.images import decode_image

    ramp = np.tile(np.linspace(0, 65535, 32), (32, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")
    pixels = decode_image(str(tmp_path / "deep.png"), 32, 1)
    assert pixels.min() == 0 and pixels.max() == 255
    assert abs(float(pixels.mean()) - 127.5) < 2


def test_an_unseen_boolean_value_is_read_as_missing(
    invoke: Cli, tmp_path: Path, titanic_program
) -> None:
    case("unseen-boolean")
    frame = features(1)
    frame = pd.concat([frame.assign(sex=value) for value in ("other", "", "female")])
    frame.to_csv(tmp_path / "new.csv", index=False)
    outcome = invoke("predict", titanic_program.path, "new.csv")
    assert outcome.code == 0, outcome
    predicted = pd.read_csv(io.StringIO(outcome.out))
    other, missing, female = predicted["proba_1"].tolist()
    assert other == pytest.approx(missing)  # like a missing value, not the false value (female)
    assert other != pytest.approx(female)


def test_a_typo_among_numbers_names_the_cell(invoke: Cli, tmp_path: Path) -> None:
    case("numeric-typo")
    frame = pd.DataFrame({"age": np.arange(40) * 1.5 + 3, "y": np.arange(40) % 2}).astype(
        {"age": object}
    )
    frame.loc[7, "age"] = "twenty"
    frame.to_csv(tmp_path / "t.csv", index=False)
    before = tree(tmp_path)
    outcome = invoke(*train_args("t.csv", "--label", "y"))
    assert_train_refused(
        outcome, tmp_path, before, "t.csv, row 8, column 'age'", "expected a number", "'twenty'"
    )
    assert "id-like" not in outcome.err


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_infinity_in_a_feature_at_training(invoke: Cli, tmp_path: Path) -> None:
    case("inf-feature")
    frame = small_table()
    frame.loc[6, "x"] = np.inf
    frame.to_csv(tmp_path / "t.csv", index=False)
    before = tree(tmp_path)
    outcome = invoke(*train_args("t.csv", "--label", "y"))
    assert_train_refused(
        outcome, tmp_path, before, "t.csv, row 7, column 'x'", "expected a finite number", "inf"
    )
    assert "RuntimeWarning" not in outcome.err


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_infinity_in_a_feature_at_prediction(invoke: Cli, tmp_path: Path, titanic_program) -> None:
    case("inf-feature")
    frame = features()
    frame.loc[2, "fare"] = -np.inf
    frame.to_csv(tmp_path / "new.csv", index=False)
    predict_refused(
        invoke,
        tmp_path,
        titanic_program.path,
        "new.csv",
        "new.csv, row 3, column 'fare'",
        "finite",
        "-inf",
    )


def write_images(folder: Path, count: int, seed: int = 0, side: int = 12) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def write_image_classes(root: Path, per_class: int = 6) -> Path:
    for seed, name in enumerate(["cats", "dogs"]):
        write_images(root / name, per_class, seed)
    return root


def train_images(invoke: Cli, folder: str, *args: object) -> Outcome:
    return invoke("train", folder, "--epochs", "1", "--init", "random", "--out", "run", *args)


def test_a_symlink_loop_in_an_image_folder(invoke: Cli, tmp_path: Path) -> None:
    case("symlink-loop")
    root = write_image_classes(tmp_path / "photos")
    (root / "self").symlink_to(".")
    (root / "cats" / "up").symlink_to("..")
    (root / "dogs" / "outside.png").symlink_to(write_images(tmp_path / "elsewhere", 1)[0])
    outcome = train_images(invoke, "photos")
    assert outcome.code == 0, outcome
    assert learnt.load(tmp_path / "run" / "program").manifest.labels.classes == ["cats", "dogs"]
    message = " ".join(outcome.err.split())
    assert "left out 3 symbolic links" in message


# --- misleading before ----------------------------------------------------------------------------


def compressed(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "bzip2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zstd":
        return b"\x28\xb5\x2f\xfd" + data  # the frame's magic number is what is checked
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("titanic.csv", data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["gzip", "zip", "bzip2", "xz", "zstd"])
def test_a_compressed_file_named_csv(invoke: Cli, tmp_path: Path, kind: str) -> None:
    case("compressed")
    (tmp_path / "t.csv").write_bytes(compressed(kind, TITANIC.read_bytes()))
    before = tree(tmp_path)
    outcome = invoke(*train_args("t.csv", "--label", "survived"))
    assert_train_refused(outcome, tmp_path, before, "t.csv", f"{kind}-compressed", "decompress")
    assert "--encoding" not in outcome.err


def test_a_ten_megabyte_field(invoke: Cli, tmp_path: Path) -> None:
    case("long-field")
    frame = small_table(20).assign(note="short")
    frame.loc[0, "note"] = "x" * 10_000_000
    frame.to_csv(tmp_path / "t.csv", index=False)
    outcome = invoke(*train_args("t.csv", "--label", "y"))
    assert outcome.code == 0, outcome.err[-500:]
    assert "malformed" not in outcome.err


def test_a_broken_jsonl_line_at_training(invoke: Cli, tmp_path: Path) -> None:
    case("jsonl-broken-line")
    lines = [json.dumps(r) for r in small_table().to_dict("records")]
    lines[10] = '{"x": 3, '
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = tree(tmp_path)
    outcome = invoke(*train_args("t.jsonl", "--label", "y"))
    assert_train_refused(outcome, tmp_path, before, "t.jsonl, line 11", "not valid JSON")
    assert "position" not in outcome.err


@pytest.fixture(scope="module")
def tiny_image_program(tmp_path_factory: pytest.TempPathFactory) -> learnt.Program:
    """A CNN program on 12 random 12-pixel images of two classes, one epoch."""
    folder = write_image_classes(tmp_path_factory.mktemp("tiny-images") / "photos")
    return learnt.train(folder, epochs=1, init="random", out=folder.parent / "run")


def test_one_bad_image_among_300_paths(invoke: Cli, tmp_path: Path, tiny_image_program) -> None:
    case("one-bad-of-300")
    paths = write_images(tmp_path / "new", 300, side=4)
    paths[150].write_bytes(b"not an image")
    before = tree(tmp_path)
    outcome = invoke("predict", tiny_image_program.path, *paths, "--out", "preds.csv")
    assert_user_error(outcome, str(paths[150]), "not an image", "and 297 more")
    assert len(outcome.err) < 600
    assert tree(tmp_path) == before


def test_a_table_far_wider_than_long(invoke: Cli, tmp_path: Path) -> None:
    case("wide-table")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.normal(size=(22, 2000)).round(3), columns=[f"f{i}" for i in range(2000)]
    )
    frame["y"] = np.arange(22) % 2
    frame.to_csv(tmp_path / "wide.csv", index=False)
    outcome = invoke(*train_args("wide.csv", "--label", "y"))
    assert outcome.code == 0, outcome.err[-500:]
    message = " ".join(outcome.err.split())
    assert "2,000 inputs but only" in message
    size = sum(p.stat().st_size for p in (tmp_path / "run" / "program").iterdir())
    assert size < 10_000_000  # width 64 and no periodic embeddings: not 2000 × 17 × 1024 weights


# --- everyday cases -------------------------------------------------------------------------------


def write_text(text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(text.encode(encoding))


def write_parquet_half(path: Path) -> None:
    small_table().to_parquet(path.with_suffix(".full"))
    data = path.with_suffix(".full").read_bytes()
    path.with_suffix(".full").unlink()
    path.write_bytes(data[: len(data) // 2])


EVERYDAY_ERRORS = [
    pytest.param(write_text("x,y\n1,0\n"), "t.csv", ["t.csv", "only one class"], id="one-row"),
    pytest.param(
        write_text("x,z,y\n" + "".join(f",,{i % 2}\n" for i in range(30))),
        "t.csv",
        ["t.csv", "no usable feature columns", "dropped: x, z"],
        id="features-empty",
    ),
    pytest.param(
        write_text("x,x,y\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(30))),
        "t.csv",
        ["t.csv", "duplicate column names", "'x'"],
        id="duplicate-columns",
    ),
    pytest.param(
        write_text("x;y\n" + "".join(f"{i};{i % 2}\n" for i in range(30))),
        "t.csv",
        ["t.csv", "separated by semicolons", "commas"],
        id="semicolons",
    ),
    pytest.param(
        write_parquet_half,
        "t.parquet",
        ["t.parquet", "cannot be read as PARQUET"],
        id="truncated-parquet",
    ),
]


@pytest.mark.parametrize(("make", "name", "fragments"), EVERYDAY_ERRORS)
def test_everyday_files_that_cannot_train(
    invoke: Cli, tmp_path: Path, make: Callable[[Path], None], name: str, fragments: list[str]
) -> None:
    make(tmp_path / name)
    before = tree(tmp_path)
    outcome = invoke(*train_args(name, "--label", "y"))
    assert_train_refused(outcome, tmp_path, before, *fragments)


def write_with_bom(frame: pd.DataFrame, path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode("utf-8"))


def write_quoted_newlines(frame: pd.DataFrame, path: Path) -> None:
    frame.assign(c=frame.c + ' "quoted"\nsecond line').to_csv(path, index=False)


@pytest.mark.parametrize(
    ("name", "write"), [("bom", write_with_bom), ("quoted-newlines", write_quoted_newlines)]
)
def test_everyday_files_that_train(
    invoke: Cli, tmp_path: Path, name: str, write: Callable[[pd.DataFrame, Path], None]
) -> None:
    case(name)
    write(small_table(), tmp_path / "t.csv")
    outcome = invoke(*train_args("t.csv", "--label", "y"))
    assert outcome.code == 0, outcome.err[-500:]
    schema = learnt.load(tmp_path / "run" / "program").manifest.input_schema
    assert [f.name for f in schema.features] == ["x", "c"]


def test_columns_at_prediction_extra_reordered_or_text(
    invoke: Cli, tmp_path: Path, titanic_program
) -> None:
    case("columns-at-prediction")
    frame = features()
    frame.to_csv(tmp_path / "plain.csv", index=False)
    reordered = frame[list(reversed(frame.columns))].assign(extra="ignored")
    reordered.to_csv(tmp_path / "reordered.csv", index=False)
    write_jsonl(tmp_path / "strings.jsonl", frame.astype(str).replace("nan", "").to_dict("records"))
    outputs = []
    for name in ("plain.csv", "reordered.csv", "strings.jsonl"):
        outcome = invoke("predict", titanic_program.path, name)
        assert outcome.code == 0, outcome
        outputs.append(pd.read_csv(io.StringIO(outcome.out)))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    pd.testing.assert_frame_equal(outputs[0], outputs[2])


def test_an_unseen_category(invoke: Cli, tmp_path: Path, titanic_program) -> None:
    case("unseen-category")
    features(2).assign(embarked=["Z", "Atlantis"]).to_csv(tmp_path / "new.csv", index=False)
    outcome = invoke("predict", titanic_program.path, "new.csv")
    assert outcome.code == 0, outcome
    assert len(pd.read_csv(io.StringIO(outcome.out))) == 2


def write_bomb(path: Path) -> None:
    from PIL import Image

    Image.new("1", (10_000, 9_000)).save(path)  # 90 Mpx: over Pillow's decompression-bomb limit


def write_truncated(path: Path) -> None:
    write_images(path.parent, 1, side=32)
    data = (path.parent / "000.png").read_bytes()
    (path.parent / "000.png").unlink()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        pytest.param(lambda p: p.write_bytes(b""), "not an image", id="zero-byte"),
        pytest.param(write_truncated, "corrupt or truncated", id="truncated"),
        pytest.param(write_bomb, "decompression-bomb", id="bomb"),
    ],
)
def test_bad_images_in_a_folder(
    invoke: Cli, tmp_path: Path, make: Callable[[Path], None], fragment: str
) -> None:
    case("bad-images")
    root = write_image_classes(tmp_path / "photos")
    make(root / "dogs" / "bad.png")
    before = tree(tmp_path)
    outcome = train_images(invoke, "photos")
    assert_user_error(outcome, "bad.png", fragment, "--skip-bad")
    assert tree(tmp_path) - before <= RUN_LOCK


def test_odd_images_decode_and_train(invoke: Cli, tmp_path: Path) -> None:
    case("odd-images")
    from PIL import Image

    root = write_image_classes(tmp_path / "photos")
    Image.new("L", (1, 1), 128).save(root / "cats" / "tiny.png")
    Image.new("CMYK", (20, 20), (0, 128, 255, 0)).save(root / "cats" / "print.jpg")
    frames = [Image.new("P", (16, 16), i) for i in range(3)]
    frames[0].save(root / "dogs" / "moving.gif", save_all=True, append_images=frames[1:])
    write_images(root / "dogs" / "nested" / "deeper", 2, seed=9)
    outcome = train_images(invoke, "photos")
    assert outcome.code == 0, outcome.err[-500:]
    assert "17 labelled images" in " ".join(outcome.err.split())


def test_odd_texts_are_predicted(invoke: Cli, tmp_path: Path, tiny_text_program) -> None:
    case("odd-texts")
    odd = ["", "\x00\x07\x1b[31m", "🎉🎉🔥", "   "]
    pd.DataFrame({"text": odd}).to_csv(tmp_path / "odd.csv", index=False)
    outcome = invoke("predict", tiny_text_program.path, "odd.csv")
    assert outcome.code == 0, outcome
    assert len(pd.read_csv(io.StringIO(outcome.out))) == len(odd)


def test_a_text_file_that_is_not_utf8(invoke: Cli, tmp_path: Path, tiny_text_program) -> None:
    case("text-not-utf8")
    (tmp_path / "new.csv").write_bytes("text\nfree prize\nà bientôt\n".encode("latin-1"))
    predict_refused(
        invoke,
        tmp_path,
        tiny_text_program.path,
        "new.csv",
        "new.csv, line 3",
        "not valid UTF-8",
        "--encoding",
    )
