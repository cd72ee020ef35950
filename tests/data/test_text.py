"""Text: a tokenizer fitted on training texts only, lengths from the data, every kind of text."""

from __future__ import annotations

import numpy as np
import pandas as pd

from learnt.data.schema import find_text_column
from learnt.data.text import fit_text_input, fit_tokenizer, tokenize, vocabulary_size

EDGE_CASES = ["", "   ", "naïve café déjà vu", "party 🎉🎉 tonight 😀", "word " * 500, None]


def fitted(training: list[str]):
    tokenizer = fit_tokenizer(training)
    return tokenizer, fit_text_input("text", tokenizer, training)


def test_the_tokenizer_learns_only_from_the_training_texts() -> None:
    training = ["the cat sat on the mat"] * 20 + ["a dog barked at the cat"] * 20
    tokenizer, _ = fitted(training)
    vocabulary = tokenizer.get_vocab()
    assert "cat" in vocabulary and "dog" in vocabulary
    assert "zebra" not in vocabulary  # a word only a test text would have


def test_every_edge_case_encodes(tmp_path) -> None:
    tokenizer, spec = fitted(["hello world, this is a perfectly ordinary message"] * 30)
    tokens, mask = tokenize(tokenizer, np.array(EDGE_CASES, dtype=object), spec)
    assert tokens.shape == mask.shape == (len(EDGE_CASES), spec.max_length)
    lengths = mask.sum(1)
    assert lengths[0] == lengths[1] == lengths[5] == 2  # empty, whitespace, missing: [CLS] [SEP]
    assert lengths[4] == spec.max_length  # truncated
    assert (tokens[mask == 0] == 0).all()  # padding id
    assert (tokens[:, 0] == tokenizer.token_to_id("[CLS]")).all()


def test_max_length_is_the_95th_percentile_within_bounds() -> None:
    training = [" ".join(["word"] * n) for n in range(1, 101)]
    _, spec = fitted(training)
    assert spec.max_length == int(np.percentile(np.arange(1, 101) + 2, 95))
    assert 0.04 <= spec.truncated_fraction <= 0.06


def test_vocabulary_size_rule() -> None:
    assert vocabulary_size(["a b c"]) == 1000
    assert vocabulary_size([" ".join(f"w{i}" for i in range(9000))]) == 4500
    assert vocabulary_size([" ".join(f"w{i}" for i in range(100_000))]) == 16000


def test_text_columns_are_told_from_names_and_codes(titanic: pd.DataFrame) -> None:
    assert find_text_column(titanic, "survived") is None  # names are four words: identifiers
    frame = pd.DataFrame(
        {
            "id": range(40),
            "code": [f"X{i}" for i in range(40)],
            "review": [f"this film number {i} was a real pleasure to watch" for i in range(40)],
            "stars": [1, 5] * 20,
        }
    )
    assert find_text_column(frame, "stars") == "review"
