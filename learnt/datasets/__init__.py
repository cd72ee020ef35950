"""Small data bundled with learnt, so the quickstarts run anywhere without downloads."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def digits() -> tuple[np.ndarray, np.ndarray]:
    """(pixels uint8 [1797, 8, 8] with values 0–16, labels int64 [1797])."""
    with gzip.open(HERE / "digits.csv.gz", "rt", encoding="utf-8") as handle:
        values = np.loadtxt(handle, delimiter=",", skiprows=1, dtype=np.int64)
    return values[:, 1:].reshape(-1, 8, 8).astype(np.uint8), values[:, 0]


def write_digits_table(path: Path) -> Path:
    """The digits as a CSV table: `digit`, then pixel_0_0 … pixel_7_7."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(HERE / "digits.csv.gz", "rb") as source:
        path.write_bytes(source.read())
    return path


def write_digit_images(folder: Path) -> Path:
    """The digits as PNG files in one sub-folder per class: folder/<digit>/<index>.png."""
    from PIL import Image

    pixels, labels = digits()
    for index, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        target = folder / str(label)
        target.mkdir(parents=True, exist_ok=True)
        scaled = np.round(image.astype(np.float64) * 255 / 16).astype(np.uint8)
        Image.fromarray(scaled).save(target / f"{index:04d}.png")
    return folder


def write_sms_spam_sample(path: Path) -> Path:
    """1,200 SMS messages labelled ham or spam, as CSV (`text`, `label`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(HERE / "sms_spam_sample.csv.gz", "rb") as source:
        path.write_bytes(source.read())
    return path
