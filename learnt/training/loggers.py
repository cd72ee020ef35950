"""Metrics for the tools people use: TensorBoard and MLflow, each a mirror of `metrics.jsonl`.

    learnt train titanic.csv --label survived --log tensorboard --log mlflow
    tensorboard --logdir runs/titanic/tensorboard
    MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri runs/titanic/mlruns

`metrics.jsonl` stays the source: `MetricsLog` hands every line it writes to the loggers, so each
tool holds the file's numbers, on one axis — the optimiser step (counted on across the phases of
a fine-tuned run). On its first `on_fit_start` a logger starts afresh and replays the lines the
file already holds (a resumed run's, trimmed to its checkpoint), so a killed and resumed run shows
in each tool as one unbroken run. After evaluation, `finish` hands each the test metrics and the
program.

TensorBoard (`learnt[tensorboard]`: the `tensorboardX` writer, one package over the training
install, where `torch.utils.tensorboard` needs `tensorboard` and five more) rewrites
`RUN_DIR/tensorboard/`: losses, validation accuracy, learning rate and epoch by step, the
training loss within long epochs, then the test metrics and the settings as hyper-parameters.

MLflow (`learnt[mlflow]`: `mlflow-skinny`) logs to the tracking store that `MLFLOW_TRACKING_URI`
names, else to a file store in `RUN_DIR/mlruns` (MLflow 3 keeps file stores behind
`MLFLOW_ALLOW_FILE_STORE=true`, which learnt sets for its own store). The experiment is named
after the run directory; its MLflow run holds the settings as parameters, the same metrics by
step, the test metrics (`test_…`), and the program: its path as the tag `learnt.program`, and, in
a store of the user's (`MLFLOW_TRACKING_URI`), its files as the artifact `program/` — a store
inside the run directory would only hold a second copy. MLflow's usage telemetry is turned off
(`MLFLOW_DISABLE_TELEMETRY`, unless set): training reaches no network unless the tracking URI
is a server.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnt.errors import MissingDependencyError, UsageError
from learnt.training.hooks import Hooks, read_metrics

if TYPE_CHECKING:
    from learnt.runtime.program import Program
    from learnt.settings import TrainSettings
    from learnt.training.state import TrainState

METRICS = "metrics.jsonl"
RUN_TAG, PROGRAM_TAG = "learnt.run_dir", "learnt.program"
# TensorBoard's tags for the numbers of an epoch's line
EPOCH_TAGS = {
    "train_loss": "train/loss",
    "val_loss": "validation/loss",
    "val_accuracy": "validation/accuracy",
}


def make_loggers(settings: TrainSettings, run_dir: Path) -> list[Logger]:
    """The loggers `--log` asks for, each package imported now: a missing one is an error
    before any work, saying what to install."""
    kinds = {"tensorboard": TensorBoard, "mlflow": MLflow}
    return [kinds[kind](run_dir, settings) for kind in dict.fromkeys(settings.log)]


def imported(kind: str, module: str) -> Any:
    """`module`, imported; if it is missing, a clear error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"--log {kind} needs the '{module}' package, which is not installed. Install it "
            f"with: pip install 'learnt[{kind}]' -c constraints.txt",
            field="log",
        ) from None


