"""Step 3 for text: a WordPiece tokenizer fitted on the training texts, and padded token tensors.

    learnt train reviews.csv --label sentiment        the text column is detected, or --text review

The tokenizer (Hugging Face `tokenizers`, saved as `tokenizer.json` in the program) is trained on
the **training rows only**. Its vocabulary size follows from the data:

    vocabulary = distinct lower-cased words in the training texts ÷ 2, rounded to 500, within 1,000–16,000

and the maximum length is the 95th percentile of the training texts' token counts (with [CLS] and
[SEP]), within 8–256; longer texts are truncated (the fraction is printed and recorded). Empty and
missing texts are allowed: they become `[CLS] [SEP]`. This module needs numpy and `tokenizers`
only, so prediction uses it without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from learnt.errors import require
from learnt.runtime.format import TextInput

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP]  # ids 0–3
MIN_VOCABULARY, MAX_VOCABULARY = 1_000, 16_000
MIN_LENGTH, MAX_LENGTH = 8, 256
LENGTH_PERCENTILE = 95


def texts(column: np.ndarray) -> list[str]:
    """The column as strings; missing values become empty texts."""
    return [
        "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        for value in column.tolist()
    ]


def vocabulary_size(training_texts: Sequence[str]) -> int:
    words = {word for text in training_texts for word in text.lower().split()}
    return int(np.clip(round(len(words) / 2 / 500) * 500, MIN_VOCABULARY, MAX_VOCABULARY))


def fit_tokenizer(training_texts: Sequence[str]) -> Tokenizer:
    """A lower-casing WordPiece tokenizer trained on `training_texts`, adding [CLS] … [SEP]."""
    require("tokenizers", "text")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocabulary_size(training_texts),
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    tokenizer.train_from_iterator(training_texts, trainer=trainer)
    cls, sep = tokenizer.token_to_id(CLS), tokenizer.token_to_id(SEP)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", special_tokens=[(CLS, cls), (SEP, sep)]
    )
    return tokenizer


def fit_text_input(column: str, tokenizer: Tokenizer, training_texts: Sequence[str]) -> TextInput:
    """Maximum length from the training length distribution; the fraction it truncates."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    lengths = np.array([len(e.ids) for e in tokenizer.encode_batch(list(training_texts))])
    max_length = int(np.clip(np.percentile(lengths, LENGTH_PERCENTILE), MIN_LENGTH, MAX_LENGTH))
    return TextInput(
        column=column,
        vocabulary_size=tokenizer.get_vocab_size(),
        max_length=max_length,
        truncated_fraction=float((lengths > max_length).mean()),
    )


def load_tokenizer(path: Any) -> Tokenizer:
    require("tokenizers", "text")
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def tokenize(
    tokenizer: Tokenizer, column: np.ndarray, spec: TextInput
) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, mask), int64 [rows, T], padded to the longest text (at most `max_length`)."""
    tokenizer.enable_truncation(max_length=spec.max_length)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(PAD), pad_token=PAD)
    encodings = tokenizer.encode_batch(texts(column))
    if not encodings:
        return np.zeros((0, 1), dtype=np.int64), np.zeros((0, 1), dtype=np.int64)
    tokens = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    return tokens, mask
