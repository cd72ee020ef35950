"""`learnt serve`: the HTTP application in-process (FastAPI's TestClient, no network).

Predictions over HTTP equal `Program.predict` to 1e-6 for tables, text and images; every limit
answers with its status (413, 415, 422, 503, 504) and a JSON error, never a 500; concurrent
requests are merged into fewer ONNX Runtime calls. Golden request/response pairs live in
tests/data/serve/ (regenerate with LEARNT_UPDATE_GOLDEN=1).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from learnt.errors import UsageError
from learnt.runtime.predict import Runner, onnx_runner
from learnt.serve import ServeSettings, parse_size
from learnt.serve.app import create_app

DATA = Path(__file__).parent / "data"
TITANIC = DATA / "titanic.csv"
GOLDEN = DATA / "serve"
TOLERANCE = 1e-6


# --- helpers --------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(
    program: Any, runner: Runner | None = None, wait: bool = True, **limits: Any
) -> Iterator[TestClient]:
    """A client of the app for `program` (start-up and shut-down run), ready unless `wait` is off."""
    app = create_app(program, ServeSettings(**limits), runner=runner)
    with TestClient(app) as client:
        if wait:
            wait_ready(client)
        yield client


def wait_ready(client: TestClient, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.02)


def counting(calls: list[int]) -> Runner:
    """ONNX Runtime, recording the rows of every call."""

    def runner(program: Any) -> Any:
        run = onnx_runner(program)

        def counted(encoded: Any) -> np.ndarray:
            calls.append(len(encoded))
            return run(encoded)

        return counted

    return runner


def gated(gate: threading.Event, delay: float = 0.0) -> Runner:
    """ONNX Runtime that waits for `gate` (and then `delay` seconds) before every call."""

    def runner(program: Any) -> Any:
        run = onnx_runner(program)

        def slow(encoded: Any) -> np.ndarray:
            gate.wait(20)
            time.sleep(delay)
            return run(encoded)

        return slow

    return runner


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON objects: NaN → null, numpy scalars → Python."""
    return json.loads(frame.to_json(orient="records"))


def assert_same(answer: dict[str, Any], expected: pd.DataFrame, classes: list[Any]) -> None:
    """HTTP predictions equal `Program.predict`'s: same classes, probabilities within 1e-6."""
    predictions = answer["predictions"]
    assert len(predictions) == len(expected)
    assert [p["prediction"] for p in predictions] == expected["prediction"].tolist()
    for name in classes:
        got = np.array([p["probabilities"][str(name)] for p in predictions])
        np.testing.assert_allclose(got, expected[f"proba_{name}"], rtol=0, atol=TOLERANCE)


