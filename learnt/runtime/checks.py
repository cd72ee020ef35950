"""What a program's files must be before anything reads them for use: programs come from strangers.

Loading a program (`learnt.load`, hence `predict`, `evaluate` and `inspect`, on either runtime)
runs every check here after the sha256 of each file has been verified; the runtimes then read each
file's bytes once, check their sha256 again and hand those very bytes on, so the file used is the
file verified. Every failure is a `ProgramError` naming the file and what is wrong.

* **Files** are named by the manifest with plain names (letters, digits, `.`, `_`, `-`; no `/`, no
  leading dot): nothing outside the program directory is ever opened, and a symbolic link or
  anything but a regular file is refused, whatever it points to.
* **weights.safetensors** is parsed here, without torch: an 8-byte little-endian header length (at
  most `MAX_SAFETENSORS_HEADER` and within the file), a JSON object without repeated keys, and for
  each tensor a known dtype, a shape of non-negative integers and `data_offsets` that tile the data
  exactly (in order, no gap, no overlap, each span = elements × dtype size). Nothing is unpickled:
  a pickle is not a safetensors header.
* **Parameters**: the architecture in `program.json` implies at least `parameter_floor()`
  parameters; a weights file holding fewer is refused before any network is built, so a manifest
  cannot make the torch runtime allocate more than its weights file could fill.
* **model.onnx** is walked as protobuf (no `onnx` package needed): it must be a `ModelProto` with a
  graph, and no tensor anywhere in it (initializers, sparse initializers, node attributes, nested
  graphs, functions, training info) may keep its data outside the file (`data_location` EXTERNAL or
  any `external_data` entry): learnt writes self-contained graphs, so a graph that points at
  `../../etc/passwd` is refused before ONNX Runtime sees it. ONNX Runtime is then given the
  verified bytes, not the path, so nothing it reads can resolve against the program directory.
* **tokenizer.json** must be a JSON object (no repeated keys) that the `tokenizers` library
  accepts, when it is installed (`inspect` needs no `text` extra).
* **Consistency**: the architecture must fit the preprocessing (inputs, categories, classes, image
  size, text lengths) so that no encoded input can index past a table.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learnt.errors import ProgramError, first_line
from learnt.runtime.format import (
    MANIFEST,
    ONNX,
    WEIGHTS,
    BertConfig,
    CNNConfig,
    EfficientNetConfig,
    Manifest,
    MLPConfig,
    TransformerConfig,
)

MAX_SAFETENSORS_HEADER = 100 * 2**20
SAFETENSORS_DTYPES = {  # bytes per element; sub-byte and complex types are not used by learnt
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")
MODEL_INPUTS = frozenset({"numeric", "categorical", "image", "tokens", "mask"})


# --- files inside the program directory -----------------------------------------------------------


def check_file_name(name: str, manifest_path: Path) -> None:
    """A plain file name inside the program: no directories, no leading dot, nothing absolute."""
    if FILE_NAME.fullmatch(name) is None:
        raise ProgramError(
            f"{manifest_path}: file name {name!r} points outside the program "
            "(a program's files are plain names inside its directory)",
            file=manifest_path,
            field="files",
        )


def check_regular_file(file: Path) -> None:
    """`file` exists and is a regular file, not a symbolic link (to anywhere) or a device."""
    try:
        mode = os.lstat(file).st_mode
    except FileNotFoundError:
        raise ProgramError(f"{file}: missing from the program", file=file) from None
    if stat.S_ISLNK(mode):
        raise ProgramError(
            f"{file}: is a symbolic link; a program's files must be regular files inside it",
            file=file,
        )
    if not stat.S_ISREG(mode):
        raise ProgramError(f"{file}: not a regular file", file=file)


def open_regular(file: Path) -> Any:
    """Open a program file for reading, refusing symbolic links even if one appears meanwhile."""
    check_regular_file(file)
    try:
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise ProgramError(f"{file}: cannot be read ({error.strerror})", file=file) from error
    handle = os.fdopen(descriptor, "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise ProgramError(f"{file}: not a regular file", file=file)
    return handle


def read_regular(file: Path) -> bytes:
    with open_regular(file) as handle:
        return handle.read()


# --- weights.safetensors ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a safetensors header."""

    dtype: str
    shape: tuple[int, ...]
    start: int  # offsets into the data that follows the header
    end: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


