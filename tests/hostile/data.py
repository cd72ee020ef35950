"""Hostile and odd data: how each input is written, the `learnt` command that reads it, and what
must come of it. `HOSTILE_DATA` lists the cases, one line each; `tests/test_hostile_data.py` runs
each (plus closer checks for some), and `tests/hostile/make.py` writes them out as a corpus.

A case writes its files into a folder (`make(folder)`) and runs `learnt ARGS` there. Arguments
`@titanic`, `@text` and `@images` stand for a small trained program of that kind. A refusal
(exit code 2) must name the problem with every fragment, print no traceback and write nothing; any
other exit code is a documented handling, checked further by `check` where one is given.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnt
from tests.test_errors import (
    TITANIC,
    Outcome,
    write_copy,
    write_empty,
    write_header_only,
    write_label_all_empty,
    write_latin1,
    write_one_class,
)

TITANIC_PROGRAM, TEXT_PROGRAM, IMAGE_PROGRAM = "@titanic", "@text", "@images"
PROGRAMS = (TITANIC_PROGRAM, TEXT_PROGRAM, IMAGE_PROGRAM)

Make = Callable[[Path], None]
Check = Callable[[Outcome, Path], None]


@dataclass(frozen=True)
class DataCase:
    """A hostile or odd input: what it is, how it is made, the command, and what must come of it."""

    name: str
    description: str
    outcome: str  # in words, for the documentation
    make: Make
    args: tuple[str, ...]
    fragments: tuple[str, ...] = ()  # each in the message (stderr)
    code: int = 2
    stdin: str | None = None  # a file of the case's folder given as standard input
    check: Check | None = None  # further assertions on the outcome and the folder
    root_skips: bool = False  # root writes into read-only folders: the case means nothing as root


# --- small tables, texts and images -----------------------------------------------------------------


def small_table(rows: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows).round(3),
            "c": rng.choice(["a", "b", "c"], rows),
            "y": np.arange(rows) % 2,
        }
    )


def features(rows: int = 5) -> pd.DataFrame:
    """Titanic rows without the label: what the titanic program reads."""
    return pd.read_csv(TITANIC).head(rows).drop(columns="survived")


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def texts(count: int) -> list[str]:
    words = ["prize", "win", "free", "call", "now", "lunch", "tomorrow", "office", "report"]
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, 7)) + f" number {i}" for i in range(count)]


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


# --- the small programs the prediction cases use --------------------------------------------------


def train_titanic_program(folder: Path) -> learnt.Program:
    """A titanic program, one epoch (what it predicts does not matter)."""
    return learnt.train(TITANIC, label="survived", epochs=1, out=folder / "run", force=True)


def train_text_program(folder: Path, arch: str = "bag") -> learnt.Program:
    """A program on 40 made-up texts, one epoch."""
    folder.mkdir(parents=True, exist_ok=True)
    body = texts(40)
    labels = [("spam" if "prize" in t else "ham") for t in body]
    pd.DataFrame({"text": body, "label": labels}).to_csv(folder / "texts.csv", index=False)
    return learnt.train(
        folder / "texts.csv", label="label", epochs=1, init="random", arch=arch, out=folder / "run"
    )


def train_image_program(folder: Path) -> learnt.Program:
    """A CNN program on 12 random 12-pixel images of two classes, one epoch."""
    photos = write_image_classes(folder / "photos")
    return learnt.train(photos, epochs=1, init="random", out=folder / "run")


# --- writers: each writes a case's files into `folder` ---------------------------------------------


def table_csv(change: Callable[[pd.DataFrame], pd.DataFrame] = lambda f: f, rows: int = 30) -> Make:
    """`t.csv`: a small table (x, c, y), changed by `change`."""
    return lambda folder: change(small_table(rows)).to_csv(folder / "t.csv", index=False)


def text_file(name: str, text: str, encoding: str = "utf-8") -> Make:
    return lambda folder: (folder / name).write_bytes(text.encode(encoding))


def raw_file(name: str, data: bytes) -> Make:
    return lambda folder: (folder / name).write_bytes(data)


def all_of(*makes: Make) -> Make:
    def make(folder: Path) -> None:
        for each in makes:
            each(folder)

    return make


def inf_label(folder: Path) -> None:
    frame = small_table().astype({"y": float})
    frame.loc[4, "y"] = np.inf
    frame.to_csv(folder / "t.csv", index=False)


def jsonl_with_list(folder: Path) -> None:
    records = small_table().to_dict("records")
    records[3]["x"] = [1, 2]
    write_jsonl(folder / "t.jsonl", records)


def jsonl_with_object(folder: Path) -> None:
    records = features().to_dict("records")
    records[1]["fare"] = {"amount": 7}
    write_jsonl(folder / "new.jsonl", records)


LATIN1_TEXTS = "free prize now\nrendez-vous à midi\n".encode("latin-1")


def under_proc(folder: Path) -> None:
    write_copy(folder / "titanic.csv")


def under_a_file(folder: Path) -> None:
    write_copy(folder / "titanic.csv")
    (folder / "file").write_text("a file\n", encoding="utf-8")


def in_a_read_only_folder(folder: Path) -> None:
    write_copy(folder / "titanic.csv")
    (folder / "locked").mkdir(mode=0o555)


def with_features(make: Make) -> Make:
    """`make`, plus `new.csv`: five titanic rows to predict."""
    return all_of(make, lambda folder: features().to_csv(folder / "new.csv", index=False))


def write_16_bit_png(path: Path) -> None:
    """A grey ramp from 0 to 65535, saved as a 16-bit PNG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    ramp = np.tile(np.linspace(0, 65535, 32), (32, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(path)


def deep_png_classes(folder: Path) -> None:
    for name in ("cats", "dogs"):
        for i in range(6):
            write_16_bit_png(folder / "photos" / name / f"{i}.png")


def unseen_booleans(folder: Path) -> None:
    frame = features(1)
    frame = pd.concat([frame.assign(sex=value) for value in ("other", "", "female")])
    frame.to_csv(folder / "new.csv", index=False)


def numeric_typo(folder: Path) -> None:
    frame = pd.DataFrame({"age": np.arange(40) * 1.5 + 3, "y": np.arange(40) % 2})
    frame = frame.astype({"age": object})
    frame.loc[7, "age"] = "twenty"
    frame.to_csv(folder / "t.csv", index=False)


def inf_feature(folder: Path) -> None:
    frame = small_table()
    frame.loc[6, "x"] = np.inf
    frame.to_csv(folder / "t.csv", index=False)


def minus_inf_at_prediction(folder: Path) -> None:
    frame = features()
    frame.loc[2, "fare"] = -np.inf
    frame.to_csv(folder / "new.csv", index=False)


def symlink_loop(folder: Path) -> None:
    root = write_image_classes(folder / "photos")
    (root / "self").symlink_to(".")
    (root / "cats" / "up").symlink_to("..")
    (root / "dogs" / "outside.png").symlink_to(write_images(folder / "elsewhere", 1)[0])


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


def compressed_csv(kind: str) -> Make:
    return lambda folder: (folder / "t.csv").write_bytes(compressed(kind, TITANIC.read_bytes()))


def long_field(folder: Path) -> None:
    frame = small_table(20).assign(note="short")
    frame.loc[0, "note"] = "x" * 10_000_000
    frame.to_csv(folder / "t.csv", index=False)


def broken_jsonl_line(folder: Path) -> None:
    lines = [json.dumps(r) for r in small_table().to_dict("records")]
    lines[10] = '{"x": 3, '
    (folder / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


BAD_OF_300 = tuple(f"new/{i:03d}.png" for i in range(300))


def one_bad_of_300(folder: Path) -> None:
    paths = write_images(folder / "new", 300, side=4)
    paths[150].write_bytes(b"not an image")


def wide_table(folder: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.normal(size=(22, 2000)).round(3), columns=[f"f{i}" for i in range(2000)]
    )
    frame["y"] = np.arange(22) % 2
    frame.to_csv(folder / "wide.csv", index=False)


def write_parquet_half(folder: Path) -> None:
    buffer = io.BytesIO()
    small_table().to_parquet(buffer)
    data = buffer.getvalue()
    (folder / "t.parquet").write_bytes(data[: len(data) // 2])


def with_bom(folder: Path) -> None:
    data = small_table().to_csv(index=False).encode("utf-8")
    (folder / "t.csv").write_bytes(b"\xef\xbb\xbf" + data)


def quoted_newlines(folder: Path) -> None:
    frame = small_table()
    frame.assign(c=frame.c + ' "quoted"\nsecond line').to_csv(folder / "t.csv", index=False)


def reordered_with_extra(folder: Path) -> None:
    frame = features()
    frame[list(reversed(frame.columns))].assign(extra="ignored").to_csv(
        folder / "reordered.csv", index=False
    )


def values_as_strings(folder: Path) -> None:
    frame = features().astype(str).replace("nan", "")
    write_jsonl(folder / "strings.jsonl", frame.to_dict("records"))


def unseen_categories(folder: Path) -> None:
    features(2).assign(embarked=["Z", "Atlantis"]).to_csv(folder / "new.csv", index=False)


def bad_image(write: Make) -> Make:
    """Two class folders of good images, and `photos/dogs/bad.png` written by `write`."""

    def make(folder: Path) -> None:
        root = write_image_classes(folder / "photos")
        write(root / "dogs" / "bad.png")

    return make


def write_bomb(path: Path) -> None:
    from PIL import Image

    Image.new("1", (10_000, 9_000)).save(path)  # 90 Mpx: over Pillow's decompression-bomb limit


def write_truncated(path: Path) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32), np.uint8)).save(
        buffer, "PNG"
    )
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_huge_declared_png(path: Path) -> None:
    """A 100 KB-scale PNG whose header declares 100,000 × 100,000 pixels."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(bytes(100)))
        + png_chunk(b"IEND", b"")
    )


def odd_images(folder: Path) -> None:
    from PIL import Image

    root = write_image_classes(folder / "photos")
    Image.new("L", (1, 1), 128).save(root / "cats" / "tiny.png")
    Image.new("CMYK", (20, 20), (0, 128, 255, 0)).save(root / "cats" / "print.jpg")
    frames = [Image.new("P", (16, 16), i) for i in range(3)]
    frames[0].save(root / "dogs" / "moving.gif", save_all=True, append_images=frames[1:])
    write_images(root / "dogs" / "nested" / "deeper", 2, seed=9)


ODD_TEXTS = ["", "\x00\x07\x1b[31m", "🎉🎉🔥", "   "]


def odd_texts(folder: Path) -> None:
    pd.DataFrame({"text": ODD_TEXTS}).to_csv(folder / "odd.csv", index=False)


def nul_in_a_number(folder: Path) -> None:
    rows = [f"{i},{i % 2}\n" for i in [*range(10), -1, *range(30)]]
    (folder / "t.csv").write_text("x,y\n" + "".join(rows).replace("-1,", "1\x00,"), "utf-8")


def zero_row_parquet(folder: Path) -> None:
    frame = small_table().head(0)
    frame.to_parquet(folder / "t.parquet")


def labels_as_text(folder: Path) -> None:
    write_jsonl(folder / "t.jsonl", [{"x": i, "y": "1"} for i in range(30)])


def jsonl_as_an_array(folder: Path) -> None:
    records = small_table().to_dict("records")
    (folder / "t.jsonl").write_text(json.dumps(records) + "\n", encoding="utf-8")


def huge_image_in_a_folder(folder: Path) -> None:
    root = write_image_classes(folder / "photos")
    write_huge_declared_png(root / "dogs" / "huge.png")


def missing_columns(*dropped: str) -> Make:
    return lambda folder: (
        features().drop(columns=list(dropped)).to_csv(folder / "new.csv", index=False)
    )


def titanic_as(name: str, write: Callable[[Path], None] = write_copy) -> Make:
    return lambda folder: write(folder / name)


# --- checks on documented (non-error) outcomes ------------------------------------------------------


def message(outcome: Outcome) -> str:
    return " ".join(outcome.err.split())


def predictions(outcome: Outcome) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(outcome.out))


def predicts_rows(count: int) -> Check:
    def check(outcome: Outcome, folder: Path) -> None:
        assert len(predictions(outcome)) == count

    return check


def not_in_message(*words: str) -> Check:
    def check(outcome: Outcome, folder: Path) -> None:
        for word in words:
            assert word not in outcome.err, word

    return check


def unseen_boolean_is_missing(outcome: Outcome, folder: Path) -> None:
    other, missing, female = predictions(outcome)["proba_1"].tolist()
    assert other == pytest.approx(missing)  # like a missing value, not the false value (female)
    assert other != pytest.approx(female)


def symlinks_left_out(outcome: Outcome, folder: Path) -> None:
    assert learnt.load(folder / "run" / "program").manifest.labels.classes == ["cats", "dogs"]
    assert "left out 3 symbolic links" in message(outcome)


def one_bad_image_is_short(outcome: Outcome, folder: Path) -> None:
    assert len(outcome.err) < 600


def small_network_for_a_wide_table(outcome: Outcome, folder: Path) -> None:
    assert "2,000 inputs but only" in message(outcome)
    size = sum(p.stat().st_size for p in (folder / "run" / "program").iterdir())
    assert size < 10_000_000  # width 64 and no periodic embeddings: not 2000 × 17 × 1024 weights


def features_x_and_c(outcome: Outcome, folder: Path) -> None:
    schema = learnt.load(folder / "run" / "program").manifest.input_schema
    assert [f.name for f in schema.features] == ["x", "c"]


def seventeen_images(outcome: Outcome, folder: Path) -> None:
    assert "17 labelled images" in message(outcome)


# --- the cases ----------------------------------------------------------------------------------------


def train(name: str, *args: str) -> tuple[str, ...]:
    """`learnt train NAME ARGS`, one epoch, into `run/`."""
    return ("train", name, *args, "--epochs", "1", "--out", "run")


def train_images(folder: str = "photos") -> tuple[str, ...]:
    return ("train", folder, "--epochs", "1", "--init", "random", "--out", "run")


def predict(program: str, *args: str) -> tuple[str, ...]:
    return ("predict", program, *args)


TRAIN_Y = ("--label", "y")
TRAIN_SURVIVED = ("--label", "survived")
READ_ONLY_OUT = "locked/out"
OUT_SETUPS = {  # an --out that cannot be written: under /proc, under a file, in a read-only folder
    "proc": (under_proc, "/proc/learnt-test/out"),
    "under-file": (under_a_file, "file/out"),
    "read-only": (in_a_read_only_folder, READ_ONLY_OUT),
}


def unwritable_out_cases() -> list[DataCase]:
    cases = []
    for kind, (make, out) in OUT_SETUPS.items():
        root_skips = kind == "read-only"
        cases.append(
            DataCase(f"out-unwritable-train-{kind}", f"learnt train --out {out}",
                     "error naming --out, nothing written", make,
                     ("train", "titanic.csv", *TRAIN_SURVIVED, "--max-steps", "1", "--out", out),
                     (out, "cannot be written"), root_skips=root_skips)
        )  # fmt: skip
        cases.append(
            DataCase(f"out-unwritable-predict-{kind}", f"learnt predict --out {out}.csv",
                     "error naming --out, nothing written", with_features(make),
                     (*predict(TITANIC_PROGRAM, "new.csv"), "--out", f"{out}.csv"),
                     (f"{out}.csv", "cannot be written"), root_skips=root_skips)
        )  # fmt: skip
    return cases


def compressed_cases() -> list[DataCase]:
    return [
        DataCase(f"compressed-{kind}", f"a {kind} file named .csv",
                 "error naming the compression", compressed_csv(kind),
                 train("t.csv", *TRAIN_SURVIVED), ("t.csv", f"{kind}-compressed", "decompress"),
                 check=not_in_message("--encoding"))
        for kind in ("gzip", "zip", "bzip2", "xz", "zstd")
    ]  # fmt: skip


def bad_image_cases() -> list[DataCase]:
    kinds = {
        "zero-byte": ("a zero-byte .png", lambda p: p.write_bytes(b""), "not an image"),
        "truncated": ("a .png cut in half", write_truncated, "corrupt or truncated"),
        "bomb": ("a 90-megapixel .png (decompression bomb)", write_bomb, "decompression-bomb"),
        "huge-declared": ("a small .png declaring 100,000 × 100,000 pixels",
                          write_huge_declared_png, "decompression-bomb"),
    }  # fmt: skip
    return [
        DataCase(f"image-{kind}", f"{what} in a class folder", "error naming the file, --skip-bad",
                 bad_image(write), train_images(), ("bad.png", fragment, "--skip-bad"))
        for kind, (what, write, fragment) in kinds.items()
    ]  # fmt: skip


def sum_cases(*groups: list[DataCase]) -> list[DataCase]:
    return [case for group in groups for case in group]


# Older cases of tests/test_errors.py (the everyday list) are here too, made by its writers.
EVERYDAY_FROM_TEST_ERRORS = [
    DataCase("empty-file", "a zero-byte .csv", "error: the file is empty",
             titanic_as("empty.csv", write_empty), train("empty.csv", *TRAIN_SURVIVED),
             ("empty.csv", "the file is empty", "header row")),
    DataCase("header-only", "a header and no rows", "error: no data rows",
             titanic_as("header.csv", write_header_only), train("header.csv", *TRAIN_SURVIVED),
             ("header.csv", "no data rows")),
    DataCase("label-all-empty", "every label cell empty", "error naming the label column",
             titanic_as("nolabels.csv", write_label_all_empty),
             train("nolabels.csv", *TRAIN_SURVIVED), ("nolabels.csv", "'survived'", "empty")),
    DataCase("single-class", "every label the same", "error: only one class",
             titanic_as("oneclass.csv", write_one_class), train("oneclass.csv", *TRAIN_SURVIVED),
             ("oneclass.csv, column 'survived'", "only one class (1)", "at least two")),
    DataCase("latin-1", "a Latin-1 .csv", "error: not UTF-8, --encoding hint",
             titanic_as("latin.csv", write_latin1), train("latin.csv", *TRAIN_Y),
             ("latin.csv", "UTF-8")),
    DataCase("unsupported-extension", "a CSV named .txt", "error listing the types read",
             titanic_as("titanic.txt"), train("titanic.txt", *TRAIN_SURVIVED),
             ("titanic.txt", "unsupported file type '.txt'", ".csv", ".jsonl", ".parquet")),
    DataCase("folder-as-file", "a folder named data.csv, without class folders",
             "error: found 0 class folders", lambda folder: (folder / "data.csv").mkdir(),
             ("train", "data.csv"), ("data.csv", "found 0 class folders")),
    DataCase("missing-column", "a feature column missing at prediction",
             "error naming the column", missing_columns("age"),
             predict(TITANIC_PROGRAM, "new.csv"),
             ("new.csv", "missing feature column 'age'", "the program reads")),
    DataCase("missing-columns", "two feature columns missing at prediction",
             "error naming both", missing_columns("age", "fare"),
             predict(TITANIC_PROGRAM, "new.csv"),
             ("new.csv", "missing feature columns 'age', 'fare'")),
]  # fmt: skip

HOSTILE_DATA = sum_cases(
    [
        # tracebacks before
        DataCase("regression-on-text", "--task regression on a label holding text",
                 "error: row, column",
                 table_csv(lambda f: f.assign(y=np.where(f.y == 1, "yes", "no"))),
                 train("t.csv", *TRAIN_Y, "--task", "regression"),
                 ("t.csv, row 1, column 'y'", "expected a number", "regression")),
        DataCase("inf-label", "a label holding inf (task inferred)", "error: row, column",
                 inf_label, train("t.csv", *TRAIN_Y),
                 ("t.csv, row 5, column 'y'", "inf", "infinite")),
        DataCase("inf-label-classification", "a label holding inf, --task classification",
                 "error: row, column", inf_label,
                 train("t.csv", *TRAIN_Y, "--task", "classification"),
                 ("t.csv, row 5, column 'y'", "inf", "infinite")),
        DataCase("jsonl-list", "a JSONL value that is a list, at training", "error: line, column",
                 jsonl_with_list, train("t.jsonl", *TRAIN_Y),
                 ("t.jsonl, line 4, column 'x'", "expected a single value", "list")),
        DataCase("jsonl-object", "a JSONL value that is an object, at prediction",
                 "error: line, column", jsonl_with_object, predict(TITANIC_PROGRAM, "new.jsonl"),
                 ("new.jsonl, line 2, column 'fare'", "an object")),
        DataCase("stdin-not-utf8", "Latin-1 bytes on stdin for predict", "error: line, --encoding",
                 raw_file("stdin.txt", LATIN1_TEXTS), predict(TEXT_PROGRAM, "-"),
                 ("stdin, line 2", "not valid UTF-8", "--encoding"), stdin="stdin.txt"),
        DataCase("stdin-latin-1", "the same bytes with --encoding latin-1", "predicted",
                 raw_file("stdin.txt", LATIN1_TEXTS),
                 predict(TEXT_PROGRAM, "-", "--encoding", "latin-1"), code=0, stdin="stdin.txt",
                 check=predicts_rows(2)),
    ],
    unwritable_out_cases(),
    [
        # silently wrong before
        DataCase("png-16-bit", "16-bit grey PNGs", "scaled to 8 bits (65535 → 255), trained",
                 deep_png_classes, train_images(), code=0),
        DataCase("unseen-boolean", "a third value in a two-valued column at prediction",
                 "read as missing", unseen_booleans, predict(TITANIC_PROGRAM, "new.csv"), code=0,
                 check=unseen_boolean_is_missing),
        DataCase("numeric-typo", "'twenty' among numbers (was dropped as id-like)",
                 "error: row, column", numeric_typo, train("t.csv", *TRAIN_Y),
                 ("t.csv, row 8, column 'age'", "expected a number", "'twenty'"),
                 check=not_in_message("id-like")),
        DataCase("inf-feature", "inf in a numeric feature at training", "error: row, column",
                 inf_feature, train("t.csv", *TRAIN_Y),
                 ("t.csv, row 7, column 'x'", "expected a finite number", "inf"),
                 check=not_in_message("RuntimeWarning")),
        DataCase("inf-feature-prediction", "-inf in a numeric feature at prediction",
                 "error: row, column", minus_inf_at_prediction, predict(TITANIC_PROGRAM, "new.csv"),
                 ("new.csv, row 3, column 'fare'", "finite", "-inf")),
        DataCase("symlink-loop", "`self -> .`, `up -> ..` and an outside link in an image folder",
                 "left out and counted", symlink_loop, train_images(), code=0,
                 check=symlinks_left_out),
        DataCase("nul-in-a-number", "a NUL byte after a number in a CSV (read as 1 before)",
                 "error: row, column", nul_in_a_number, train("t.csv", *TRAIN_Y),
                 ("t.csv, row 11, column 'x'", "expected a number", "'1\\x00'")),
        # misleading before
    ],
    compressed_cases(),
    [
        DataCase("long-field", "a valid CSV with a 10 MB field", "read (no field-size limit)",
                 long_field, train("t.csv", *TRAIN_Y), code=0, check=not_in_message("malformed")),
        DataCase("jsonl-broken-line", "a broken JSONL line at training", "error: line number",
                 broken_jsonl_line, train("t.jsonl", *TRAIN_Y),
                 ("t.jsonl, line 11", "not valid JSON"), check=not_in_message("position")),
        DataCase("one-bad-of-300", "one bad image among 300 paths", "short error naming it",
                 one_bad_of_300, predict(IMAGE_PROGRAM, *BAD_OF_300),
                 ("new/150.png", "not an image", "and 297 more"), check=one_bad_image_is_short),
        DataCase("wide-table", "2,000 columns, 22 rows", "warning, small network", wide_table,
                 train("wide.csv", *TRAIN_Y), code=0, check=small_network_for_a_wide_table),
        # everyday cases
        DataCase("one-row", "a header and one data row", "error: too few rows / classes",
                 text_file("t.csv", "x,y\n1,0\n"), train("t.csv", *TRAIN_Y),
                 ("t.csv", "only one class")),
        DataCase("features-empty", "every feature column empty", "error: no usable feature columns",
                 text_file("t.csv", "x,z,y\n" + "".join(f",,{i % 2}\n" for i in range(30))),
                 train("t.csv", *TRAIN_Y), ("t.csv", "no usable feature columns", "dropped: x, z")),
        DataCase("duplicate-columns", "two columns with the same name", "error naming them",
                 text_file("t.csv", "x,x,y\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(30))),
                 train("t.csv", *TRAIN_Y), ("t.csv", "duplicate column names", "'x'")),
        DataCase("label-named-twice", "two columns named like the label", "error naming them",
                 text_file("t.csv", "x,y,y\n" + "".join(f"{i},{i % 2},{i % 3}\n" for i in range(30))),
                 train("t.csv", *TRAIN_Y), ("t.csv", "duplicate column names", "'y'")),
        DataCase("header-only-commas", "a header of nothing but commas",
                 "error: duplicate (empty) column names",
                 text_file("t.csv", ",,\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(30))),
                 train("t.csv", *TRAIN_Y), ("t.csv", "duplicate column names", "['']")),
        DataCase("bom", "UTF-8 with a byte-order mark", "read", with_bom, train("t.csv", *TRAIN_Y),
                 code=0, check=features_x_and_c),
        DataCase("semicolons", "a file separated by semicolons", "error naming the separator",
                 text_file("t.csv", "x;y\n" + "".join(f"{i};{i % 2}\n" for i in range(30))),
                 train("t.csv", *TRAIN_Y), ("t.csv", "separated by semicolons", "commas")),
        DataCase("quoted-newlines", "quoted fields holding newlines", "read", quoted_newlines,
                 train("t.csv", *TRAIN_Y), code=0, check=features_x_and_c),
        DataCase("truncated-parquet", "a Parquet file cut in half",
                 "error: cannot be read as Parquet", write_parquet_half,
                 train("t.parquet", *TRAIN_Y), ("t.parquet", "cannot be read as PARQUET")),
        DataCase("parquet-zero-rows", "a Parquet file with columns and no rows",
                 "error: no data rows", zero_row_parquet, train("t.parquet", *TRAIN_Y),
                 ("t.parquet", "no data rows")),
        DataCase("jsonl-array", "a .jsonl holding one JSON array of the records",
                 "error: line 1, one object per line", jsonl_as_an_array, train("t.jsonl", *TRAIN_Y),
                 ("t.jsonl, line 1", "expected a JSON object per line")),
        DataCase("label-one-number", "every label 7", "error: only one class",
                 text_file("t.csv", "x,y\n" + "".join(f"{i},7\n" for i in range(30))),
                 train("t.csv", *TRAIN_Y), ("t.csv, column 'y'", "only one class (7)")),
        DataCase("label-number-as-text", "every label the string \"1\" (JSONL)",
                 "error: only one class", labels_as_text, train("t.jsonl", *TRAIN_Y),
                 ("t.jsonl, column 'y'", "only one class (1)")),
        DataCase("ignore-the-label", "--ignore naming the label column (was ignored silently)",
                 "error: that is the label", titanic_as("titanic.csv"),
                 train("titanic.csv", *TRAIN_SURVIVED, "--ignore", "survived"),
                 ("--ignore survived", "that is the label column")),
        DataCase("columns-reordered", "columns reversed, plus an extra one, at prediction",
                 "predictions as usual", reordered_with_extra,
                 predict(TITANIC_PROGRAM, "reordered.csv"), code=0, check=predicts_rows(5)),
        DataCase("values-as-strings", "every value a JSON string at prediction",
                 "predictions as usual", values_as_strings,
                 predict(TITANIC_PROGRAM, "strings.jsonl"), code=0, check=predicts_rows(5)),
        DataCase("unseen-category", "a category training never saw", "the 'unknown' slot",
                 unseen_categories, predict(TITANIC_PROGRAM, "new.csv"), code=0,
                 check=predicts_rows(2)),
        DataCase("directory-as-table", "a folder named new.csv given to a table program",
                 "error: expected one table file", lambda folder: (folder / "new.csv").mkdir(),
                 predict(TITANIC_PROGRAM, "new.csv"), ("new.csv", "this program reads a table")),
    ],
    bad_image_cases(),
    [
        DataCase("odd-images", "1×1, CMYK, animated images, nested folders", "decoded and trained",
                 odd_images, train_images(), code=0, check=seventeen_images),
        DataCase("odd-texts", "empty, control-character (NUL included) and emoji-only texts",
                 "predicted", odd_texts, predict(TEXT_PROGRAM, "odd.csv"), code=0,
                 check=predicts_rows(len(ODD_TEXTS))),
        DataCase("text-not-utf8", "a text file that is not UTF-8", "error: line, --encoding hint",
                 text_file("new.csv", "text\nfree prize\nà bientôt\n", "latin-1"),
                 predict(TEXT_PROGRAM, "new.csv"),
                 ("new.csv, line 3", "not valid UTF-8", "--encoding")),
    ],
    EVERYDAY_FROM_TEST_ERRORS,
)  # fmt: skip
