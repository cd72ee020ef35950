"""Text: SMS spam accuracy next to TF-IDF + logistic regression, training speed, prediction speed.

    .venv/bin/python bench/text.py [--quick]

1. Quality: `learnt.train` with defaults (MiniLM when installed, else random initialisation) on
   ../shared/data/sms_spam.csv,
   next to scikit-learn's TF-IDF (words and bigrams) + logistic regression fitted on the same
   training + validation rows and scored on the same test rows. Goals: accuracy ≥ 0.98, and
   within 0.02 of the baseline.
2. Training tokens/s: learnt's loop (`learnt.training.loop.fit`, as `learnt train` runs it)
   against a hand-written PyTorch loop with the same Transformer, the same length-bucketed,
   padding-trimmed batches, AdamW with the same schedule and clipping, and one validation pass per
   epoch. Goal ≤ 1.05× the hand-written loop's time. Both must end with the same validation loss.
3. Prediction texts/s on the ONNX and torch runtimes (tokenising included), batch 1 and 256.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    goal,
    heading,
    machine_load,
    median,
    others_watched,
    parse_args,
    require_data,
    require_modules,
)

GOAL_ACCURACY, GOAL_GAP, GOAL_RATIO = 0.98, 0.02, 1.05


def quality(path: Path, quick: bool) -> Any:
    """learnt with defaults, then TF-IDF + logistic regression on the same split."""
    import numpy as np
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from learnt.settings import make_settings
    from learnt.training.lifecycle import run

    heading(f"{path.name}: test accuracy, learnt (defaults) vs TF-IDF + logistic regression")
    run_dir = Path(tempfile.mkdtemp())
    settings = make_settings(label="label", out=run_dir, epochs=3 if quick else None)
    started = time.perf_counter()
    with others_watched():
        result = run(path, settings)
    seconds = time.perf_counter() - started
    frame = pd.read_csv(path)
    fit_rows = np.concatenate([result.split.train, result.split.validation])
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    features = vectorizer.fit_transform(frame["text"].iloc[fit_rows].fillna(""))
    baseline = LogisticRegression(C=10.0, max_iter=2000).fit(
        features, frame["label"].iloc[fit_rows]
    )
    test_features = vectorizer.transform(frame["text"].iloc[result.split.test].fillna(""))
    baseline_accuracy = float(baseline.score(test_features, frame["label"].iloc[result.split.test]))
    accuracy = result.program.manifest.metrics["accuracy"]
    training = result.program.manifest.training
    print(
        f"  learnt      {accuracy:.4f}  ({training.epochs} epochs, stopped by {training.stop_reason}, {seconds:.0f} s)"
    )
    print(f"  TF-IDF + LR {baseline_accuracy:.4f}")
    print(f"  difference  {accuracy - baseline_accuracy:+.4f}")
    if not quick:
        goal(f"sms accuracy ≥ {GOAL_ACCURACY} (got {accuracy:.4f})", accuracy >= GOAL_ACCURACY)
        gap = baseline_accuracy - accuracy
        goal(f"sms accuracy within {GOAL_GAP} of TF-IDF + LR (gap {gap:+.4f})", gap <= GOAL_GAP)
    return result


def training_speed(path: Path, quick: bool) -> None:
    """Seconds per epoch and tokens/s of learnt's loop vs a hand-written one, alternating."""
    import torch

    from learnt.console import set_quiet
    from learnt.settings import make_settings
    from learnt.training.families import build, choose_architecture
    from learnt.training.lifecycle import make_loop_settings
    from learnt.training.loop import fit
    from learnt.training.prepare import prepare
    from learnt.training.state import LoopState

    set_quiet(True)
    epochs, rounds = (1, 1) if quick else (2, 3)
    settings = make_settings(label="label", epochs=epochs, patience=0, init="random")
    with tempfile.TemporaryDirectory() as run_dir:
        labelled, split, prepared = prepare(path, settings, Path(run_dir))
    config = choose_architecture(None, "text", prepared.sizes)
    loop_settings = make_loop_settings(
        settings, labelled.task, len(split.train), prepared.data_kind
    )
    tokens_per_epoch = int(prepared.train.lengths[prepared.train.rows].sum())  # type: ignore[index]
    heading(
        f"training speed: {config.describe()}, batch {loop_settings.batch_size}, {tokens_per_epoch:,} tokens per epoch, {epochs} epochs × {rounds} rounds per side"
    )

    def fresh() -> torch.nn.Module:
        torch.manual_seed(0)
        return build(config)

    def ours() -> tuple[float, float]:
        model = fresh()
        started = time.perf_counter()
        loop = LoopState.start(model, loop_settings, len(prepared.train))
        state = fit(loop, prepared.train, prepared.validation)
        return (time.perf_counter() - started) / epochs, float(state.val_loss or math.nan)

    def by_hand() -> tuple[float, float]:
        return hand_written(fresh(), prepared, loop_settings, epochs)

    learnt_times, hand_times, losses = [], [], set()
    with others_watched():
        for _ in range(rounds):
            for side, times in ((ours, learnt_times), (by_hand, hand_times)):
                seconds, loss = side()
                times.append(seconds)
                losses.add(round(loss, 6))
    ratio = median(learnt_times) / median(hand_times)
    print(
        f"  learnt loop      {median(learnt_times):.2f} s/epoch  {tokens_per_epoch / median(learnt_times):,.0f} tokens/s"
    )
    print(
        f"  hand-written     {median(hand_times):.2f} s/epoch  {tokens_per_epoch / median(hand_times):,.0f} tokens/s"
    )
    print(
        f"  ratio learnt / hand-written: {ratio:.3f}×; same final validation loss: {'yes' if len(losses) == 1 else 'no ' + str(sorted(losses))}"
    )
    goal(
        f"text training ≤ {GOAL_RATIO}× a hand-written loop (got {ratio:.3f}×)", ratio <= GOAL_RATIO
    )