def unreadable_weights(file: Path, why: str) -> ProgramError:
    return ProgramError(
        f"{file}: not a readable safetensors file ({why}); restore it or retrain", file=file
    )


def safetensors_header_length(prefix: bytes, size: int, file: Path) -> int:
    """The header length from the first 8 bytes, bounded by the limit and by the file."""
    if len(prefix) < 8:
        raise unreadable_weights(file, f"{size} bytes, shorter than the 8-byte header length")
    length = int.from_bytes(prefix[:8], "little")
    if length > MAX_SAFETENSORS_HEADER or 8 + length > size:
        raise unreadable_weights(
            file,
            f"the header claims {length:,} bytes; the file has {size:,} and at most "
            f"{MAX_SAFETENSORS_HEADER:,} are allowed",
        )
    return length


def read_safetensors_header(file: Path) -> dict[str, TensorEntry]:
    """The checked header of a safetensors file, reading only the header."""
    with open_regular(file) as handle:
        size = os.fstat(handle.fileno()).st_size
        prefix = handle.read(8)
        length = safetensors_header_length(prefix, size, file)
        return parse_safetensors_header(handle.read(length), size - 8 - length, file)


def check_safetensors(data: bytes, file: Path) -> dict[str, TensorEntry]:
    """The checked header of a safetensors file held in memory."""
    length = safetensors_header_length(data[:8], len(data), file)
    return parse_safetensors_header(data[8 : 8 + length], len(data) - 8 - length, file)


def parse_safetensors_header(raw: bytes, data_size: int, file: Path) -> dict[str, TensorEntry]:
    """Every tensor of the header, checked against a data section of `data_size` bytes."""
    header = parse_json_object(raw, lambda why: unreadable_weights(file, f"header: {why}"))
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise unreadable_weights(file, "__metadata__ is not a map of strings")
    tensors = {name: tensor_entry(name, entry, file) for name, entry in header.items()}
    check_offsets(tensors, data_size, file)
    return tensors


def tensor_entry(name: str, entry: Any, file: Path) -> TensorEntry:
    """One header entry: a known dtype, a shape and offsets whose span fits them."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise unreadable_weights(file, f"tensor {name!r}: expected dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in SAFETENSORS_DTYPES:
        raise unreadable_weights(file, f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(is_count(n) for n in shape):
        raise unreadable_weights(file, f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(is_count, offsets))):
        raise unreadable_weights(
            file, f"tensor {name!r}: data_offsets {offsets!r} are not [begin, end]"
        )
    tensor = TensorEntry(dtype, tuple(shape), offsets[0], offsets[1])
    span = tensor.elements * SAFETENSORS_DTYPES[dtype]
    if tensor.end - tensor.start != span:
        raise unreadable_weights(
            file,
            f"tensor {name!r}: {dtype} {list(shape)} needs {span:,} bytes, its data_offsets "
            f"{offsets} span {tensor.end - tensor.start:,}",
        )
    return tensor


def is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def check_offsets(tensors: dict[str, TensorEntry], data_size: int, file: Path) -> None:
    """The tensors' data tile the data section exactly: in order, no gap, no overlap."""
    position = 0
    for name, tensor in sorted(tensors.items(), key=lambda item: (item[1].start, item[1].end)):
        if tensor.start != position:
            why = "overlaps the tensor before it" if tensor.start < position else "leaves a gap"
            raise unreadable_weights(
                file, f"tensor {name!r}: data_offsets [{tensor.start}, {tensor.end}] {why}"
            )
        position = tensor.end
    if position != data_size:
        raise unreadable_weights(
            file, f"the tensors hold {position:,} bytes of data; the file has {data_size:,}"
        )


def check_parameter_count(manifest: Manifest, tensors: dict[str, TensorEntry], file: Path) -> None:
    """Refuse an architecture that implies more parameters than the weights file holds."""
    floor = manifest.architecture.parameter_floor()
    held = sum(t.elements for t in tensors.values())
    if floor > held:
        raise ProgramError(
            f"{file}: weights do not fit the architecture in {MANIFEST}: "
            f"{manifest.architecture.describe()} has at least {floor:,} parameters, the file "
            f"holds {held:,}; restore the program or retrain",
            file=file,
        )


