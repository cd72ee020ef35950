"""How the programs in this folder were made: by learnt 0.1.0 (commit af8e989), once.

    .venv/bin/python tests/data/programs/0.1.0/make.py      # only with learnt 0.1.0 installed

One small program per family, the inputs they predict on, and the predictions 0.1.0 made
(`expected.csv`). `tests/runtime/test_compatibility.py` checks that today's learnt still loads
these programs and predicts the same numbers. Do not regenerate them with a newer learnt: they
stand for programs that users already have.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

import learnt
from learnt.console import set_quiet
from learnt.datasets import digits, write_sms_spam_sample

HERE = Path(__file__).parent
TITANIC = HERE.parents[1] / "titanic.csv"


def make(name: str, data: Path, inputs: list[Path], **settings: object) -> None:
    run = HERE / f".{name}-run"
    program = learnt.train(data, out=run, force=True, **settings)
    shutil.rmtree(HERE / name / "program", ignore_errors=True)
    shutil.copytree(program.path, HERE / name / "program")
    program = learnt.load(HERE / name / "program")
    predictions = program.predict(inputs if len(inputs) > 1 else inputs[0])
    if "path" in predictions:  # image paths relative to this folder, not to where it was made
        predictions["path"] = [
            Path(p).relative_to(HERE / name).as_posix() for p in predictions["path"]
        ]
    predictions.to_csv(HERE / name / "expected.csv", index=False, float_format="%.9g")
    shutil.rmtree(run)


def main() -> None:
    set_quiet(True)
    # mlp: titanic, a few epochs; inputs: 40 rows of the same file
    (HERE / "mlp").mkdir(exist_ok=True)
    inputs = HERE / "mlp" / "inputs.csv"
    pd.read_csv(TITANIC).drop(columns="survived").head(40).to_csv(inputs, index=False)
    make("mlp", TITANIC, [inputs], label="survived", epochs=3)

    # cnn: 8×8 digits of three classes as PNG folders; inputs: 12 of the images
    from PIL import Image

    pixels, labels = digits()
    folder = HERE / ".digits"
    shutil.rmtree(folder, ignore_errors=True)
    for label in range(3):
        for n, index in enumerate(np.flatnonzero(labels == label)[:30]):
            (folder / str(label)).mkdir(parents=True, exist_ok=True)
            image = (pixels[index].astype(np.float64) * 255 / 16).round().astype(np.uint8)
            Image.fromarray(image).save(folder / str(label) / f"{n:03d}.png")
    (HERE / "cnn" / "inputs").mkdir(parents=True, exist_ok=True)
    chosen = []
    for label in range(3):
        for n in range(4):
            target = HERE / "cnn" / "inputs" / f"{label}-{n}.png"
            shutil.copy(folder / str(label) / f"{n:03d}.png", target)
            chosen.append(target)
    make("cnn", folder, chosen, epochs=3, arch="cnn:1x8")
    shutil.rmtree(folder)

    # transformer: the bundled SMS sample, a tiny encoder; inputs: 40 messages
    sms = write_sms_spam_sample(HERE / ".sms.csv")
    (HERE / "transformer").mkdir(exist_ok=True)
    inputs = HERE / "transformer" / "inputs.csv"
    pd.read_csv(sms).drop(columns="label").head(40).to_csv(inputs, index=False)
    make("transformer", sms, [inputs], label="label", epochs=2, arch="transformer:1x16")
    sms.unlink()


if __name__ == "__main__":
    main()
