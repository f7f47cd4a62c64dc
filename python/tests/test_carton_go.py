"""carton_go on real runtimes: ONNX Runtime, libtorch and TensorFlow."""
import asyncio
import gc
import os
import threading

import numpy as np
import pytest

import carton_go as carton
from conftest import refs

MODELS = [  # (model file, reference prefix)
    ("onnx/matmul_add.onnx", "onnx/matmul_add"),
    ("torch/dict_io.pt", "torch/dict_io"),
    ("tensorflow/dense", "tensorflow/dense"),
]


def assert_outputs(out, prefix):
    want = refs(prefix, "out")
    assert set(want) <= set(out)
    for name, w in want.items():
        got = out[name]
        if w.dtype.kind == "U":
            assert got.tolist() == w.tolist(), name
        else:
            assert got.shape == w.shape and got.dtype == w.dtype, name
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model,prefix", MODELS)
def test_infer_async_like_upstream(packed, model, prefix):
    async def main():
        m = await carton.load(packed(model))
        out = await m.infer(refs(prefix, "in"))
        assert_outputs(out, prefix)
        return m.info

    info = asyncio.run(main())
    assert info.runtime["framework"] in ("onnxruntime", "libtorch", "tensorflow")


@pytest.mark.parametrize("model,prefix", MODELS)
def test_infer_sync(packed, model, prefix):
    with carton.load_sync(packed(model)) as m:
        for _ in range(3):
            assert_outputs(m.infer_sync(refs(prefix, "in")), prefix)


def test_strings(packed):
    with carton.load_sync(packed("tensorflow/strings")) as m:
        out = m.infer_sync({"text": np.array(["ab", "c"])})
        assert out["upper"].tolist() == ["AB", "C"]
        assert out["lengths"].tolist() == [2, 1]
        out = m.infer_sync({"text": np.array([b"x", b"yz"], dtype=object)})
        assert out["upper"].tolist() == ["X", "YZ"]
        assert_outputs(m.infer_sync(refs("tensorflow/strings", "in")), "tensorflow/strings")


def test_get_model_info(packed):
    info = asyncio.run(carton.get_model_info(packed("onnx/matmul_add.onnx")))
    assert info.model_name == "matmul_add"
    assert info.runner.runner_name == "onnx"
    assert [(s.name, s.dtype, s.shape) for s in info.inputs] == [("x", "float32", ["batch", 4])]
    assert info.outputs[0].name == "y"
    assert len(info.manifest_sha256) == 64
    assert info.runtime is None


def test_outputs_are_carton_memory_and_outlive_the_model(packed):
    m = carton.load_sync(packed("onnx/matmul_add.onnx"))
    x = refs("onnx/matmul_add", "in")["x"]
    out = m.infer_sync({"x": x})
    y = out["y"]
    assert y.base is not None and not y.flags.owndata, "a view of carton's memory, not a copy"
    m.close()
    del out
    gc.collect()
    assert_outputs({"y": y}, "onnx/matmul_add")  # the outputs stay valid until collected
    with pytest.raises(carton.ClosedError):
        m.infer_sync({"x": x})


def test_non_contiguous_and_big_endian_inputs_are_copied_once(packed):
    with carton.load_sync(packed("onnx/matmul_add.onnx")) as m:
        x = refs("onnx/matmul_add", "in")["x"]
        strided = np.asfortranarray(x)
        assert not strided.flags.c_contiguous
        assert_outputs(m.infer_sync({"x": strided}), "onnx/matmul_add")
        assert_outputs(m.infer_sync({"x": x.astype(">f4")}), "onnx/matmul_add")
        readonly = x.copy()
        readonly.flags.writeable = False
        assert_outputs(m.infer_sync({"x": readonly}), "onnx/matmul_add")


def test_threads_share_a_model(packed):
    m = carton.load_sync(packed("torch/dict_io.pt"))
    x = refs("torch/dict_io", "in")
    errors = []

    def work():
        try:
            for _ in range(50):
                assert_outputs(m.infer_sync(x), "torch/dict_io")
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    m.close()


def test_the_gil_is_released_during_inference(packed):
    """Another Python thread runs while a model does: the main thread's
    calls would hold it otherwise."""
    m = carton.load_sync(packed("tensorflow/dense"))
    x = refs("tensorflow/dense", "in")
    stop = threading.Event()
    ticks = [0]

    def count():
        while not stop.is_set():
            ticks[0] += 1

    t = threading.Thread(target=count)
    t.start()
    for _ in range(200):
        m.infer_sync(x)
    stop.set()
    t.join()
    assert ticks[0] > 0
    m.close()


