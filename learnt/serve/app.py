"""The HTTP application: FastAPI routes over `learnt.runtime.predict`, with limits.

    app = create_app(learnt.load("runs/titanic/program"), ServeSettings())

Every request body is read up to `max_body` bytes (413 beyond), admitted only while fewer than
`max_queue` requests are pending (503 with Retry-After beyond), then read, encoded and predicted
in a worker thread by `predict_table` — the function behind `learnt predict` — with a runner that
batches concurrent network calls. A request not answered within `timeout` seconds gets a 504.
A `LearntError` becomes JSON `{"error": {"type", "message", "row"/"column"/"field"/"file"}}`:
422 for bad input, 415 for a body type the program cannot read.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from learnt.data.tables import python_value
from learnt.errors import DataError, LearntError, UsageError
from learnt.runtime.predict import Runner, onnx_runner, predict_table
from learnt.runtime.program import Program
from learnt.serve import ServeSettings
from learnt.serve.batching import Admission, Batcher
from learnt.serve.inputs import (
    IMAGE_FIELD,
    Inputs,
    UnsupportedMediaType,
    example_request,
    image_inputs,
    read_inputs,
    renamed,
    request_model,
    temporary_folder,
)

log = logging.getLogger("learnt.serve")


class Prediction(BaseModel):
    prediction: Any
    probabilities: dict[str, float] | None = None


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class ErrorDetail(BaseModel):
    type: str
    message: str
    file: str | None = None
    row: int | str | None = None
    column: str | None = None
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BodyTooLarge(Exception):
    """A request body over `max_body` bytes."""


class Server:
    """What the routes share: the program, its limits, the worker threads and the batcher."""

    def __init__(self, program: Program, settings: ServeSettings, runner: Runner | None) -> None:
        self.program = program
        self.settings = settings
        self.model = request_model(program.manifest)
        self.admission = Admission(settings.max_queue)
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="learnt-serve")
        self.ready = threading.Event()
        self.warm_up_error: LearntError | None = None
        share_tokenizer_per_thread(program)
        base = (runner or onnx_runner)(program)
        self.batcher: Batcher | None = None
        self.run = base
        if settings.batching:
            self.batcher = Batcher(
                base,
                wait_ms=settings.batch_wait_ms,
                max_rows=settings.batch_rows,
                padding=text_padding(program),
                in_flight=lambda: self.admission.count,
            )
            self.run = self.batcher

    def predict(self, body: bytes, content_type: str | None) -> dict[str, Any]:
        """The answer to one request body (runs in a worker thread)."""
        with temporary_folder() as folder:
            inputs = read_inputs(
                self.program.manifest,
                self.model,
                body,
                content_type,
                self.settings.max_rows,
                folder,
            )
            return {"predictions": self.predict_inputs(inputs)}

    def predict_inputs(self, inputs: Inputs) -> list[dict[str, Any]]:
        with renamed(inputs.names):
            columns = predict_table(self.program, inputs.table, lambda _: self.run)
        return answers(self.program, columns)

    def warm_up(self) -> None:
        """One prediction on an example input, through the whole path; then ready."""
        try:
            if self.program.manifest.preprocessing.image is not None:
                with temporary_folder() as folder:
                    files = [("warm-up.png", example_png())]
                    self.predict_inputs(image_inputs(files, self.image_column(), folder))
            else:
                body = json.dumps(example_request(self.program.manifest)).encode()
                self.predict(body, "application/json")
        except LearntError as error:
            self.warm_up_error = error
            log.error("warm-up prediction failed: %s", error)
            return
        self.ready.set()

    def image_column(self) -> str:
        image = self.program.manifest.preprocessing.image
        assert image is not None
        return image.column

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


def create_app(
    program: Program, settings: ServeSettings | None = None, runner: Runner | None = None
) -> FastAPI:
    """The application for `program`. `runner` replaces ONNX Runtime (tests inject slow ones)."""
    settings = settings or ServeSettings()
    server = Server(program, settings, runner)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=server.warm_up, name="learnt-warm-up", daemon=True).start()
        yield
        server.close()

    app = FastAPI(
        title=f"learnt program: {program.path.name}",
        description=describe(program),
        version=str(program.manifest.format_version),
        lifespan=lifespan,
    )
    app.state.server = server
    add_error_handlers(app)
    add_routes(app, server)
    app.openapi = lambda: openapi_schema(app, server)  # type: ignore[method-assign]
    return app


def add_routes(app: FastAPI, server: Server) -> None:
    settings = server.settings
    errors = {status: {"model": ErrorResponse} for status in (413, 415, 422, 503, 504)}

    @app.post(
        "/predict",
        summary="Predict every row, text or image, in order",
        response_model=PredictResponse,
        responses=errors,  # type: ignore[arg-type]
        openapi_extra={"requestBody": request_body(server)},
    )
    async def predict(request: Request) -> JSONResponse:
        body = await read_body(request, settings.max_body)
        if not server.admission.try_enter():
            return error_response(
                503,
                "Busy",
                f"{settings.max_queue} requests are pending (--max-queue); retry shortly",
                headers={"Retry-After": "1"},
            )
        work = server.executor.submit(server.predict, body, request.headers.get("content-type"))
        work.add_done_callback(lambda _: server.admission.leave())
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(work), settings.timeout)
        except TimeoutError:
            work.cancel()
            return error_response(
                504, "Timeout", f"request: no answer within {settings.timeout:g} s (--timeout)"
            )
        return JSONResponse(answer)

    @app.get("/metadata", summary="What the program reads and predicts, and how it was made")
    async def metadata() -> dict[str, Any]:
        return describe_program(server.program)

    @app.get("/livez", summary="200 while the process is up")
    async def livez() -> dict[str, str]:
        return {"status": "live"}

    @app.get("/readyz", summary="200 once the program is loaded and a warm-up prediction ran")
    async def readyz() -> JSONResponse:
        if server.ready.is_set():
            return JSONResponse({"status": "ready"})
        if server.warm_up_error is not None:
            return error_response(503, "WarmUpFailed", server.warm_up_error.message)
        return JSONResponse({"status": "warming up"}, status_code=503, headers={"Retry-After": "1"})


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LearntError)
    async def learnt_error(request: Request, error: LearntError) -> JSONResponse:
        status = status_of(error)
        if status >= 500:
            log.error("%s", error)
        return JSONResponse({"error": error_detail(error)}, status_code=status)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, error: BodyTooLarge) -> JSONResponse:
        return error_response(413, "BodyTooLarge", str(error), headers={"Connection": "close"})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, "HTTPError", str(error.detail), error.headers)


def status_of(error: LearntError) -> int:
    if isinstance(error, UnsupportedMediaType):
        return 415
    if isinstance(error, DataError | UsageError):
        return 422
    return 500  # the program or the installation, not the request


def error_detail(error: LearntError) -> dict[str, Any]:
    detail = error.as_dict()
    detail["type"] = detail.pop("error")
    return detail


def error_response(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": kind, "message": message}}, status_code=status, headers=headers
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to pass `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(too_large_message(int(declared), limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(too_large_message(size, limit))
        chunks.append(chunk)
    return b"".join(chunks)


def too_large_message(size: int, limit: int) -> str:
    return (
        f"request: the body is over {limit:,} bytes (got at least {size:,}); split it, or start "
        "the server with a larger --max-body"
    )


# --- answers and metadata -----------------------------------------------------------------------


def answers(program: Program, columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One `{"prediction", "probabilities"}` object per row, JSON-typed."""
    labels = program.manifest.labels
    predictions = [python_value(value) for value in columns["prediction"].tolist()]
    if labels.task == "regression":
        return [{"prediction": value} for value in predictions]
    names = [str(c) for c in labels.classes]
    probabilities = np.stack([columns[f"proba_{c}"] for c in labels.classes], axis=1).tolist()
    return [
        {"prediction": value, "probabilities": dict(zip(names, row, strict=True))}
        for value, row in zip(predictions, probabilities, strict=True)
    ]