# --- JSON -------------------------------------------------------------------------------------------


def no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; a ValueError when a key appears twice (which one wins
    differs between readers)."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"key {repeated!r} appears twice")
    return dict(pairs)


def parse_json_object(raw: bytes, error: Any) -> dict[str, Any]:
    """A JSON object from `raw`, refusing repeated keys; `error(why)` makes the exception."""
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=no_repeated_keys)
    except UnicodeDecodeError:
        raise error("not UTF-8") from None
    except RecursionError:
        raise error("nested too deeply") from None
    except ValueError as problem:  # JSONDecodeError, a repeated key, a number too long
        raise error(f"not valid JSON: {problem}") from None
    if not isinstance(data, dict):
        raise error(f"expected a JSON object, got {type(data).__name__}")
    return data


def check_tokenizer_json(raw: bytes, file: Path) -> None:
    """The tokenizer file's bytes are a JSON object the `tokenizers` library accepts (when
    installed)."""

    def error(why: str) -> ProgramError:
        return ProgramError(
            f"{file}: not a readable tokenizer ({why}); restore it or retrain", file=file
        )

    parse_json_object(raw, error)
    if importlib.util.find_spec("tokenizers") is not None:
        from tokenizers import Tokenizer

        try:
            Tokenizer.from_str(raw.decode("utf-8"))
        except Exception as problem:  # tokenizers raises a bare Exception for a bad file
            raise error(first_line(problem, 300)) from None


# --- model.onnx ---------------------------------------------------------------------------------------


class Malformed(Exception):
    """Bytes that are not the protobuf they should be."""


# The messages that can hold tensors, and the fields leading to them (numbers from onnx.proto).
ONNX_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node", 11: "attribute"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {},
}
TENSOR_NAME, TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION, EXTERNAL = 8, 13, 14, 1


def unloadable_graph(file: Path, why: str) -> ProgramError:
    return ProgramError(
        f"{file}: not a loadable ONNX graph ({why}); restore it or retrain", file=file
    )


def check_onnx(data: bytes, file: Path) -> None:
    """`data` is an ONNX model with a graph, and no tensor in it keeps its data in another file."""
    try:
        fields = {number for number, _, _ in protobuf_fields(data, 0, len(data))}
        if not {1, 7} <= fields:  # ir_version and graph
            raise Malformed("not an ONNX model: no ir_version or graph")
        for kind, start, end in onnx_messages(data):
            if kind == "tensor":
                check_tensor_is_inline(data, start, end, file)
    except Malformed as problem:
        raise unloadable_graph(file, str(problem)) from None


def onnx_messages(data: bytes) -> Iterator[tuple[str, int, int]]:
    """Every message of the model that can hold a tensor, depth first, without recursion."""
    stack = [("model", 0, len(data))]
    while stack:
        kind, start, end = stack.pop()
        yield kind, start, end
        children = ONNX_CHILDREN[kind]
        for number, wire, value in protobuf_fields(data, start, end):
            if number in children:
                if wire != 2:
                    raise Malformed(f"field {number} of a {kind} is not a message")
                stack.append((children[number], *value))


def check_tensor_is_inline(data: bytes, start: int, end: int, file: Path) -> None:
    name, locations, external = "", [], False
    for number, wire, value in protobuf_fields(data, start, end):
        if number == TENSOR_NAME and wire == 2:
            name = data[value[0] : value[1]].decode("utf-8", "replace")
        elif number == TENSOR_EXTERNAL_DATA and wire == 2:
            external = True
            locations += external_locations(data, *value)
        elif number == TENSOR_DATA_LOCATION and wire == 0 and value == EXTERNAL:
            external = True
    if external:
        where = f" ({', '.join(map(repr, locations))})" if locations else ""
        raise ProgramError(
            f"{file}: tensor {name!r} keeps its data in another file{where}; a program's graph "
            "must hold all its tensors, so it is refused",
            file=file,
        )


