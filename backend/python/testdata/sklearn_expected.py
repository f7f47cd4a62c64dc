"""Runs the sklearn model of testdata/sklearn in this (plain) Python and
writes what it returns for the input as OUT_DIR/NAME.npy.

usage: sklearn_expected.py MODEL_DIR X.npy C OUT_DIR
"""
import os
import sys

import numpy as np

model_dir, x_path, c, out = sys.argv[1:]
sys.path.insert(0, model_dir)
import main  # noqa: E402

result = main.get_model(c).infer_with_tensors({"x": np.load(x_path)})
for name, value in result.items():
    np.save(os.path.join(out, name + ".npy"), value)