def describe_program(program: Program) -> dict[str, Any]:
    """Schema, classes, test metrics and provenance, all from the manifest."""
    manifest = program.manifest
    data = manifest.model_dump(mode="json")
    inputs: dict[str, Any] = {"kind": manifest.input_schema.data_kind}
    if manifest.preprocessing.categorical:
        inputs["categories"] = {c.column: c.categories for c in manifest.preprocessing.categorical}
    return {
        "program": program.path.name,
        "format_version": manifest.format_version,
        "task": manifest.task,
        "label": manifest.input_schema.label,
        "classes": manifest.labels.classes,
        "input_schema": data["input_schema"],
        "inputs": inputs,
        "architecture": manifest.architecture.shape(),
        "metrics": data["metrics"],
        "training": data["training"],
        "files": data["files"],
    }


def describe(program: Program) -> str:
    manifest = program.manifest
    classes = f" of {manifest.labels.classes}" if manifest.labels.classes else ""
    return (
        f"A learnt {manifest.task} program{classes} reading "
        f"{manifest.input_schema.describe().splitlines()[0]}."
    )


# --- OpenAPI ------------------------------------------------------------------------------------


def request_body(server: Server) -> dict[str, Any]:
    """The request body of `POST /predict` in OpenAPI terms, per the program's kind of input."""
    manifest = server.program.manifest
    if manifest.preprocessing.image is not None:
        binary = {"type": "string", "format": "binary"}
        files = {
            "type": "object",
            "properties": {IMAGE_FIELD: {"type": "array", "items": binary}},
            "required": [IMAGE_FIELD],
        }
        return {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": files},
                "image/*": {"schema": binary},
                "application/octet-stream": {"schema": binary},
            },
        }
    example = example_request(manifest)
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/PredictRequest"},
                "example": example,
            },
            "text/csv": {"schema": {"type": "string"}, "example": example_csv(example)},
        },
    }


