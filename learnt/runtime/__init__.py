"""The runtime: load and verify a program, predict with it, evaluate it — without torch.

    format.py     the program format (every model of program.json) and its versioning policy
    program.py    loading and verifying a program
    predict.py    step 8: encode inputs, run the network (ONNX Runtime by default)
    evaluate.py   step 7: metrics of a program on labelled rows

Nothing here imports torch or `learnt.training` (a lint rule, TID253, enforces it), so
`pip install learnt` without the `train` extra predicts.
"""
