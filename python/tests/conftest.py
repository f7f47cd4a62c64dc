"""Fixtures: cartons packed by the carton CLI ($CARTON_BIN) from the
repository's test models, and their reference tensors."""
import os
import subprocess

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(ROOT, "testdata")


def _carton_bin():
    path = os.environ.get("CARTON_BIN")
    if not path:
        message = "set CARTON_BIN to the carton CLI (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def packed(tmp_path_factory):
    """pack(model) -> the path of a carton of testdata/model, named after it."""
    out = tmp_path_factory.mktemp("cartons")
    made = {}

    def pack(model, *flags):
        key = (model, flags)
        if key not in made:
            name = os.path.basename(model).split(".")[0]
            path = str(out / f"{name}-{len(made)}.carton")
            subprocess.run([_carton_bin(), "pack", os.path.join(TESTDATA, model), "--name", name, *flags, "-o", path],
                           check=True, capture_output=True)
            made[key] = path
        return made[key]

    return pack


@pytest.fixture(autouse=True, params=["fast", "ctypes"])
def infer_path(request, monkeypatch):
    """Every test runs on both ways an infer takes: carton_go._fast (C, the
    common case) and the ctypes path (the rest, and Pythons the wheel's
    extension was not built for)."""
    import carton_go
    if request.param == "ctypes":
        monkeypatch.setattr(carton_go, "_fastpath", None)
    else:
        assert carton_go._fastpath is not None, "carton_go._fast is not built for this interpreter"
    return request.param


def refs(prefix, kind):
    """testdata/PREFIX.KIND.NAME.npy as {NAME: array}."""
    d, base = os.path.split(os.path.join(TESTDATA, prefix))
    out = {}
    for f in sorted(os.listdir(d)):
        if f.startswith(f"{base}.{kind}.") and f.endswith(".npy"):
            out[f[len(base) + len(kind) + 2:-4]] = np.load(os.path.join(d, f))
    return out
