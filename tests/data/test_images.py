"""Reading images: every mode brought to the program's channels, orientation applied, bad files named."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from learnt.data.images import (
    BadImage,
    decode_all,
    decode_image,
    find_images,
    read_image_folder,
    survey,
)
from learnt.errors import DataError


def save(image: Image.Image, path: Path, **options: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def test_every_mode_and_format_decodes_to_the_requested_channels(tmp_path: Path) -> None:
    rgb = Image.new("RGB", (30, 20), (200, 10, 10))
    files = [
        save(rgb, tmp_path / "a.png"),
        save(rgb, tmp_path / "b.jpg"),
        save(rgb.convert("L"), tmp_path / "c.bmp"),
        save(rgb.convert("RGBA"), tmp_path / "d.webp"),
        save(rgb.convert("P"), tmp_path / "e.gif"),
        save(Image.new("RGBA", (12, 12), (0, 0, 0, 0)), tmp_path / "transparent.png"),
    ]
    for file in files:
        assert decode_image(str(file), 16, 3).shape == (3, 16, 16)
        assert decode_image(str(file), 16, 1).shape == (1, 16, 16)
    red = decode_image(str(files[0]), 16, 3)
    assert red[0].min() == 200 and red[1].max() == 10
    assert decode_image(str(files[-1]), 16, 3).min() == 255  # transparency composited on white


def test_gif_uses_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("L", (10, 10), 0), Image.new("L", (10, 10), 255)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert decode_image(str(path), 10, 1).max() == 0


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("L", (40, 20), 0)
    image.paste(255, (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    path = save(image, tmp_path / "rotated.jpg", exif=exif, quality=95)
    pixels = decode_image(str(path), 20, 1)[0]  # upright it is 20 wide, 40 tall → centre crop
    upright = np.asarray(Image.open(path).transpose(Image.Transpose.ROTATE_270).resize((20, 40)))
    assert pixels.shape == (20, 20)
    assert np.abs(pixels.astype(int) - upright[10:30].astype(int)).mean() < 20
    assert pixels[:5].mean() > 200 and pixels[-5:].mean() < 50  # white on top once rotated


def test_corrupt_truncated_non_image_and_bomb_files_are_bad(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    bomb = save(Image.new("1", (10_000, 9_000)), tmp_path / "bomb.png")  # 90 Mpx > Pillow's limit
    with pytest.raises(BadImage, match="corrupt or truncated"):
        decode_image(str(truncated), 16, 3)
    with pytest.raises(BadImage, match="not an image"):
        decode_image(str(text), 16, 3)
    with pytest.raises(BadImage, match="decompression-bomb"):
        decode_image(str(bomb), 16, 3)


def test_decode_all_stops_naming_the_file_or_skips_and_counts(tmp_path: Path) -> None:
    good = [str(save(Image.new("L", (8, 8), i * 20), tmp_path / f"{i}.png")) for i in range(5)]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    paths = [*good[:2], str(broken), *good[2:]]
    with pytest.raises(DataError, match=r"image .*broken\.png: .*--skip-bad"):
        decode_all(paths, 8, 1, skip_bad=False, source="photos")
    decoded = decode_all(paths, 8, 1, skip_bad=True, source="photos")
    assert decoded.good.tolist() == [0, 1, 3, 4, 5]
    assert [Path(p).name for p, _ in decoded.bad] == ["broken.png"]
    assert decoded.pixels.shape == (5, 1, 8, 8)
    assert decoded.pixels[:, 0, 0, 0].tolist() == [0, 20, 40, 60, 80]


def test_class_folders(tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        for i in range(3):
            save(Image.new("RGB", (10, 10)), tmp_path / "pets" / label / "nested" / f"{i}.jpg")
    (tmp_path / "pets" / "dog" / "README.txt").write_text("ignored")
    table = read_image_folder(tmp_path / "pets")
    assert table.columns["label"].tolist() == ["cat"] * 3 + ["dog"] * 3
    assert len(find_images([tmp_path / "pets"])) == 6


def test_folder_problems_are_clear(tmp_path: Path) -> None:
    (tmp_path / "one" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="found 1 class folder; expected one sub-folder per class"):
        read_image_folder(tmp_path / "one")
    save(Image.new("L", (4, 4)), tmp_path / "two" / "cat" / "a.png")
    (tmp_path / "two" / "dog").mkdir()
    with pytest.raises(DataError, match="class folder 'dog' has no images"):
        read_image_folder(tmp_path / "two")
    with pytest.raises(DataError, match="no such folder"):
        read_image_folder(tmp_path / "missing")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their permissions")
def test_an_unreadable_folder_is_clear(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(DataError, match="permission denied"):
            read_image_folder(locked)
    finally:
        locked.chmod(0o755)


def test_survey_picks_the_median_side_and_channels(tmp_path: Path) -> None:
    paths = [str(save(Image.new("L", (s, s + 5)), tmp_path / f"{s}.png")) for s in (20, 24, 40)]
    assert (survey(paths).size(), survey(paths).channels) == (24, 1)
    paths.append(str(save(Image.new("RGB", (300, 300)), tmp_path / "big.png")))
    assert (survey(paths).size(), survey(paths).channels) == (32, 3)