def external_locations(data: bytes, start: int, end: int) -> list[str]:
    """The `location` values of an `external_data` key-value entry."""
    entry = {
        number: data[value[0] : value[1]].decode("utf-8", "replace")
        for number, wire, value in protobuf_fields(data, start, end)
        if wire == 2
    }
    return [entry[2]] if entry.get(1) == "location" and 2 in entry else []


def protobuf_fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of the message in `data[start:end]`; length-delimited
    values are (start, end) offsets into `data`."""
    position = start
    while position < end:
        key, position = varint(data, position, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Malformed("field number 0")
        if wire == 0:
            value, position = varint(data, position, end)
        elif wire == 1 or wire == 5:
            value, position = None, position + (8 if wire == 1 else 4)
        elif wire == 2:
            length, position = varint(data, position, end)
            value, position = (position, position + length), position + length
        else:
            raise Malformed(f"unsupported protobuf wire type {wire}")
        if position > end:
            raise Malformed("truncated")
        yield number, wire, value


def varint(data: bytes, position: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while position < end and shift < 70:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
    raise Malformed("truncated or overlong varint")


# --- the manifest against itself -------------------------------------------------------------------


def check_consistency(manifest: Manifest, manifest_path: Path) -> None:
    """The architecture fits the preprocessing and labels, so no input indexes past a table."""
    for problem, field in manifest_problems(manifest):
        raise ProgramError(
            f"{manifest_path}: inconsistent manifest at '{field}': {problem}",
            file=manifest_path,
            field=field,
        )


def manifest_problems(manifest: Manifest) -> Iterator[tuple[str, str]]:
    arch, pre, labels = manifest.architecture, manifest.preprocessing, manifest.labels
    unknown = [name for name in manifest.model_inputs if name not in MODEL_INPUTS]
    if unknown:
        yield f"unknown network inputs {unknown}", "model_inputs"
    outputs = len(labels.classes) if labels.task == "classification" else 1
    if arch.n_outputs != outputs:
        yield f"{arch.n_outputs} outputs for {outputs} label values", "architecture.n_outputs"
    if isinstance(arch, MLPConfig):
        if len(arch.embedding_dims) != len(arch.cardinalities):
            yield "one embedding size per categorical input expected", "architecture.embedding_dims"
        if arch.cardinalities != pre.cardinalities:
            yield "categories differ from the preprocessing's", "architecture.cardinalities"
        if arch.n_numeric != pre.n_numeric:
            yield "numeric inputs differ from the preprocessing's", "architecture.n_numeric"
    if isinstance(arch, CNNConfig | EfficientNetConfig) and pre.image is not None:
        channels = arch.channels if isinstance(arch, CNNConfig) else 3
        if (pre.image.size, pre.image.channels) != (arch.size, channels):
            yield "image size or channels differ from the architecture's", "preprocessing.image"
        if not len(pre.image.mean) == len(pre.image.std) == pre.image.channels:
            yield "one mean and std per channel expected", "preprocessing.image"
    if pre.text is not None and hasattr(arch, "vocabulary_size"):
        if pre.text.vocabulary_size > arch.vocabulary_size:
            yield "the tokenizer's vocabulary exceeds the network's", "preprocessing.text"
        positions = (
            arch.max_length
            if isinstance(arch, TransformerConfig)
            else arch.positions
            if isinstance(arch, BertConfig)
            else None
        )
        if positions is not None and pre.text.max_length > positions:
            yield "texts longer than the network's positions", "preprocessing.text.max_length"


# --- a whole program --------------------------------------------------------------------------------


def check_contents(path: Path, manifest: Manifest, read: Callable[[str], bytes]) -> None:
    """Every check of this module on the program at `path` (files already named and hashed).

    `read(name)` gives a file's bytes checked against its sha256, so the graph walked here is the
    graph ONNX Runtime later gets (through the same check), and it is walked once.
    """
    check_consistency(manifest, path / MANIFEST)
    weights = path / WEIGHTS
    check_parameter_count(manifest, read_safetensors_header(weights), weights)
    check_onnx(read(ONNX), path / ONNX)
    if (text := manifest.preprocessing.text) is not None:
        check_tokenizer_json(read(text.tokenizer), path / text.tokenizer)
