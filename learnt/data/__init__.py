"""Steps 3 and 4: read labelled data, infer its schema, split it, encode it.

Everything here works on numpy arrays and pandas tables and never imports torch, so the runtime
(`learnt.runtime`) can reuse the same reading and encoding code.
"""
