"""Step 3 for images: find labelled pictures, decode each one once into a uint8 store.

    learnt train photos/                      photos/<class>/**/*.png|jpg|jpeg|bmp|gif|webp|tif
    learnt train labels.csv --label species   a column of image paths, relative to the file

Pillow decodes every image exactly once: EXIF orientation applied, the first frame of a GIF,
grayscale/RGB/RGBA/palette brought to the program's channel count (transparency composited on
white; 16-bit grey scaled to 8 bits, 65535 → 255), the shorter side resized to the input size and the centre cropped square. The result is
one `uint8 [N, C, S, S]` array — in memory up to `IN_MEMORY_BYTES`, a memory-mapped file beyond —
so training epochs never touch Pillow. Pillow's decompression-bomb limit is kept: an image over it
is a bad file like a corrupt one, named in the error (or skipped and counted with `--skip-bad`).
This module needs numpy and Pillow only, so prediction uses it without torch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from learnt.data.tables import Table
from learnt.errors import DataError, first_line, require
from learnt.runtime.format import ImageInput

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
IN_MEMORY_BYTES = 2 * 1024**3  # a larger store is a memory-mapped file in the run directory
MAX_SIZE, MIN_SIZE = 64, 16  # the chosen input size is the median shorter side, within these
SURVEY_SAMPLE = 256
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


class BadImage(Exception):
    """One file that cannot be used as an image; `str()` says why."""


@dataclass
class Decoded:
    """Decoded pixels of the usable images, and what was wrong with the others."""

    pixels: np.ndarray  # uint8 [N_good, C, S, S]
    good: np.ndarray  # positions (in the input order) of the decoded images
    bad: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


# --- finding images -----------------------------------------------------------------------------


def is_image_path(value: object) -> bool:
    return isinstance(value, str) and Path(value).suffix.lower() in IMAGE_SUFFIXES


def read_image_folder(root: Path) -> Table:
    """A table with `path` and `label` columns from `root/<class>/…` (one sub-folder per class)."""
    if not root.exists():
        raise DataError(f"{root}: no such folder", file=root)
    links: list[Path] = []
    try:
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except PermissionError as error:
        raise DataError(f"{root}: cannot be read (permission denied)", file=root) from error
    links += [p for p in entries if p.is_symlink() and p.is_dir()]
    folders = [p for p in entries if p.is_dir() and not p.is_symlink()]
    if len(folders) < 2:
        raise DataError(
            f"{root}: found {len(folders)} class folder{'s' if len(folders) != 1 else ''}; expected one "
            "sub-folder per class (at least two), e.g. photos/cats/*.jpg and photos/dogs/*.jpg"
        )
    paths: list[str] = []
    labels: list[str] = []
    for folder in folders:
        images = images_under(folder, root, links)
        if not images:
            raise DataError(
                f"{folder}: class folder '{folder.name}' has no images "
                f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        paths += [str(p) for p in images]
        labels += [folder.name] * len(images)
    report_links(links, root)
    return Table(
        {"path": np.array(paths, dtype=object), "label": np.array(labels, dtype=object)}, str(root)
    )


def find_images(sources: Sequence[Path]) -> list[Path]:
    """Image files among `sources`: files as given, folders searched recursively (sorted)."""
    found: list[Path] = []
    links: list[Path] = []
    for source in sources:
        if source.is_dir():
            found += images_under(source, source, links)
            report_links(links, source)
            links.clear()
        elif source.exists():
            found.append(source)
        else:
            raise DataError(f"{source}: no such file or folder", file=source)
    return found


def images_under(folder: Path, root: Path, links: list[Path]) -> list[Path]:
    """Image files under `folder` (sorted, hidden entries left out).

    Symbolic links are never followed into folders (no loops, nothing outside `root`); a link to a
    file is followed only when the file lies inside `root`. Links left out are added to `links`.
    """
    inside = root.resolve()

    def refuse(error: OSError) -> None:
        raise DataError(f"{error.filename}: cannot be read ({error.strerror})", file=error.filename)

    found: list[Path] = []
    for directory, subfolders, files in os.walk(folder, onerror=refuse):
        here = Path(directory)
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        links += [here / d for d in subfolders if (here / d).is_symlink()]
        subfolders[:] = [d for d in subfolders if not (here / d).is_symlink()]
        for name in files:
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if path.is_symlink() and not (path.resolve().is_relative_to(inside) and path.is_file()):
                links.append(path)
                continue
            found.append(path)
    return sorted(found)


def report_links(links: list[Path], root: Path) -> None:
    """Say how many symbolic links were left out, naming a few."""
    if not links:
        return
    from learnt.console import say, step

    names = ", ".join(str(p) for p in links[:3]) + (
        f" and {len(links) - 3} more" if len(links) > 3 else ""
    )
    say(
        step(
            "images",
            f"left out {len(links)} symbolic link{'s' if len(links) != 1 else ''} in {root} "
            f"(links are followed only to image files inside it): {names}",
        )
    )


def image_table(sources: Sequence[Path]) -> Table:
    """A one-column (`path`) table of the images in files and folders, for prediction."""
    images = find_images(sources)
    named = name_sources(sources)
    if not images:
        raise DataError(f"{named}: no images found")
    return Table({"path": np.array([str(p) for p in images], dtype=object)}, named)


def name_sources(sources: Sequence[Path], limit: int = 3) -> str:
    """'a.png, b.png, c.png and 297 more': the inputs, short enough for one line of a message."""
    listed = ", ".join(str(s) for s in sources[:limit])
    return listed + (f" and {len(sources) - limit} more" if len(sources) > limit else "")


def resolve_paths(column: np.ndarray, base: Path) -> list[str]:
    """Image paths from a table column, relative paths taken from the table file's folder."""
    return [str(Path(v) if Path(str(v)).is_absolute() else base / str(v)) for v in column.tolist()]


