"""`--log tensorboard` and `--log mlflow` mirror `metrics.jsonl`: each tool reads back the file's
numbers by step (per epoch, and within long epochs), the test metrics and the settings; a killed
and resumed run shows as one run; a missing package is a clear error before any work; nothing
reaches the network."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import learnt
from learnt.errors import MissingDependencyError, UsageError
from learnt.settings import make_settings
from learnt.training import hooks

from .conftest import TITANIC

pytest.importorskip("tensorboardX")
pytest.importorskip("mlflow")

# 21 steps an epoch; "long" here from 10 steps on, with a line every 5 steps within an epoch (the
# rule's own numbers, 100 in epochs of over 200 steps, are tested in test_checkpoint.py)
RUN = {"label": "survived", "epochs": 3}
SHORTER = {"INTERIM_STEPS": 5, "LONG_EPOCH": 10}
EPOCH_TAGS = {
    "train_loss": "train/loss",
    "val_loss": "validation/loss",
    "val_accuracy": "validation/accuracy",
}
MLFLOW_SETTINGS = ("MLFLOW_ALLOW_FILE_STORE", "MLFLOW_DISABLE_TELEMETRY", "MLFLOW_TRACKING_URI")


@contextlib.contextmanager
def offline() -> Iterator[list[Any]]:
    """No connection can be made, and every attempt is recorded; the MLflow variables the
    loggers set are taken back afterwards."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args[1:] or kwargs)
        raise OSError("the network is off in this test")

    with pytest.MonkeyPatch.context() as patch:
        for name in MLFLOW_SETTINGS:
            patch.setenv(name, "")  # recorded, so undone; then unset
            patch.delenv(name)
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        yield attempts


def metrics_lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def without_seconds(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k != "seconds"} for line in lines]


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in a TensorBoard folder, read by TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(event.step, event.value) for event in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def mlflow_client(run_dir: Path) -> Any:
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    return MlflowClient((run_dir / "mlruns").resolve().as_uri())


def mlflow_runs(run_dir: Path) -> list[Any]:
    client = mlflow_client(run_dir)
    experiment = client.get_experiment_by_name(run_dir.name)
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def history(client: Any, run: Any, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]


@pytest.fixture(autouse=True, scope="module")
def mlflow_variables() -> Iterator[None]:
    """The MLflow variables as they were before these tests (the loggers set some)."""
    before = {name: os.environ.get(name) for name in MLFLOW_SETTINGS}
    yield
    for name, value in before.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, learnt.Program]:
    run_dir = tmp_path_factory.mktemp("logged") / "titanic"
    with offline() as attempts, pytest.MonkeyPatch.context() as patch:
        for name, value in SHORTER.items():
            patch.setattr(hooks, name, value)
        program = learnt.train(TITANIC, **RUN, log=["tensorboard", "mlflow"], out=run_dir)
        assert attempts == []
    return run_dir, program


def test_metrics_jsonl_has_lines_within_long_epochs(logged: tuple[Path, Any]) -> None:
    run_dir, _ = logged
    lines = metrics_lines(run_dir)
    assert [(line["epoch"], line["step"]) for line in lines if "within_epoch" in line] == [
        (epoch, 21 * (epoch - 1) + batch) for epoch in (1, 2, 3) for batch in (5, 10, 15, 20)
    ]
    assert [(line["epoch"], line["step"]) for line in lines if "within_epoch" not in line] == [
        (1, 21),
        (2, 42),
        (3, 63),
    ]
    first, second = lines[:2]
    assert first["train_loss"] == first["epoch_train_loss"]  # the first window is the epoch's start
    # the window since the previous line and the epoch's running mean tell one story
    assert second["epoch_train_loss"] == pytest.approx(
        (first["train_loss"] * 5 + second["train_loss"] * 5) / 10
    )
    assert all(line["learning_rate"] > 0 for line in lines)


def test_short_epochs_have_no_lines_within_them(titanic_program: Any) -> None:
    run_dir = titanic_program.path.parent
    assert not any("within_epoch" in line for line in metrics_lines(run_dir))


def test_tensorboard_reads_back_the_metrics_by_step(logged: tuple[Path, Any]) -> None:
    run_dir, program = logged
    lines = metrics_lines(run_dir)
    epochs = [line for line in lines if "within_epoch" not in line]
    within = [line for line in lines if "within_epoch" in line]
    read = scalars(run_dir / "tensorboard")
    for key, tag in EPOCH_TAGS.items():
        assert read[tag] == [(line["step"], pytest.approx(line[key])) for line in epochs], tag
    assert read["epoch"] == [(line["step"], line["epoch"]) for line in epochs]
    assert read["train/loss_within_epoch"] == [
        (line["step"], pytest.approx(line["train_loss"])) for line in within
    ]
    assert [step for step, _ in read["learning_rate"]] == [line["step"] for line in lines]
    metrics = program.manifest.metrics
    assert read["test/accuracy"] == [(63, pytest.approx(metrics["accuracy"]))]
    assert read["test/loss"] == [(63, pytest.approx(metrics["loss"]))]


