"""Hostile programs: how each is made from a copy of a small trained program, and what the refusal
must say. `HOSTILE_PROGRAMS` lists them, one line each; `tests/test_hostile_programs.py` runs each
against `inspect` and `predict` on both runtimes, and `tests/hostile/make.py` writes them out.

Each case tampers with `program` (a copy) inside `here` (the case's folder) and, unless the case is
about the hashes, re-records the tampered file's sha256, so the check under test is what refuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle  # noqa: TID251 (hostile payloads are made here, never read from a program)
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.test_errors import edit_manifest, flip_byte, replace_file, write_copy

MARKER = "payload-ran"  # a planted payload would create this file in the test's directory


class Payload:
    """Unpickling this creates the marker (a directory): proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


# --- building hostile files ---------------------------------------------------------------------


def safetensors_raw(header: dict, data: bytes) -> bytes:
    """A safetensors file written by hand, so that its header can lie."""
    encoded = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(encoded)) + encoded + data


def f32(shape: list[int], start: int, end: int) -> dict:
    return {"dtype": "F32", "shape": shape, "data_offsets": [start, end]}


def onnx_with_external_initializer(program: Path, location: str) -> bytes:
    """The program's own graph with its first initializer moved to an external file."""
    import onnx

    model = onnx.load_from_string((program / "model.onnx").read_bytes())
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in {"location": location, "offset": "0", "length": "64"}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the cases: each tampers with `program` (a copy), `here` is the test's directory --------------


def garbage_onnx(program: Path, here: Path) -> None:
    replace_file(program, "model.onnx", b"garbage, not a graph")


def empty_onnx(program: Path, here: Path) -> None:
    replace_file(program, "model.onnx", b"")


def onnx_external_relative(program: Path, here: Path) -> None:
    (here / "secret.bin").write_bytes(b"s" * 64)
    replace_file(program, "model.onnx", onnx_with_external_initializer(program, "../secret.bin"))


def onnx_external_absolute(program: Path, here: Path) -> None:
    replace_file(program, "model.onnx", onnx_with_external_initializer(program, "/etc/passwd"))


def pickle_weights(program: Path, here: Path) -> None:
    replace_file(program, "weights.safetensors", pickle.dumps({"w": Payload(here / MARKER)}))


def torch_save_weights(program: Path, here: Path) -> None:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"w": Payload(here / MARKER)}, buffer)
    replace_file(program, "weights.safetensors", buffer.getvalue())


def huge_header(program: Path, here: Path) -> None:
    replace_file(program, "weights.safetensors", (2**62).to_bytes(8, "little") + b"{}")


def overlapping_offsets(program: Path, here: Path) -> None:
    header = {"a": f32([2], 0, 8), "b": f32([2], 0, 8)}
    replace_file(program, "weights.safetensors", safetensors_raw(header, bytes(8)))


def offsets_past_the_end(program: Path, here: Path) -> None:
    header = {"a": f32([2], 0, 8), "b": f32([2], 8, 16)}
    replace_file(program, "weights.safetensors", safetensors_raw(header, bytes(8)))


def shape_mismatch(program: Path, here: Path) -> None:
    header = {"a": f32([1000, 1000], 0, 8)}
    replace_file(program, "weights.safetensors", safetensors_raw(header, bytes(8)))


def unknown_dtype(program: Path, here: Path) -> None:
    header = {"a": {"dtype": "PICKLE", "shape": [8], "data_offsets": [0, 8]}}
    replace_file(program, "weights.safetensors", safetensors_raw(header, bytes(8)))


def giant_architecture(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m["architecture"].update(width=16384, depth=64))


def width_a_million(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m["architecture"].update(width=1_000_000))


def inconsistent_outputs(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m["architecture"].update(n_outputs=5))


def unknown_model_input(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m.update(model_inputs=["numeric", "__import__"]))


def unknown_family(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m["architecture"].update(family="pickle"))


def write_manifest(text: str) -> Callable[[Path, Path], None]:
    def write(program: Path, here: Path) -> None:
        (program / "program.json").write_text(text, encoding="utf-8")

    return write


def future_version(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m.update(format_version=99))


def missing_weights(program: Path, here: Path) -> None:
    (program / "weights.safetensors").unlink()


def listed_name(name: str) -> Callable[[Path, Path], None]:
    def list_it(program: Path, here: Path) -> None:
        edit_manifest(program, lambda m: m["files"].update({name: "0" * 64}))

    return list_it


def symlink_to_a_copy(name: str) -> Callable[[Path, Path], None]:
    """The file moved outside the program and linked back: its sha256 still matches."""

    def link(program: Path, here: Path) -> None:
        shutil.move(program / name, here / f"outside-{name}")
        (program / name).symlink_to(here / f"outside-{name}")

    return link


def symlink_to_passwd(program: Path, here: Path) -> None:
    data = Path("/etc/passwd").read_bytes()
    (program / "weights.safetensors").unlink()
    (program / "weights.safetensors").symlink_to("/etc/passwd")
    edit_manifest(program, lambda m: m["files"].update({"weights.safetensors": sha256_of(data)}))