# --- decoding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Survey:
    """What a sample of the images says: their median shorter side, and whether all are grey."""

    side: int  # 0 when no sampled image could be read
    grey: bool

    def size(self) -> int:
        """learnt's own input side: the median shorter side within MIN_SIZE–MAX_SIZE."""
        return int(np.clip(self.side, MIN_SIZE, MAX_SIZE)) if self.side else MAX_SIZE

    @property
    def channels(self) -> Literal[1, 3]:
        return 1 if self.grey else 3


def survey(paths: Sequence[str], seed: int = 0) -> Survey:
    """The median shorter side and the colour of a sample of up to SURVEY_SAMPLE images."""
    sides, grey = sample_images(paths, seed)
    return Survey(int(np.median(sides)) if sides else 0, grey)


def sample_images(paths: Sequence[str], seed: int) -> tuple[list[int], bool]:
    """(shorter sides, whether all are grayscale) of up to SURVEY_SAMPLE images."""
    require("PIL", "images")
    from PIL import Image

    rng = np.random.default_rng(seed)
    sample = rng.choice(len(paths), min(len(paths), SURVEY_SAMPLE), replace=False)
    sides, grey = [], True
    for i in sample.tolist():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(paths[i]) as image:
                    sides.append(min(image.size))
                    grey = grey and image.mode in GRAYSCALE_MODES
        except Exception:  # bad files are reported when decoding
            continue
    return sides, grey


