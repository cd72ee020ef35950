"""Step 2: set initial parameters — seeded random, a pretrained backbone, or an earlier program.

    learnt train photos/                          --init auto (default): see the rule below
    learnt train photos/ --init random            seeded random initialisation
    learnt train photos/ --init efficientnet-lite0    a backbone by name (`learnt backbones`)
    learnt train more.csv --init runs/old/program     continue from an earlier learnt program

Random: `torch.manual_seed(seed)` then each layer's default initialisation, so the same seed, data
and machine give bit-identical weights. A backbone's weights are read from its package's file
(safetensors, or torch's loader restricted to tensors: no code runs) and mapped to the
family's layers by name; the head is seeded random. From a program, every tensor whose name and
shape match is copied; the rest (a head for other classes) is made afresh and named.

The rule for `--init auto` (images and text; tables are always random):
* the data kind's backbone when its package is installed — EfficientNet-Lite0 for images, MiniLM
  for text — else random, saying how to install it;
* random when `--arch` asks for a from-scratch network, or for images smaller than
  `MIN_IMAGE_SIDE` (their median shorter side), where ImageNet features do not help;
* random beyond `AUTO_MAX_ROWS` training rows, or when the backbone's one pass over the training
  rows (estimated from `ROWS_PER_SECOND`, measured on 2 CPU cores) would take more than half of
  `--time-budget`: there, training from scratch uses the CPU better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from learnt.backbones import BACKBONES, DEFAULT_FOR, Backbone, backbone
from learnt.data.images import Survey
from learnt.errors import UsageError
from learnt.kinds import DataKind
from learnt.runtime.format import Architecture, InitSource
from learnt.runtime.program import Program
from learnt.settings import TrainSettings
from learnt.training.families import FAMILY_FOR_BACKBONE, build

AUTO_MAX_ROWS: dict[DataKind, int] = {"images": 20_000, "text": 50_000}
MIN_IMAGE_SIDE = 16  # 8 px digits: 0.950 pretrained vs 0.981 random; 28 px Fashion-MNIST: +0.07
# Inference rows per second of each backbone on 2 CPU cores (images at 64 px, texts of ~40 tokens).
ROWS_PER_SECOND = {"efficientnet-lite0": 600.0, "minilm": 150.0}


@dataclass
class InitPlan:
    """Where the initial parameters come from, and why (printed on the plan's `init` line)."""

    kind: Literal["random", "backbone", "program"]
    reason: str
    backbone: Backbone | None = None
    program: Program | None = None
    source: InitSource = field(default_factory=lambda: InitSource(kind="random"))

    def describe(self, seed: int) -> str:
        if self.backbone is not None:
            return f"{self.backbone.name}, pretrained ({self.reason})"
        if self.program is not None:
            return f"from the program {self.program.path} ({self.reason})"
        return f"random, seed {seed} ({self.reason})"

    def provenance(self) -> str:
        if self.backbone is not None:
            return f"backbone {self.backbone.name}"
        return f"program {self.program.path}" if self.program is not None else "random"


def source_program(init: str) -> Program | None:
    """The earlier program `--init` names (loaded and verified), or None for the other choices."""
    from learnt.runtime.program import load

    if init in ("auto", "random") or init in BACKBONES:
        return None
    if not Path(init).is_dir():
        raise UsageError(
            f"--init {init}: expected auto, random, a backbone ({', '.join(BACKBONES)}) or the "
            "directory of an earlier program; there is no such directory",
            field="init",
        )
    return load(init)


def choose_init(
    settings: TrainSettings,
    data_kind: DataKind,
    rows: int,
    program: Program | None,
    surveyed: Survey | None = None,
) -> InitPlan:
    """Resolve `--init` for this data, by the rule in the module's docstring (images: `surveyed`
    says how large they are)."""
    init = settings.init
    if program is not None:
        return plan_from_program(program, data_kind, settings)
    if init == "random":
        return InitPlan("random", "--init random")
    if init in BACKBONES:
        chosen = backbone(init)
        if chosen.data_kind != data_kind:
            raise UsageError(
                f"--init {init}: a backbone for {chosen.data_kind}; this data is {data_kind}",
                field="init",
            )
        if settings.arch:
            raise UsageError(
                f"--arch {settings.arch} sizes a network trained from random parameters; "
                f"--init {init} brings its own. Leave one out.",
                field="arch",
            )
        chosen.weights()  # a clear error, with the install command, when it is missing
        return backbone_plan(chosen, f"--init {init}")
    if data_kind == "table":
        return InitPlan("random", "tables: --init PROGRAM continues an earlier program")
    if settings.arch:
        return InitPlan("random", f"--arch {settings.arch} asks for a network trained from scratch")
    default = BACKBONES[DEFAULT_FOR[data_kind]]
    if not default.installed():
        return InitPlan("random", f"for a pretrained {default.name}: {default.install_command()}")
    if surveyed is not None and 0 < surveyed.side < MIN_IMAGE_SIDE:
        return InitPlan(
            "random",
            f"images of {surveyed.side} px are too small for ImageNet features (below "
            f"{MIN_IMAGE_SIDE} px); --init {default.name} to use it anyway",
        )
    if rows > AUTO_MAX_ROWS[data_kind]:
        return InitPlan(
            "random",
            f"{rows:,} training rows: beyond {AUTO_MAX_ROWS[data_kind]:,}, training from scratch "
            f"uses the CPU better than {default.name}; --init {default.name} to use it anyway",
        )
    one_pass = rows / ROWS_PER_SECOND[default.name]
    if settings.time_budget is not None and one_pass > settings.time_budget / 2:
        return InitPlan(
            "random",
            f"one pass of {default.name} over {rows:,} rows takes about {one_pass:.0f} s, more "
            f"than half the {settings.time_budget:g} s budget",
        )
    noun = "images" if data_kind == "images" else "texts"
    return backbone_plan(default, f"auto: {rows:,} training {noun}")


def backbone_plan(chosen: Backbone, reason: str) -> InitPlan:
    source = InitSource(
        kind="backbone", name=chosen.name, package=f"{chosen.package}=={chosen.version}"
    )
    return InitPlan("backbone", reason, backbone=chosen, source=source)


def plan_from_program(program: Program, data_kind: DataKind, settings: TrainSettings) -> InitPlan:
    """Continue from `program`: its family must read this kind of data."""
    from learnt.runtime.format import MANIFEST
    from learnt.runtime.program import sha256

    manifest = program.manifest
    if manifest.input_schema.data_kind != data_kind:
        raise UsageError(
            f"--init {program.path}: that program reads {manifest.input_schema.data_kind} "
            f"({manifest.architecture.family}); this data is {data_kind}",
            field="init",
        )
    if settings.arch:
        raise UsageError(
            f"--arch {settings.arch}: a program continued with --init keeps its architecture "
            f"({manifest.architecture.describe()})",
            field="arch",
        )
    source = InitSource(
        kind="program", path=str(program.path), manifest_sha256=sha256(program.path / MANIFEST)
    )
    return InitPlan("program", "its architecture and preprocessing", program=program, source=source)


def initialise(config: Architecture, seed: int) -> nn.Module:
    """A network for `config` with seeded random parameters."""
    torch.manual_seed(seed)
    return build(config)


def initial_network(config: Architecture, plan: InitPlan, seed: int) -> nn.Module:
    """The network to train: seeded random, then the backbone's or the program's tensors copied in.

    Fills `plan.source` with what was copied and what was made afresh.
    """
    model = initialise(config, seed)
    if plan.backbone is not None:
        family = FAMILY_FOR_BACKBONE[plan.backbone.name]
        assert family.pretrained_weights is not None
        weights = family.pretrained_weights(plan.backbone.weights())
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or any(not name.startswith("head.") for name in missing):
            raise UsageError(
                f"the {plan.backbone.name} weights do not fit the {family.name} network "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]}); reinstall it with "
                f"{plan.backbone.install_command()}"
            )
        plan.source.copied, plan.source.recreated = len(weights), ["head"]
        plan.source.note = "the head is new: the backbone's own classifier is left out"
    elif plan.program is not None:
        copy_from_program(model, plan)
    return model


def copy_from_program(model: nn.Module, plan: InitPlan) -> None:
    """Copy every tensor of the earlier program whose name and shape match; name the rest."""
    from learnt.training.torch_runtime import read_weights

    assert plan.program is not None
    source = read_weights(plan.program)
    own = model.state_dict()
    matching = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matching, strict=False)
    fresh = sorted({name.rsplit(".", 1)[0] for name in own if name not in matching})
    plan.source.copied, plan.source.recreated = len(matching), fresh
    if fresh:
        plan.source.note = f"made afresh: {', '.join(fresh)} (the labels differ from the program's)"