def fifo_weights(program: Path, here: Path) -> None:
    (program / "weights.safetensors").unlink()
    os.mkfifo(program / "weights.safetensors")


def hash_mismatch(program: Path, here: Path) -> None:
    flip_byte(program / "model.onnx")


def malformed_hash(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m["files"].update({"model.onnx": "not a sha256"}))


def tokenizer_not_json(program: Path, here: Path) -> None:
    replace_file(program, "tokenizer.json", b"{ not json")


def tokenizer_refused(program: Path, here: Path) -> None:
    replace_file(program, "tokenizer.json", b'{"model": "not a tokenizer"}')


def tokenizer_outside(program: Path, here: Path) -> None:
    shutil.copyfile(program / "tokenizer.json", here / "tokenizer.json")

    def point_outside(manifest: dict) -> None:
        manifest["preprocessing"]["text"]["tokenizer"] = "../tokenizer.json"
        manifest["files"]["../tokenizer.json"] = manifest["files"].pop("tokenizer.json")

    edit_manifest(program, point_outside)


def endless_text(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m["preprocessing"]["text"].update(max_length=10**9))


def repeated_key(program: Path, here: Path) -> None:
    """`"task"` twice: readers disagree on which one wins, so the manifest is refused."""
    text = (program / "program.json").read_text(encoding="utf-8").lstrip()
    (program / "program.json").write_text('{"task": "regression", ' + text[1:], encoding="utf-8")


def ten_megabyte_string(program: Path, here: Path) -> None:
    edit_manifest(program, lambda m: m.update(task="x" * 10_000_000))


def oversized_manifest(program: Path, here: Path) -> None:
    """program.json grown past 64 MiB (sparse: no disk used), so it is refused before reading."""
    with (program / "program.json").open("r+b") as handle:
        handle.truncate(64 * 2**20 + 1)


def trailing_garbage(name: str) -> Callable[[Path, Path], None]:
    def append(program: Path, here: Path) -> None:
        replace_file(program, name, (program / name).read_bytes() + b"trailing garbage")

    return append


def deep_tokenizer(program: Path, here: Path) -> None:
    replace_file(program, "tokenizer.json", b"[" * 1_000_000)


def write_inputs(here: Path, text: bool) -> None:
    """The rows each command predicts on: `inputs.csv` beside the program."""
    if text:
        (here / "inputs.csv").write_text("text\nfree prize now\n", encoding="utf-8")
    else:
        write_copy(here / "inputs.csv")


@dataclass(frozen=True)
class Hostile:
    """A hostile program: how it is made, what it is, and what the refusal must say."""

    id: str
    description: str
    make: Callable[[Path, Path], None]
    fragments: tuple[str, ...]
    text: bool = False  # built from the text program (else the titanic one)


WEIGHTS, ONNX, MANIFEST = "weights.safetensors", "model.onnx", "program.json"
UNREADABLE = "not a readable safetensors file"