def decode_image(path: str, size: int, channels: int) -> np.ndarray:
    """uint8 [C, size, size]: oriented, converted, shorter side resized, centre cropped."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.draft("L" if channels == 1 else "RGB", (size, size))  # JPEG: decode smaller
                image = ImageOps.exif_transpose(image)
                image = to_channels(image, channels)
                pixels = np.asarray(centre_square(image, size), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadImage(
            f"too many pixels for an image (decompression-bomb limit): {error}"
        ) from error
    except UnidentifiedImageError as error:
        raise BadImage("not an image, or a format Pillow cannot read") from error
    except FileNotFoundError as error:
        raise BadImage("no such file") from error
    except PermissionError as error:
        raise BadImage("cannot be read (permission denied)") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadImage(f"corrupt or truncated ({first_line(error, 160)})") from error
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # [H, W, C] → [C, H, W]


def to_channels(image: Any, channels: int) -> Any:
    """Grayscale ('L') or RGB; transparent pixels composited on white; 16-bit grey scaled to 8."""
    from PIL import Image

    if image.mode in SIXTEEN_BIT_MODES:
        image = to_eight_bits(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image.convert("L" if channels == 1 else "RGB")


def to_eight_bits(image: Any) -> Any:
    """A 16-bit grey image (I;16, or I holding values above 255) as 8-bit 'L': value / 257, so
    65535 is white. Pillow's own conversion clips instead, which turns most 16-bit images white."""
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16") or (values.size and values.max() > 255):
        values = values / 257
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def centre_square(image: Any, size: int) -> Any:
    from PIL import Image

    width, height = image.size
    scale = size / min(width, height)
    resized = (max(size, round(width * scale)), max(size, round(height * scale)))
    if resized != image.size:
        image = image.resize(resized, Image.Resampling.BILINEAR)
    left, top = (resized[0] - size) // 2, (resized[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def decode_all(
    paths: Sequence[str],
    size: int,
    channels: int,
    *,
    skip_bad: bool,
    source: str,
    store: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> Decoded:
    """Decode every image once (threads: Pillow releases the GIL while decoding).

    A bad file stops with an error naming it, unless `skip_bad`, which leaves it out and records it.
    """
    require("PIL", "images")
    shape = (len(paths), channels, size, size)
    pixels = _allocate(shape, store)
    ok = np.zeros(len(paths), dtype=bool)
    bad: list[tuple[str, str]] = []

    def work(i: int) -> tuple[int, str | None]:
        try:
            pixels[i] = decode_image(paths[i], size, channels)
            return i, None
        except BadImage as error:
            return i, str(error)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for i, problem in pool.map(work, range(len(paths)), chunksize=64):
            if problem is None:
                ok[i] = True
            elif skip_bad:
                bad.append((paths[i], problem))
            else:
                pool.shutdown(cancel_futures=True)
                raise DataError(
                    f"{source}: image {paths[i]}: {problem} (use --skip-bad to leave such files out)"
                )
            if progress is not None:
                progress(1)
    good = np.flatnonzero(ok)
    return Decoded(pixels if ok.all() else pixels[good], good, bad)


def _allocate(shape: tuple[int, ...], store: Path | None) -> np.ndarray:
    if store is not None and int(np.prod(shape)) > IN_MEMORY_BYTES:
        store.parent.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(store, mode="w+", dtype=np.uint8, shape=shape)
    return np.zeros(shape, dtype=np.uint8)


def fit_image_input(
    column: str, pixels: np.ndarray, size: int, channels: Literal[1, 3]
) -> ImageInput:
    """Per-channel mean and std of pixel/255 over the training images (in chunks: bounded memory)."""
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for start in range(0, len(pixels), 4096):
        chunk = pixels[start : start + 4096].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 2, 3))
        squares += (chunk**2).sum(axis=(0, 2, 3))
        count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    return ImageInput(
        column=column, size=size, channels=channels, mean=mean.tolist(), std=std.tolist()
    )


def normalise(pixels: np.ndarray, spec: ImageInput) -> np.ndarray:
    """float32 [B, C, S, S] = (pixel/255 - mean) / std, as the network was trained on."""
    mean = np.asarray(spec.mean, dtype=np.float32)[None, :, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[None, :, None, None]
    return ((pixels.astype(np.float32) / 255.0) - mean) / std
