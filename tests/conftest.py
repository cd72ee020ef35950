"""Shared fixtures: small real data that a fresh clone has, and programs trained once per session."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from learnt.console import set_quiet

if TYPE_CHECKING:  # the slim install's tests (tests/slim) run without pandas
    import pandas as pd

DATA = Path(__file__).parent / "data"
TITANIC = DATA / "titanic.csv"


@pytest.fixture(autouse=True)
def quiet() -> None:
    set_quiet(True)


@pytest.fixture(scope="session")
def titanic() -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(TITANIC)


@pytest.fixture(scope="session")
def titanic_program(tmp_path_factory: pytest.TempPathFactory):
    """A small titanic program, trained once for the whole session (read-only for tests)."""
    import learnt

    set_quiet(True)
    run_dir = tmp_path_factory.mktemp("titanic-run")
    return learnt.train(TITANIC, label="survived", epochs=3, out=run_dir, force=True)


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame


def write_digit_folder(folder: Path, per_class: int = 40, classes: int = 10) -> Path:
    """A folder of real digit images (from learnt's bundled digits): folder/<digit>/<n>.png."""
    from PIL import Image

    from learnt.datasets import digits

    pixels, labels = digits()
    for label in range(classes):
        for n, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            target = folder / str(label)
            target.mkdir(parents=True, exist_ok=True)
            image = (pixels[index].astype(np.float64) * 255 / 16).round().astype(np.uint8)
            Image.fromarray(image).save(target / f"{n:03d}.png")
    return folder


@pytest.fixture(scope="session")
def digit_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digit_folder(tmp_path_factory.mktemp("digits") / "digits")


@pytest.fixture(scope="session")
def image_program(tmp_path_factory: pytest.TempPathFactory, digit_folder: Path):
    """A small CNN program on 400 digit images, trained once for the session (read-only)."""
    import learnt

    set_quiet(True)
    return learnt.train(
        digit_folder,
        epochs=15,
        augment="crop",
        init="random",
        out=tmp_path_factory.mktemp("image-run"),
    )


@pytest.fixture(scope="session")
def sms_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 real SMS messages (ham/spam), the slice bundled with learnt."""
    from learnt.datasets import write_sms_spam_sample

    return write_sms_spam_sample(tmp_path_factory.mktemp("sms") / "sms.csv")


@pytest.fixture(scope="session")
def text_program(tmp_path_factory: pytest.TempPathFactory, sms_file: Path):
    """A small Transformer program on the SMS slice, trained once for the session (read-only)."""
    import learnt

    set_quiet(True)
    return learnt.train(
        sms_file,
        label="label",
        epochs=4,
        init="random",
        arch="transformer",
        out=tmp_path_factory.mktemp("text-run"),
    )