HOSTILE_PROGRAMS = [
    Hostile("onnx-garbage", "model.onnx is not protobuf", garbage_onnx,
            (ONNX, "not a loadable ONNX graph")),
    Hostile("onnx-empty", "model.onnx is empty", empty_onnx, (ONNX, "no ir_version or graph")),
    Hostile("onnx-external-relative", "an initializer's data in ../secret.bin",
            onnx_external_relative, (ONNX, "keeps its data in another file", "'../secret.bin'")),
    Hostile("onnx-external-absolute", "an initializer's data in /etc/passwd",
            onnx_external_absolute, (ONNX, "keeps its data in another file", "'/etc/passwd'")),
    Hostile("weights-pickle", "a pickle whose payload creates a file", pickle_weights,
            (WEIGHTS, UNREADABLE)),
    Hostile("weights-torch-save", "torch.save's zip of a pickle with a payload",
            torch_save_weights, (WEIGHTS, UNREADABLE)),
    Hostile("weights-huge-header", "a header length of 2^62 bytes", huge_header,
            (WEIGHTS, UNREADABLE, "header claims")),
    Hostile("weights-overlapping", "two tensors on the same bytes", overlapping_offsets,
            (WEIGHTS, UNREADABLE, "overlaps")),
    Hostile("weights-past-the-end", "data_offsets beyond the file", offsets_past_the_end,
            (WEIGHTS, UNREADABLE, "the file has 8")),
    Hostile("weights-shape-mismatch", "a [1000, 1000] float32 tensor in 8 bytes",
            shape_mismatch, (WEIGHTS, UNREADABLE, "needs 4,000,000 bytes")),
    Hostile("weights-unknown-dtype", "a tensor of dtype PICKLE", unknown_dtype,
            (WEIGHTS, UNREADABLE, "unknown dtype 'PICKLE'")),
    Hostile("giant-architecture", "64 layers of 16384 (17 G parameters) on a small weights file",
            giant_architecture, (WEIGHTS, "weights do not fit the architecture", "at least")),
    Hostile("width-a-million", "an MLP width of 1,000,000", width_a_million,
            (MANIFEST, "'architecture.width'", "less than or equal to 16384")),
    Hostile("inconsistent-outputs", "5 outputs for 2 classes", inconsistent_outputs,
            (MANIFEST, "inconsistent manifest at 'architecture.n_outputs'")),
    Hostile("unknown-model-input", "a network input named __import__", unknown_model_input,
            (MANIFEST, "unknown network inputs", "__import__")),
    Hostile("unknown-family", "an architecture family learnt does not know", unknown_family,
            (MANIFEST, "'architecture'", "pickle")),
    Hostile("manifest-not-json", "program.json is not JSON", write_manifest("{ not json"),
            (MANIFEST, "not valid JSON")),
    Hostile("manifest-list", "program.json is a JSON list", write_manifest("[1, 2]"),
            (MANIFEST, "expected a JSON object")),
    Hostile("manifest-deep", "program.json nested 100,000 deep", write_manifest("[" * 100_000),
            (MANIFEST, "nested too deeply")),
    Hostile("manifest-long-number", "a 10,000-digit number",
            write_manifest('{"format_version": 1' + "0" * 10_000 + "}"),
            (MANIFEST, "not valid JSON", "integer string conversion")),
    Hostile("future-version", "format_version 99", future_version,
            (MANIFEST, "format version 99 is not supported", "upgrade learnt")),
    Hostile("missing-weights", "weights.safetensors deleted", missing_weights,
            (WEIGHTS, "missing from the program")),
    Hostile("name-dotdot", "the manifest lists ../data.csv", listed_name("../data.csv"),
            ("'../data.csv'", "points outside the program")),
    Hostile("name-absolute", "the manifest lists /etc/passwd", listed_name("/etc/passwd"),
            ("'/etc/passwd'", "points outside the program")),
    Hostile("name-dot", "the manifest lists ..", listed_name(".."),
            ("'..'", "points outside the program")),
    Hostile("symlink-weights-passwd", "weights.safetensors -> /etc/passwd, its sha256 recorded",
            symlink_to_passwd, (WEIGHTS, "is a symbolic link")),
    Hostile("symlink-weights-copy", "weights.safetensors -> the same bytes outside the program",
            symlink_to_a_copy(WEIGHTS), (WEIGHTS, "is a symbolic link")),
    Hostile("symlink-manifest", "program.json -> a copy outside the program",
            symlink_to_a_copy(MANIFEST), (MANIFEST, "is a symbolic link")),
    Hostile("fifo-weights", "weights.safetensors is a named pipe (reading it would hang)",
            fifo_weights, (WEIGHTS, "not a regular file")),
    Hostile("hash-mismatch", "one byte of model.onnx flipped", hash_mismatch,
            (ONNX, "sha256 mismatch")),
    Hostile("hash-malformed", "a recorded sha256 that is not one", malformed_hash,
            (MANIFEST, "invalid manifest at 'files.model.onnx'")),
    Hostile("tokenizer-not-json", "tokenizer.json is not JSON", tokenizer_not_json,
            ("tokenizer.json", "not a readable tokenizer", "not valid JSON"), text=True),
    Hostile("tokenizer-refused", "tokenizer.json that the tokenizers library refuses",
            tokenizer_refused, ("tokenizer.json", "not a readable tokenizer"), text=True),
    Hostile("tokenizer-outside", "the tokenizer named ../tokenizer.json", tokenizer_outside,
            ("'../tokenizer.json'", "points outside the program"), text=True),
    Hostile("text-endless", "a text max_length of 10^9", endless_text,
            (MANIFEST, "'preprocessing.text.max_length'"), text=True),
    Hostile("manifest-repeated-key", "program.json names \"task\" twice", repeated_key,
            (MANIFEST, "not valid JSON", "key 'task' appears twice")),
    Hostile("manifest-10mb-string", "a 10 MB string as the task", ten_megabyte_string,
            (MANIFEST, "invalid manifest at 'task'")),
    Hostile("manifest-oversized", "program.json larger than 64 MiB", oversized_manifest,
            (MANIFEST, "larger than 64 MiB")),
    Hostile("weights-trailing-garbage", "bytes appended after the last tensor",
            trailing_garbage(WEIGHTS), (WEIGHTS, UNREADABLE, "the file has")),
    Hostile("onnx-trailing-garbage", "bytes appended after the graph", trailing_garbage(ONNX),
            (ONNX, "not a loadable ONNX graph")),
    Hostile("tokenizer-deep", "tokenizer.json nested 1,000,000 lists deep", deep_tokenizer,
            ("tokenizer.json", "not a readable tokenizer", "nested too deeply"), text=True),
]  # fmt: skip

COMMANDS = {
    "inspect": ["inspect", "program"],
    "predict-onnx": ["predict", "program", "inputs.csv"],
    "predict-torch": ["predict", "program", "inputs.csv", "--runtime", "torch"],
}