def openapi_schema(app: FastAPI, server: Server) -> dict[str, Any]:
    """FastAPI's schema, plus the request models built from the program's input schema."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        models = server.model.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(models.pop("$defs", {}))
        components["PredictRequest"] = models
        app.openapi_schema = schema
    return app.openapi_schema


def example_csv(example: dict[str, Any]) -> str:
    import csv

    rows = example.get("rows") or [{"text": t} for t in example.get("texts", [])]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()


def example_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), (128, 128, 128)).save(out, format="PNG")
    return out.getvalue()


# --- text: one tokenizer per thread -------------------------------------------------------------


class ThreadLocalTokenizer:
    """Stands in for a `tokenizers.Tokenizer`, giving each thread its own copy: a tokenizer's
    padding settings are changed before every batch, which must not race with another thread."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._local = threading.local()

    def _own(self) -> Any:
        if not hasattr(self._local, "tokenizer"):
            from tokenizers import Tokenizer

            self._local.tokenizer = Tokenizer.from_str(self._source)
        return self._local.tokenizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._own(), name)


def share_tokenizer_per_thread(program: Program) -> None:
    """Load (and verify) a text program's tokenizer now; then hand each thread its own copy."""
    if program.manifest.preprocessing.text is None:
        return
    source = program.tokenizer().to_str()
    program._cache["tokenizer"] = ThreadLocalTokenizer(source)


def text_padding(program: Program) -> dict[str, int]:
    """How text inputs of different lengths are widened to one batch: the pad token, mask 0."""
    if program.manifest.preprocessing.text is None:
        return {}
    from learnt.data.text import PAD

    return {"tokens": int(program.tokenizer().token_to_id(PAD)), "mask": 0}


def serve(program: Program, settings: ServeSettings, log_level: str = "info") -> None:
    """Run the application with uvicorn until interrupted."""
    import uvicorn

    app = create_app(program, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level)
