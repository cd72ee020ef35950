"""The training side: everything that needs torch. Front doors import it lazily.

lifecycle.py      the eight steps wired together (`learnt train`)
prepare.py        steps 3–4: fit or reuse preprocessing, build the loop's tensors
families/         step 1: mlp, cnn, transformer — torch modules and sizing rules, one registry
init.py           step 2: initial parameters
loop.py           step 5: the training loop
state.py          the loop's whole state, saved and restored as safetensors + JSON
stopping.py       step 5: stop criteria
distributed.py    torchrun / DDP: ranks, devices, sharded batches, agreed stops (only it touches torch.distributed)
hooks.py          the loop's events; progress bar and metrics.jsonl
loggers.py        --log: TensorBoard and MLflow, mirrors of metrics.jsonl
augment.py        image batches: augmentation and normalisation
freeze.py         step 6: write a program (ONNX export, atomic directory)
torch_runtime.py  prediction in torch, for `--runtime torch`
"""

from learnt.errors import require

require("torch", "train")  # a slim install (no torch) says what to install, not a traceback