def test_tensorboard_holds_the_settings_as_hyperparameters(logged: tuple[Path, Any]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run_dir, program = logged
    events = EventAccumulator(str(run_dir / "tensorboard" / "hparams"))
    events.Reload()
    contents = events.PluginTagToContent("hparams").values()
    data = [plugin_data_pb2.HParamsPluginData.FromString(content) for content in contents]
    started = next(d.session_start_info for d in data if d.HasField("session_start_info"))
    assert started.hparams["epochs"].number_value == 3
    assert started.hparams["batch_size"].string_value == "null"  # chosen from the data
    assert started.hparams["label"].string_value == "survived"
    assert started.hparams["log"].string_value == '["tensorboard", "mlflow"]'
    accuracy = scalars(run_dir / "tensorboard" / "hparams")["hparams/test_accuracy"]
    assert accuracy == [(63, pytest.approx(program.manifest.metrics["accuracy"]))]


def test_mlflow_reads_back_settings_metrics_and_the_program(logged: tuple[Path, Any]) -> None:
    from learnt.training.loggers import parameter

    run_dir, program = logged
    (run,) = mlflow_runs(run_dir)
    client = mlflow_client(run_dir)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "titanic"
    settings = json.loads((run_dir / "settings.json").read_text())
    assert run.data.params == {name: parameter(value) for name, value in settings.items()}
    lines = metrics_lines(run_dir)
    epochs = [line for line in lines if "within_epoch" not in line]
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert history(client, run, key) == [(line["step"], line[key]) for line in epochs], key
    assert history(client, run, "train_loss_within_epoch") == [
        (line["step"], line["train_loss"]) for line in lines if "within_epoch" in line
    ]
    assert history(client, run, "epoch") == [(21, 1), (42, 2), (63, 3)]
    metrics = program.manifest.metrics
    assert run.data.metrics["test_accuracy"] == metrics["accuracy"]
    assert run.data.metrics["test_macro_f1"] == metrics["macro_f1"]
    assert run.data.tags["learnt.program"] == str(program.path.resolve())
    assert run.data.tags["learnt.stop_reason"] == "max_epochs"
    # the store lives beside the program: its files are not copied into it
    assert client.list_artifacts(run.info.run_id) == []


def test_mlflow_logs_the_program_into_a_store_of_the_users(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with offline() as attempts:
        os.environ["MLFLOW_TRACKING_URI"] = store.as_uri()
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # the user's store: the user's choice
        learnt.train(TITANIC, label="survived", epochs=1, log=["mlflow"], out=tmp_path / "run")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(store.as_uri())
        (run,) = client.search_runs([client.get_experiment_by_name("run").experiment_id])
        files = {item.path for item in client.list_artifacts(run.info.run_id, "program")}
        assert attempts == []
    assert {"program/program.json", "program/model.onnx", "program/weights.safetensors"} <= files
    assert not (tmp_path / "run" / "mlruns").exists()


# A child process: the logged run, killed by SIGKILL after step 13 (the newest checkpoint: 12;
# the window of the next line, at step 15, began at step 10).
KILLED = """
import json, os, signal, sys
import learnt
import learnt.training.hooks as hooks

original = hooks.ProgressBar.on_batch_end
def on_batch_end(self, state):
    original(self, state)
    if state.step == 13:
        os.kill(os.getpid(), signal.SIGKILL)
hooks.ProgressBar.on_batch_end = on_batch_end
hooks.INTERIM_STEPS, hooks.LONG_EPOCH = 5, 10
learnt.train(sys.argv[1], **json.loads(sys.argv[2]), checkpoint_steps=3, out=sys.argv[3])
"""


def test_a_killed_and_resumed_run_shows_as_one_run_in_each_tool(
    tmp_path: Path, logged: tuple[Path, Any]
) -> None:
    run_dir = tmp_path / "titanic"
    settings = json.dumps({**RUN, "log": ["tensorboard", "mlflow"]})
    environment = {k: v for k, v in os.environ.items() if k not in MLFLOW_SETTINGS}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(TITANIC), settings, str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with offline(), pytest.MonkeyPatch.context() as patch:
        for name, value in SHORTER.items():
            patch.setattr(hooks, name, value)
        # the run's --log goes on; checkpoints may be rarer now (a setting that may change)
        learnt.train(TITANIC, resume=run_dir, checkpoint_steps=10_000)
    lines = metrics_lines(run_dir)
    assert without_seconds(lines) == without_seconds(metrics_lines(logged[0]))
    read = scalars(run_dir / "tensorboard")  # written anew: no point twice
    assert read["train/loss_within_epoch"] == [
        (line["step"], pytest.approx(line["train_loss"]))
        for line in lines
        if "within_epoch" in line
    ]
    assert [step for step, _ in read["validation/loss"]] == [21, 42, 63]
    before, after = mlflow_runs(run_dir)
    assert (before.info.status, after.info.status) == ("KILLED", "FINISHED")
    epochs = [line for line in lines if "within_epoch" not in line]
    client = mlflow_client(run_dir)
    assert history(client, after, "val_loss") == [
        (line["step"], line["val_loss"]) for line in epochs
    ]


@pytest.mark.parametrize(
    ("kind", "module"), [("tensorboard", "tensorboardX"), ("mlflow", "mlflow")]
)
def test_a_missing_package_is_said_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    run_dir = tmp_path / "run"
    with pytest.raises(MissingDependencyError) as raised:
        learnt.train(TITANIC, label="survived", log=[kind], out=run_dir)
    assert f"--log {kind} needs the '{module}' package" in str(raised.value)
    assert f"pip install 'learnt[{kind}]'" in str(raised.value)
    assert raised.value.field == "log"
    assert not run_dir.exists()  # nothing was written


def test_an_unknown_logger_names_the_flag() -> None:
    with pytest.raises(UsageError, match="--log: Input should be 'tensorboard' or 'mlflow'"):
        make_settings(log=["wandb"])


def test_the_command_line_takes_log_twice() -> None:
    from learnt.cli import build_parser

    options = build_parser().parse_args(
        ["train", str(TITANIC), "--log", "tensorboard", "--log", "mlflow"]
    )
    assert options.log == ["tensorboard", "mlflow"]
