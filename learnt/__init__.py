"""learnt — labelled data in, a program out.

    import learnt
    program = learnt.train(frame, label="survived")   # steps 1–7, returns the evaluated program
    program.predict(frame)                             # step 8: a DataFrame of predictions
    learnt.load("runs/titanic/program").evaluate(frame)

Attributes are imported lazily so that `learnt --help` and the torch-free runtime start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Program", "__version__", "load", "train"]

if TYPE_CHECKING:
    from learnt.runtime.program import Program, load
    from learnt.training.lifecycle import train


def __getattr__(name: str) -> Any:
    if name == "train":
        from learnt.training.lifecycle import train

        return train
    if name in ("load", "Program"):
        from learnt.runtime import program

        return getattr(program, name)
    raise AttributeError(f"module 'learnt' has no attribute {name!r}")
