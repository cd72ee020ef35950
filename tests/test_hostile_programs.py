"""Programs from strangers: every hostile program is refused on load — by `inspect`, by `predict` on
ONNX Runtime and on torch — with exit code 2, a message naming the file and the problem, no
traceback, and nothing of a planted payload run.

Each case starts from a copy of a small trained program, tampers with it, and (unless the case is
about the hashes) re-records the tampered file's sha256, so the check under test is what refuses it.
`HOSTILE_PROGRAMS` lists them, one line each.
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

import pytest

from tests.test_errors import (  # the fixtures are taken with request.getfixturevalue
    Outcome,
    assert_user_error,
    cli,  # noqa: F401
    edit_manifest,
    flip_byte,
    in_tmp,  # noqa: F401
    program_copy,  # noqa: F401
    replace_file,
    write_copy,
)

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
    onnx = pytest.importorskip("onnx")
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
            (MANIFEST, "'architecture.mlp.width'", "less than or equal to 16384")),
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
]  # fmt: skip

COMMANDS = {
    "inspect": ["inspect", "program"],
    "predict-onnx": ["predict", "program", "inputs.csv"],
    "predict-torch": ["predict", "program", "inputs.csv", "--runtime", "torch"],
}


@pytest.fixture
def text_copy(tmp_path: Path, text_program) -> Path:
    return Path(shutil.copytree(text_program.path, tmp_path / "program"))


@pytest.mark.parametrize("case", HOSTILE_PROGRAMS, ids=[case.id for case in HOSTILE_PROGRAMS])
def test_hostile_program_is_refused(
    case: Hostile, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run: Callable[..., Outcome] = request.getfixturevalue("cli")
    program = request.getfixturevalue("text_copy" if case.text else "program_copy")
    if case.text:
        (tmp_path / "inputs.csv").write_text("text\nfree prize now\n", encoding="utf-8")
    else:
        write_copy(tmp_path / "inputs.csv")
    case.make(program, tmp_path)
    for command, args in COMMANDS.items():
        outcome = run(*args)
        assert_user_error(outcome, *case.fragments)
        assert not (tmp_path / MARKER).exists(), f"{command}: a payload ran"


def test_the_payload_is_live(tmp_path: Path) -> None:
    """The pickle cases mean something: unpickling their payload does create the marker."""
    pickle.loads(pickle.dumps(Payload(tmp_path / MARKER)))
    assert (tmp_path / MARKER).exists()


def test_unknown_fields_are_ignored(request: pytest.FixtureRequest) -> None:
    """By the format's policy an older reader ignores fields it does not know: they change nothing."""
    run: Callable[..., Outcome] = request.getfixturevalue("cli")
    program: Path = request.getfixturevalue("program_copy")

    def add_fields(manifest: dict) -> None:
        manifest["exec"] = "import os; os.system('touch payload-ran')"
        manifest["architecture"]["activation"] = "eval"

    edit_manifest(program, add_fields)
    outcome = run("inspect", "program", "--json")
    assert outcome.code == 0
    shown = json.loads(outcome.out)
    assert "exec" not in shown and "activation" not in shown["architecture"]
    assert not Path(MARKER).exists()