def test_errors(packed, tmp_path):
    with pytest.raises(carton.NotFoundError):
        carton.load_sync(str(tmp_path / "missing.carton"))
    bad = tmp_path / "bad.carton"
    bad.write_bytes(b"not a zip")
    with pytest.raises(carton.MalformedError):
        carton.load_sync(str(bad))
    path = packed("onnx/matmul_add.onnx")
    with pytest.raises(carton.InvalidOptionError):
        carton.load_sync(path, override_runner_opts={"graph_optimization_level": "turbo"})
    with pytest.raises(carton.InvalidOptionError):
        carton.load_sync(path, visible_device="cuda:0")  # the onnx runner runs on cpu
    with pytest.raises(carton.NoRuntimeError):
        carton.load_sync(path, override_required_framework_version="=0.1.0")
    with carton.load_sync(path, visible_device="cpu", override_runner_opts={"intra_op_threads": 1}) as m:
        x = refs("onnx/matmul_add", "in")["x"]
        with pytest.raises(carton.InvalidInputError):
            m.infer_sync({"nope": x})
        with pytest.raises(carton.InvalidInputError):
            m.infer_sync({"x": x[:, :3]})
        with pytest.raises(TypeError):
            m.infer_sync({"x": x.astype(np.complex64)})
        assert_outputs(m.infer_sync({"x": x}), "onnx/matmul_add")


def test_environment_is_read_at_each_load(packed, tmp_path, monkeypatch):
    """libcarton was loaded at import; a CARTON_* setting made afterwards
    in os.environ still applies to the next load."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CARTON_CACHE_DIR", str(cache))
    with carton.load_sync(packed("tensorflow/dense")) as m:  # a SavedModel is extracted into the cache
        assert_outputs(m.infer_sync(refs("tensorflow/dense", "in")), "tensorflow/dense")
    assert (cache / "models").is_dir(), list(cache.iterdir()) if cache.exists() else "no cache"
    monkeypatch.setenv("CARTON_OFFLINE", "1")
    with pytest.raises(carton.OfflineError):  # no 9.9.9 anywhere, and no network to fetch one
        carton.load_sync(packed("onnx/matmul_add.onnx"), override_required_framework_version="=9.9.9")


def test_inputs_the_fast_path_declines_take_the_other(packed):
    """A dict subclass, an ndarray subclass, lists, an unknown dtype: the
    same answers or the same errors either way."""
    import collections
    with carton.load_sync(packed("onnx/matmul_add.onnx")) as m:
        x = refs("onnx/matmul_add", "in")["x"]
        assert_outputs(m.infer_sync(collections.OrderedDict(x=x)), "onnx/matmul_add")
        assert_outputs(m.infer_sync({"x": x.view(type("Sub", (np.ndarray,), {}))}), "onnx/matmul_add")
        with pytest.raises(carton.InvalidInputError, match="float64"):  # a list of floats is float64
            m.infer_sync({"x": x.tolist()})
        with pytest.raises(TypeError, match="complex"):
            m.infer_sync({"x": x.astype(np.complex64)})
        with pytest.raises(carton.InvalidInputError):
            m.infer_sync({"nope": x})


def test_outputs_hold_their_call_not_the_dict(packed):
    """Outputs live while any array of the call does, whatever happens to
    the dict they came in or the inputs."""
    with carton.load_sync(packed("torch/dict_io.pt")) as m:
        x = refs("torch/dict_io", "in")
        arrays = [m.infer_sync(dict(x)) for _ in range(20)]
        kept = [next(iter(out.values())) for out in arrays]
        del arrays
        gc.collect()
        out = m.infer_sync(x)
        for k in kept:
            np.testing.assert_array_equal(k, next(iter(out.values())))


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc")
def test_calls_leak_nothing(packed):
    """50,000 calls, outputs dropped as they come, failing calls among
    them: the process grows by less than a leak of 100 bytes a call."""
    with carton.load_sync(packed("onnx/matmul_add.onnx")) as m:
        x = {"x": refs("onnx/matmul_add", "in")["x"]}
        for _ in range(5000):
            m.infer_sync(x)
        gc.collect()
        before = _rss_bytes()
        for i in range(50000):
            m.infer_sync(x)
            if i % 10 == 0:
                with pytest.raises(carton.InvalidInputError):
                    m.infer_sync({"nope": x["x"]})
        gc.collect()
        grown = _rss_bytes() - before
        assert grown < 50000 * 100, f"grew {grown} bytes over 50,000 calls"