class Logger(Hooks):
    """A tool that mirrors `metrics.jsonl`: it starts at the first `on_fit_start`, `write`
    receives each line, `finish` the test metrics; subclasses say how each is sent."""

    def __init__(self, run_dir: Path, settings: TrainSettings) -> None:
        self.run_dir, self.settings = run_dir, settings
        self.started = False
        self.phase: str | None = None
        self.steps_before = self.epochs_before = 0  # of the earlier phases
        self.step = self.epoch = 0  # of the latest line, on the run's axis

    def on_fit_start(self, state: TrainState) -> None:
        if self.started:  # the second phase of a fine-tuned run
            return
        self.started = True
        self.start()
        for record in read_metrics(self.run_dir / METRICS):
            self.write(record)

    def on_fit_end(self, state: TrainState) -> None:
        self.flush()

    def write(self, record: dict[str, Any]) -> None:
        """One line of `metrics.jsonl`."""
        if record.get("phase") != self.phase:  # a new phase counts on from the last
            self.phase = record.get("phase")
            self.steps_before, self.epochs_before = self.step, self.epoch
        self.step = self.steps_before + record["step"]
        if not record.get("within_epoch"):
            self.epoch = self.epochs_before + record["epoch"]
        self.log(record)

    def start(self) -> None: ...
    def log(self, record: dict[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def finish(self, metrics: dict[str, Any] | None, program: Program) -> None: ...


class TensorBoard(Logger):
    """Event files in `RUN_DIR/tensorboard/`, written anew from `metrics.jsonl` on each start."""

    def __init__(self, run_dir: Path, settings: TrainSettings) -> None:
        super().__init__(run_dir, settings)
        self.writer_class = imported("tensorboard", "tensorboardX").SummaryWriter
        self.folder = run_dir / "tensorboard"
        self.writer: Any = None

    def start(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)  # an earlier or killed run's
        self.writer = self.writer_class(str(self.folder))

    def log(self, record: dict[str, Any]) -> None:
        scalars: dict[str, Any] = {"learning_rate": record.get("learning_rate")}
        if record.get("within_epoch"):
            scalars["train/loss_within_epoch"] = record["train_loss"]
        else:
            scalars |= {tag: record.get(key) for key, tag in EPOCH_TAGS.items()}
            scalars["epoch"] = self.epoch
        for tag, value in scalars.items():
            if value is not None:
                self.writer.add_scalar(tag, value, self.step)

    def flush(self) -> None:
        self.writer.flush()

    def finish(self, metrics: dict[str, Any] | None, program: Program) -> None:
        test = numbers(metrics)
        for name, value in test.items():
            self.writer.add_scalar(f"test/{name}", value, self.step)
        settings = {
            name: value if isinstance(value, bool | int | float | str) else json.dumps(value)
            for name, value in self.settings.as_json().items()
        }
        # the hyper-parameters dashboard's own session, in tensorboard/hparams/
        metric_names = {f"hparams/test_{name}": value for name, value in test.items()}
        self.writer.add_hparams(settings, metric_names, name="hparams", global_step=self.step)
        self.writer.close()


class MLflow(Logger):
    """One MLflow run per training run, in an experiment named after the run directory."""

    def __init__(self, run_dir: Path, settings: TrainSettings) -> None:
        super().__init__(run_dir, settings)
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow is imported
        imported("mlflow", "mlflow")
        self.client: Any = None
        self.run_id = ""
        self.own_store = not os.environ.get("MLFLOW_TRACKING_URI")

    def start(self) -> None:
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        if self.own_store:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = (self.run_dir / "mlruns").resolve().as_uri()
        else:
            uri = os.environ["MLFLOW_TRACKING_URI"]
        name, run_dir = self.run_dir.name, str(self.run_dir.resolve())
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(name)
            experiment = found.experiment_id if found else self.client.create_experiment(name)
            self.end_abandoned(experiment, run_dir)
            run = self.client.create_run(experiment, run_name=name, tags={RUN_TAG: run_dir})
            self.run_id = run.info.run_id
            atexit.register(self.abandon)
            params = [Param(k, parameter(v)) for k, v in self.settings.as_json().items()]
            self.client.log_batch(self.run_id, params=params)
        except MlflowException as error:
            raise UsageError(f"--log mlflow: {uri}: {error.message}", field="log") from None

    def end_abandoned(self, experiment: str, run_dir: str) -> None:
        """Runs of this run directory still marked running were killed: this one holds its lock."""
        for run in self.client.search_runs([experiment], "attributes.status = 'RUNNING'"):
            if run.data.tags.get(RUN_TAG) == run_dir:
                self.client.set_terminated(run.info.run_id, "KILLED")

    def log(self, record: dict[str, Any]) -> None:
        if record.get("within_epoch"):
            values = {"train_loss_within_epoch": record["train_loss"]}
        else:
            values = {key: record.get(key) for key in ("train_loss", "val_loss", "val_accuracy")}
            values["epoch"] = self.epoch
        values["learning_rate"] = record.get("learning_rate")
        self.log_metrics(values)

    def log_metrics(self, values: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, self.step) for k, v in values.items() if v is not None]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, metrics: dict[str, Any] | None, program: Program) -> None:
        from mlflow.entities import RunTag

        self.log_metrics({f"test_{name}": value for name, value in numbers(metrics).items()})
        training = program.manifest.training
        tags = {
            PROGRAM_TAG: str(program.path.resolve()),
            "learnt.architecture": program.manifest.architecture.family,
            "learnt.stop_reason": training.stop_reason,
        }
        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if not self.own_store:
            self.client.log_artifacts(self.run_id, str(program.path), "program")
        self.end("KILLED" if training.stop_reason == "interrupted" else "FINISHED")

    def end(self, status: str) -> None:
        if self.run_id:
            self.client.set_terminated(self.run_id, status)
            self.run_id = ""

    def abandon(self) -> None:
        """At exit: a run that training left without `finish` (an error) failed."""
        with contextlib.suppress(Exception):  # the store may be gone by now
            self.end("FAILED")


def parameter(value: Any) -> str:
    """A setting as an MLflow parameter: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def numbers(metrics: dict[str, Any] | None) -> dict[str, float]:
    """The single-number test metrics (accuracy, loss, …), without lists, tables and warnings."""
    return {
        name: float(value)
        for name, value in (metrics or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and name != "n"
    }
