"""Builds the TorchScript test models and their reference outputs.

Run with Debian's torch (python3-torch), whose models load in libtorch 2.x:
    /usr/bin/python3 make_models.py
Each model NAME gets NAME.pt, NAME.in.<input>.npy and NAME.out.<output>.npy.
Outputs of positional models are named by their specs (see the Go tests).
"""
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(20261125)


def save(name, module, inputs, outputs):
    path = os.path.join(HERE, name + ".pt")
    torch.jit.save(torch.jit.script(module), path)
    for k, v in inputs.items():
        np.save(os.path.join(HERE, f"{name}.in.{k}.npy"), v)
    for k, v in outputs.items():
        np.save(os.path.join(HERE, f"{name}.out.{k}.npy"), v)
    print(name, {k: getattr(v, "shape", None) for k, v in outputs.items()})


def arr(t):
    return t.detach().numpy()


# 1. Upstream's convention: a dict in, a dict out.
class DictIO(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        x = inputs["x"]
        return {"y": self.linear(x), "doubled": x * 2.0}


m = DictIO().eval()
x = torch.randn(3, 4)
with torch.no_grad():
    out = m({"x": x})
save("dict_io", m, {"x": arr(x)}, {k: arr(v) for k, v in out.items()})


# 2. Positional tensors in, a tuple out.
class Positional(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return a + b, a * b


m = Positional().eval()
a, b = torch.randn(2, 3), torch.randn(2, 3)
s, p = m(a, b)
save("positional", m, {"a": arr(a), "b": arr(b)}, {"sum": arr(s), "product": arr(p)})


# 3. int64, bool and float64 tensors.
class Mixed(torch.nn.Module):
    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        return {
            "next_ids": inputs["ids"] + 1,
            "inverted": ~inputs["mask"],
            "halved": inputs["x"] * 0.5,
        }


m = Mixed().eval()
ids = torch.tensor([5, -7, 1 << 40], dtype=torch.int64)
mask = torch.tensor([True, False, True])
xd = torch.randn(3, dtype=torch.float64)
out = m({"ids": ids, "mask": mask, "x": xd})
save("mixed", m, {"ids": arr(ids), "mask": arr(mask), "x": arr(xd)}, {k: arr(v) for k, v in out.items()})


# 4. A string input: List[str] in, upper-cased strings and their lengths out.
class Strings(torch.nn.Module):
    def forward(self, words: List[str]) -> Tuple[List[str], torch.Tensor]:
        upper = [w.upper() for w in words]
        lengths = torch.tensor([len(w) for w in words], dtype=torch.int64)
        return upper, lengths


m = Strings().eval()
words = ["hello", "carton", "", "go"]
upper, lengths = m(words)
save("strings", m, {"words": np.array(words, dtype=str)}, {"upper": np.array(upper, dtype=str), "lengths": arr(lengths)})


# 5. The input returned unchanged: the output aliases the input.
class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


m = Identity().eval()
x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
save("identity", m, {"x": arr(x)}, {"output_0": arr(x)})


# 6. O(1) work on any input size: for the overhead benchmark's 64 MiB input.
class FirstElement(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(0, 0, 1).clone()


m = FirstElement().eval()
x = torch.arange(8, dtype=torch.float32)
save("first", m, {"x": arr(x)}, {"output_0": arr(m(x))})


# 7. Many inputs of several ranks, in a dict: the shim takes the data of
# the first ten from its call's arguments and the rest from the tensor
# descriptions, and all sizes from one concatenated array.
class Many(torch.nn.Module):
    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        keys = list(inputs.keys())
        keys.sort()
        sums: List[torch.Tensor] = []
        dims: List[int] = []
        for i, k in enumerate(keys):
            t = inputs[k]
            sums.append(t.sum() * float(i + 1))
            dims.append(t.dim())
            for d in t.shape:
                dims.append(d)
        return {"sums": torch.stack(sums), "dims": torch.tensor(dims), "last": inputs[keys[-1]] * 2.0}


m = Many().eval()
shapes = [(), (3,), (2, 3), (1, 2, 3)]
many = {f"a{k:02d}": torch.randn(shapes[k % 4]) for k in range(12)}
save("many", m, {k: arr(v) for k, v in many.items()}, {k: arr(v) for k, v in m(many).items()})

# 8. Arguments and results that are not tensors: int, float, bool,
# List[int] and Optional[float] arguments, passed as one-element and 1-D
# tensors, and int, float, bool and list results, returned as 0-d and 1-D
# tensors.
class Scalars(torch.nn.Module):
    def forward(self, x: torch.Tensor, n: int, scale: float, flag: bool, sizes: List[int],
                shift: Optional[float]) -> Tuple[torch.Tensor, int, float, bool, List[int], List[float]]:
        y = x.repeat(n) * scale
        if shift is not None:
            y = y + shift
        if flag:
            y = -y
        rev: List[int] = []
        for s in sizes:
            rev.insert(0, s)
        return y, n * 2, scale / 2, not flag, rev, [scale, float(n)]


m = Scalars().eval()
x = torch.tensor([1.0, 2.0])
y, n2, half, notflag, rev, pair = m(x, 3, 1.5, True, [1, 2, 3], 0.5)
save("scalars", m,
     {"x": arr(x), "n": np.array(3, np.int64), "scale": np.array(1.5), "flag": np.array(True),
      "sizes": np.array([1, 2, 3], np.int64), "shift": np.array(0.5, np.float32)},
     {"output_0": arr(y), "output_1": np.array(n2, np.int64), "output_2": np.array(half), "output_3": np.array(notflag),
      "output_4": np.array(rev, np.int64), "output_5": np.array(pair)})

# 9. Trailing arguments with defaults: a carton may declare fewer inputs
# than forward takes, and forward fills in the rest.
class OptionalArgs(torch.nn.Module):
    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None, scale: float = 2.0) -> torch.Tensor:
        y = x * scale
        if mask is not None:
            y = y * mask
        return y


m = OptionalArgs().eval()
x = torch.tensor([1.0, 2.0, 3.0])
mask = torch.tensor([1.0, 0.0, 1.0])
save("optional_args", m, {"x": arr(x), "mask": arr(mask)}, {"output_0": arr(m(x, mask))})

# 10. Forward changing its input dict by x[0]: as many keys under another
# name (> 0), a key more (< 0), nothing (0). Every call must still see a
# dict of its own inputs alone ("keys" counts them), whatever the last
# call left in the one before.
class DictMutates(torch.nn.Module):
    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        n = len(inputs)
        x = inputs["x"]
        if bool(x[0] < 0):
            inputs["extra"] = x
        elif bool(x[0] > 0):
            inputs["y"] = inputs.pop("x")
        return {"keys": torch.tensor(n), "doubled": x * 2.0}


m = DictMutates().eval()
x = torch.tensor([1.0, 2.0])
save("dict_mutates", m, {"x": arr(x)}, {"keys": np.array(1, np.int64), "doubled": arr(x * 2.0)})


# 11. Forward keeping its input dict: "prev" is the x of the dict the last
# call kept, which a later call must not change.
class DictKeeps(torch.nn.Module):
    last: Dict[str, torch.Tensor]

    def __init__(self):
        super().__init__()
        self.last = {"x": torch.zeros(2)}

    def forward(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        prev = self.last["x"].clone()
        self.last = inputs
        return {"prev": prev}


m = DictKeeps().eval()
x = torch.tensor([1.0, 2.0])
save("dict_keeps", m, {"x": arr(x)}, {"prev": arr(torch.zeros(2))})

# Not TorchScript: what torch.save writes for a state dict (an eager
# module's file looks the same), which carton pack must refuse.
torch.save(torch.nn.Linear(4, 2).state_dict(), os.path.join(HERE, "state_dict.pt"))
print("state_dict")
