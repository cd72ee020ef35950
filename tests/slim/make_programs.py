"""Programs for the slim-install tests, made with the full install (training needs torch).

    .venv/bin/python tests/slim/make_programs.py FOLDER

Writes FOLDER/{table,images,text}/program and, beside each, `input.csv` (or the image folder) and
`expected.csv`: the predictions the full install makes. `tests/slim/test_slim.py`, run in a venv
with only `learnt[serve,text]`, checks that it predicts and serves the same numbers without torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main(folder: Path) -> None:
    import learnt
    from learnt.console import set_quiet
    from learnt.datasets import write_sms_spam_sample
    from tests.conftest import TITANIC, write_digit_folder

    set_quiet(True)
    images = write_digit_folder(folder / "images" / "input", per_class=20)
    text = write_sms_spam_sample(folder / "text" / "input.csv")
    runs = {
        "table": (TITANIC, {"label": "survived", "epochs": 3}),
        "images": (images, {"epochs": 2}),
        "text": (text, {"label": "label", "epochs": 2, "init": "random"}),
    }
    for kind, (data, settings) in runs.items():
        program = learnt.train(data, out=folder / kind / "run", **settings)
        program.predict(data).to_csv(folder / kind / "expected.csv", index=False)
        (folder / kind / "data").write_text(str(data))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
