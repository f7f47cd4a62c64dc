"""A model that answers in three steps (a generator of output dicts)."""
import numpy as np


class Model:
    def infer_with_tensors(self, tensors):
        for i in range(3):
            yield {"y": tensors["x"] * (i + 1), "words": np.array([f"step {i + 1}"])}


def get_model():
    return Model()