def assert_error(response: Any, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    for fragment in fragments:
        assert fragment in error["message"], error
    return error


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` × `height` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def passengers() -> pd.DataFrame:
    return pd.read_csv(TITANIC).head(60)


@pytest.fixture(scope="module")
def titanic_client(titanic_program) -> Iterator[TestClient]:
    with serving(titanic_program) as client:
        yield client


# --- tables ---------------------------------------------------------------------------------------


def test_rows_match_program_predict(titanic_client, titanic_program, passengers) -> None:
    response = titanic_client.post("/predict", json={"rows": records(passengers)})
    assert response.status_code == 200, response.text
    expected = titanic_program.predict(passengers)
    assert_same(response.json(), expected, titanic_program.classes)


def test_csv_body_matches_learnt_predict(titanic_client, titanic_program) -> None:
    body = TITANIC.read_bytes()
    response = titanic_client.post("/predict", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert_same(response.json(), titanic_program.predict(TITANIC), titanic_program.classes)


def test_unknown_categories_and_missing_values_are_accepted(
    titanic_client, titanic_program
) -> None:
    row = {"pclass": 9, "sex": "other", "age": None, "sibsp": "2", "parch": 0, "fare": 8.0}
    row |= {"embarked": "nowhere", "extra column": [1, 2]}
    response = titanic_client.post("/predict", json={"rows": [row]})
    assert response.status_code == 200, response.text
    frame = pd.DataFrame([{k: v for k, v in row.items() if k != "extra column"}])
    assert_same(response.json(), titanic_program.predict(frame), titanic_program.classes)


def test_metadata_comes_from_the_manifest(titanic_client, titanic_program) -> None:
    metadata = titanic_client.get("/metadata").json()
    manifest = titanic_program.manifest
    assert metadata["task"] == "classification"
    assert metadata["classes"] == manifest.labels.classes
    assert metadata["label"] == "survived"
    assert [c["name"] for c in metadata["input_schema"]["features"]] == [
        c.name for c in manifest.input_schema.features
    ]
    assert metadata["metrics"]["accuracy"] == pytest.approx(manifest.metrics["accuracy"])
    assert metadata["training"]["seed"] == manifest.training.seed
    assert set(metadata["files"]) == set(manifest.files)
    assert metadata["inputs"]["categories"]["embarked"] == ["S", "C", "Q"]


def test_openapi_schema_types_each_column(titanic_client) -> None:
    schema = titanic_client.get("/openapi.json").json()
    row = schema["components"]["schemas"]["Row"]
    assert set(row["required"]) == {"pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"}
    assert {"type": "number"} in row["properties"]["age"]["anyOf"]
    embarked = row["properties"]["embarked"]["anyOf"]
    assert {"enum": ["S", "C", "Q"], "type": "string"} in embarked
    assert {"type": "string"} in embarked  # unknown categories are accepted too
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["$ref"] == "#/components/schemas/PredictRequest"
    assert "text/csv" in body
    assert titanic_client.get("/docs").status_code == 200


def test_livez_and_readyz(titanic_program) -> None:
    gate = threading.Event()
    with serving(titanic_program, runner=gated(gate), wait=False) as client:
        assert client.get("/livez").status_code == 200
        waiting = client.get("/readyz")
        assert waiting.status_code == 503 and waiting.headers["retry-after"] == "1"
        gate.set()
        wait_ready(client)
        assert client.get("/readyz").json() == {"status": "ready"}


# --- limits and errors ----------------------------------------------------------------------------


def row_of(passengers: pd.DataFrame) -> dict[str, Any]:
    return records(passengers.head(1))[0]


@pytest.mark.parametrize(
    ("body", "status", "fragments"),
    [
        (b'{"rows": [', 422, ["not valid JSON"]),
        (b"[1, 2]", 422, ["input should be an object"]),
        (b'{"rows": []}', 422, ["rows"]),
        (b'{"rows": [1]}', 422, ["row 1"]),
        (b'{"texts": ["a"]}', 422, ["'rows'"]),
        (b"\xff\xfe", 422, ["not valid JSON"]),
    ],
)
def test_malformed_json_is_422(
    titanic_client, body: bytes, status: int, fragments: list[str]
) -> None:
    response = titanic_client.post(
        "/predict", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, status, *fragments)


def test_wrong_type_names_row_and_column(titanic_client, passengers) -> None:
    rows = records(passengers.head(3))
    rows[2]["age"] = "twenty"
    error = assert_error(
        titanic_client.post("/predict", json={"rows": rows}), 422, "row 3", "'age'"
    )
    assert (error["row"], error["column"], error["type"]) == (3, "age", "DataError")


def test_missing_column_is_named(titanic_client, passengers) -> None:
    row = row_of(passengers)
    del row["fare"]
    error = assert_error(
        titanic_client.post("/predict", json={"rows": [row]}), 422, "missing feature column 'fare'"
    )
    assert error["column"] == "fare"


def test_csv_errors_are_the_clis(titanic_client) -> None:
    wide = b"pclass,sex\n1,male,3\n"
    response = titanic_client.post("/predict", content=wide, headers={"content-type": "text/csv"})
    assert_error(response, 422, "request, row 1: has 3 fields, expected 2")
    narrow = b"pclass,sex\n1,male\n"
    response = titanic_client.post("/predict", content=narrow, headers={"content-type": "text/csv"})
    assert_error(response, 422, "missing feature columns", "'age'")
    bad = TITANIC.read_text().replace(",22,", ",twenty,", 1).encode()
    response = titanic_client.post("/predict", content=bad, headers={"content-type": "text/csv"})
    assert_error(response, 422, "request, row 1, column 'age'", "twenty")


def test_unsupported_media_type_is_415(titanic_client) -> None:
    response = titanic_client.post("/predict", content=b"x", headers={"content-type": "text/plain"})
    assert_error(response, 415, "application/json or text/csv")


def test_too_many_rows_is_422(titanic_program, passengers) -> None:
    with serving(titanic_program, max_rows=5) as client:
        response = client.post("/predict", json={"rows": records(passengers.head(6))})
        assert_error(response, 422, "6 rows", "at most 5", "--max-rows")
        csv = passengers.head(6).to_csv(index=False).encode()
        response = client.post("/predict", content=csv, headers={"content-type": "text/csv"})
        assert_error(response, 422, "at most 5")
        assert (
            client.post("/predict", json={"rows": records(passengers.head(5))}).status_code == 200
        )


def test_body_over_the_cap_is_413(titanic_program, passengers) -> None:
    with serving(titanic_program, max_body=1000) as client:
        body = json.dumps({"rows": records(passengers)}).encode()
        response = client.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
        assert_error(response, 413, "over 1,000 bytes", "--max-body")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield from (body[i : i + 300] for i in range(0, len(body), 300))

        response = client.post(
            "/predict", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_error(response, 413, "over 1,000 bytes")


def test_slow_prediction_is_504(titanic_program, passengers) -> None:
    gate = threading.Event()
    gate.set()
    with serving(titanic_program, runner=gated(gate, delay=0.6), wait=False, timeout=0.2) as client:
        response = client.post("/predict", json={"rows": [row_of(passengers)]})
        assert_error(response, 504, "no answer within 0.2 s", "--timeout")


def test_full_queue_is_503_with_retry_after(titanic_program, passengers) -> None:
    gate = threading.Event()
    with serving(titanic_program, runner=gated(gate), wait=False, max_queue=1) as client:
        server = client.app.state.server
        first = ThreadPoolExecutor(1).submit(
            client.post, "/predict", json={"rows": [row_of(passengers)]}
        )
        deadline = time.monotonic() + 10
        while server.admission.count < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        response = client.post("/predict", json={"rows": [row_of(passengers)]})
        assert_error(response, 503, "--max-queue")
        assert response.headers["retry-after"] == "1"
        gate.set()
        assert first.result(20).status_code == 200


def test_unknown_route_is_a_json_404(titanic_client) -> None:
    assert_error(titanic_client.get("/nowhere"), 404, "Not Found")
    assert titanic_client.get("/predict").status_code == 405


# --- golden request/response files ----------------------------------------------------------------


def golden_cases() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


def assert_close(got: Any, want: Any, where: str = "") -> None:
    """Field by field: numbers within 1e-4 (another machine may train a hair differently)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), where
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-4), where
    else:
        assert got == want, where


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.stem)
def test_golden_request_and_response(titanic_client, case: Path) -> None:
    golden = json.loads(case.read_text())
    response = titanic_client.post(
        "/predict",
        content=golden["body"].encode(),
        headers={"content-type": golden["content_type"]},
    )
    if os.environ.get("LEARNT_UPDATE_GOLDEN"):
        golden |= {"status": response.status_code, "response": response.json()}
        case.write_text(json.dumps(golden, indent=2) + "\n")
    assert response.status_code == golden["status"]
    assert_close(response.json(), golden["response"])


# --- text and images ------------------------------------------------------------------------------


def test_texts_match_program_predict(text_program, sms_file: Path) -> None:
    column = text_program.manifest.preprocessing.text.column
    texts = pd.read_csv(sms_file)[column].head(40).tolist()
    with serving(text_program) as client:
        response = client.post("/predict", json={"texts": texts})
        assert response.status_code == 200, response.text
        expected = text_program.predict(pd.DataFrame({column: texts}))
        assert_same(response.json(), expected, text_program.classes)
        assert_error(client.post("/predict", json={"texts": [1]}), 422, "text 1")
        assert_error(client.post("/predict", json={"rows": [{}]}), 422, "'texts'")


def test_concurrent_texts_tokenize_safely(text_program, sms_file: Path) -> None:
    column = text_program.manifest.preprocessing.text.column
    texts = pd.read_csv(sms_file)[column].head(48).tolist()
    expected = text_program.predict(pd.DataFrame({column: texts}))
    with serving(text_program) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda t: client.post("/predict", json={"texts": [t]}), texts))
    assert [a.status_code for a in answers] == [200] * len(texts)
    merged = {"predictions": [a.json()["predictions"][0] for a in answers]}
    assert_same(merged, expected, text_program.classes)


def test_images_match_program_predict(image_program, digit_folder: Path) -> None:
    paths = sorted(digit_folder.glob("*/00[0-2].png"))
    expected = image_program.predict(paths)
    with serving(image_program) as client:
        uploads = [("image", (p.name, p.read_bytes(), "image/png")) for p in paths]
        response = client.post("/predict", files=uploads)
        assert response.status_code == 200, response.text
        assert_same(response.json(), expected, image_program.classes)
        raw = client.post(
            "/predict", content=paths[4].read_bytes(), headers={"content-type": "image/png"}
        )
        assert_same(raw.json(), expected.iloc[[4]], image_program.classes)


def test_bad_images_are_422(image_program) -> None:
    with serving(image_program, max_rows=3) as client:
        bad = client.post("/predict", files=[("image", ("cat.png", b"not an image", "image/png"))])
        error = assert_error(bad, 422, "image cat.png", "not an image")
        assert error["row"] == 1
        started = time.monotonic()
        bomb = png_claiming(40_000, 40_000)
        response = client.post("/predict", files=[("image", ("bomb.png", bomb, "image/png"))])
        assert_error(response, 422, "bomb.png", "decompression-bomb")
        assert time.monotonic() - started < 2
        assert_error(client.post("/predict", json={"rows": []}), 415, "multipart/form-data")
        empty = client.post("/predict", files=[("other", ("a.png", b"x", "image/png"))])
        assert_error(empty, 422, "no files in the form field 'image'")
        many = [("image", (f"{i}.png", b"x", "image/png")) for i in range(4)]
        assert_error(client.post("/predict", files=many), 422, "4 images", "at most 3")


# --- batching -------------------------------------------------------------------------------------


def hammer(
    client: TestClient, rows: list[dict[str, Any]], requests: int, threads: int
) -> list[Any]:
    def post(i: int) -> Any:
        return client.post("/predict", json={"rows": [rows[i % len(rows)]]})

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, range(requests)))


def test_concurrent_requests_are_batched(titanic_program, passengers) -> None:
    rows = records(passengers)
    expected = titanic_program.predict(passengers)
    calls: list[int] = []
    with serving(titanic_program, runner=counting(calls)) as client:
        calls.clear()  # the warm-up's call
        answers = hammer(client, rows, requests=200, threads=16)
    assert [a.status_code for a in answers] == [200] * 200
    merged = {"predictions": [a.json()["predictions"][0] for a in answers]}
    assert_same(merged, expected.iloc[[i % len(rows) for i in range(200)]], titanic_program.classes)
    assert sum(calls) == 200
    assert len(calls) < 200 and max(calls) > 1, calls  # requests shared network calls

    calls.clear()
    with serving(titanic_program, runner=counting(calls), batch_wait_ms=0) as client:
        calls.clear()
        answers = hammer(client, rows, requests=40, threads=8)
    assert [a.status_code for a in answers] == [200] * 40
    assert calls == [1] * 40  # without batching: one call per request


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served_over_http(program_dir: Path) -> Iterator[str]:
    """`learnt serve PROGRAM` in its own process on a free port; yields its URL once ready."""
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "learnt", "serve", str(program_dir), "--port", str(port), "-q"]
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as server:
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the server never became ready"
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_load_of_2000_requests_from_32_clients_has_no_errors(titanic_program, passengers) -> None:
    """A bounded load test over real HTTP: every answer 200 and equal to `Program.predict`."""
    import asyncio

    import httpx

    rows = records(passengers)
    expected = titanic_program.predict(passengers)["prediction"].tolist()
    requests, clients = 2000, 32
    answers: dict[int, Any] = {}

    async def client(url: str, first: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as session:
            for i in range(first, requests, clients):
                response = await session.post("/predict", json={"rows": [rows[i % len(rows)]]})
                answers[i] = (response.status_code, response.json())

    async def load(url: str) -> None:
        await asyncio.wait_for(
            asyncio.gather(*(client(url, first) for first in range(clients))), timeout=240
        )

    with served_over_http(titanic_program.path) as url:
        asyncio.run(load(url))
    assert len(answers) == requests
    errors = {i: a for i, a in answers.items() if a[0] != 200}
    assert not errors, list(errors.items())[:3]
    got = [answers[i][1]["predictions"][0]["prediction"] for i in range(requests)]
    assert got == [expected[i % len(rows)] for i in range(requests)]


# --- the command line and the slim install --------------------------------------------------------


def test_serve_never_imports_torch(titanic_program) -> None:
    code = (
        "import sys, learnt; from learnt.serve.app import create_app; "
        f"create_app(learnt.load({str(titanic_program.path)!r})); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], titanic_program
) -> None:
    import importlib.util

    from learnt.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    monkeypatch.setattr(sys, "argv", ["learnt", "serve", str(titanic_program.path)])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert 'pip install "learnt[serve]"' in message and "uvicorn" in message


def test_sizes_and_settings() -> None:
    assert parse_size("8MiB") == 8 * 2**20
    assert parse_size("512k") == 512 * 1024
    assert parse_size("1000") == 1000
    with pytest.raises(UsageError, match="--max-body"):
        parse_size("lots")
    with pytest.raises(UsageError, match="--max-rows"):
        ServeSettings(max_rows=0)


# --- property test: generated requests from the OpenAPI schema never get a 5xx -------------------


def test_generated_requests_never_get_a_server_error(titanic_program) -> None:
    """Schemathesis generates 100 requests per operation (and media type) from /openapi.json."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    app = create_app(titanic_program, ServeSettings(max_rows=50))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = []
    try:
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @settings(
                max_examples=100,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def no_server_error(case: Any) -> None:
                response = case.call()
                assert response.status_code < 500, (case.path, case.body, response.text)
                checked.append(case.path)

            no_server_error()
    finally:
        app.state.server.close()
    assert {"/metadata", "/livez", "/readyz"} <= set(checked)  # no parameters: one case each
    assert checked.count("/predict") >= 100