def hand_written(model: Any, prepared: Any, settings: Any, epochs: int) -> tuple[float, float]:
    """The same training written out by hand: bucketed batches, trimmed padding, AdamW, cosine."""
    import torch
    from torch import nn

    train, validation = prepared.train, prepared.validation
    tokens, mask = train.inputs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    total = min(
        epochs * math.ceil(len(train) / settings.batch_size), settings.criteria.max_steps or 10**9
    )
    warmup = max(1, int(total * settings.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warmup) / max(1, total - warmup))))
        ),
    )
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed + 2)  # dropout: the stream learnt's loop draws it from
    started, loss_value = time.perf_counter(), math.nan
    for _ in range(epochs):
        model.train()
        order = train.rows[torch.randperm(len(train), generator=generator)]
        pools = [
            order[s : s + settings.batch_size * 50]
            for s in range(0, len(order), settings.batch_size * 50)
        ]
        groups = [
            g
            for pool in pools
            for g in pool[torch.argsort(train.lengths[pool], stable=True)].split(
                settings.batch_size
            )
        ]
        for index in torch.randperm(len(groups), generator=generator).tolist():
            rows = groups[index]
            width = int(mask[rows].sum(1).max())
            loss = nn.functional.cross_entropy(
                model(tokens[rows, :width], mask[rows, :width]), train.targets[rows]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            schedule.step()
        model.eval()
        with torch.inference_mode():
            total_loss = 0.0
            for start in range(0, len(validation), validation.chunk_rows):
                rows = validation.rows[start : start + validation.chunk_rows]
                width = int(mask[rows].sum(1).max())
                outputs = model(tokens[rows, :width], mask[rows, :width])
                total_loss += nn.functional.cross_entropy(
                    outputs, validation.targets[rows], reduction="sum"
                ).item()
            loss_value = total_loss / len(validation)
    return (time.perf_counter() - started) / epochs, loss_value


def prediction_speed(program: Any, path: Path, quick: bool) -> None:
    """Texts per second through each runtime, tokenising included, for batch 1 and 256."""
    import numpy as np

    from learnt.data.tables import read_table
    from learnt.runtime.predict import predict_table

    table = read_table(path)
    heading("prediction texts/s (tokenising + network), onnx vs torch")
    for batch in (1, 256):
        count = 64 if batch == 1 else (512 if quick else 2048)
        rate = {}
        for runtime in ("onnx", "torch"):
            predict_table(
                program, table.take(np.arange(batch)), runtime
            )  # warm-up: load the runtime
            started = time.perf_counter()
            for start in range(0, count, batch):
                predict_table(program, table.take(np.arange(start, start + batch)), runtime)
            rate[runtime] = count / (time.perf_counter() - started)
        print(
            f"  batch {batch:>3}: onnx {rate['onnx']:,.0f} texts/s, torch {rate['torch']:,.0f} texts/s, onnx/torch {rate['onnx'] / rate['torch']:.2f}×"
        )


def main() -> None:
    options = parse_args(__doc__.splitlines()[0])
    require_modules("torch", "sklearn", "tokenizers")
    (path,) = require_data("sms_spam.csv")
    machine_load()
    from learnt.console import set_quiet

    set_quiet(True)
    result = quality(path, options.quick)
    training_speed(path, options.quick)
    prediction_speed(result.program, path, options.quick)


if __name__ == "__main__":
    main()
