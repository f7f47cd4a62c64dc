"""Drive carton-serve with KServe's own clients (InferenceRESTClient, InferenceGRPCClient).

usage: kserve_client.py HTTP_HOST:PORT GRPC_HOST:PORT NAME=DIR/REF ...

For each model NAME: server and model health over both protocols, then
infer with the reference inputs DIR/REF.in.*.npy over REST (JSON, then
binary inputs) and gRPC, each output compared with DIR/REF.out.*.npy, and a
request of the wrong shape, which must fail. Prints one line per check;
exits 1 on the first failure.
"""
import asyncio
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.utils.numpy_codec import from_np_dtype

from refs import as_sent, tensors


def request(name, ins, binary, rid):
    inputs = []
    for key, arr in ins.items():
        arr = as_sent(arr)
        i = InferInput(key, list(arr.shape), from_np_dtype(arr.dtype))
        i.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(i)
    return InferRequest(model_name=name, infer_inputs=inputs, request_id=rid)


def compare(name, response, want):
    got = {o.name: o.as_numpy() for o in response.outputs}
    for key, w in want.items():
        assert key in got, f"{name}: no output {key} in {list(got)}"
        g = got[key]
        if w.dtype.kind == "U":
            g = np.array([s.decode() if isinstance(s, bytes) else s for s in g.ravel()]).reshape(g.shape)
            assert (g == w).all(), f"{name}/{key}: {g} != {w}"
        else:
            assert g.shape == w.shape, f"{name}/{key}: shape {g.shape} != {w.shape}"
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


async def main(http_addr, grpc_addr, models):
    base = "http://" + http_addr
    rest = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    grpc = InferenceGRPCClient(grpc_addr, retries=0, timeout=30)
    assert await rest.is_server_live(base), "REST live"
    assert await rest.is_server_ready(base), "REST ready"
    assert await grpc.is_server_live(), "gRPC live"
    assert await grpc.is_server_ready(), "gRPC ready"
    print("ok server live and ready, REST and gRPC")
    for spec in models:
        name, prefix = spec.split("=", 1)
        ins, want = tensors(prefix, "in"), tensors(prefix, "out")
        assert await rest.is_model_ready(base, name), name
        assert await grpc.is_model_ready(name), name
        for binary in (False, True):
            rid = f"kserve-{name}-{binary}"
            res = await rest.infer(base, request(name, ins, binary, rid), model_name=name)
            assert res.id == rid, (res.id, rid)
            compare(name, res, want)
            print(f"ok {name} infer rest binary={binary}")
        res = await grpc.infer(request(name, ins, False, "kserve-grpc-" + name))
        assert res.id == "kserve-grpc-" + name, res.id
        compare(name, res, want)
        print(f"ok {name} infer grpc")
    name, prefix = models[0].split("=", 1)
    bad = {k: np.concatenate([v, v], axis=-1) for k, v in tensors(prefix, "in").items()}
    try:
        await rest.infer(base, request(name, bad, False, "bad"), model_name=name)
        raise AssertionError("a wrong shape was accepted over REST")
    except AssertionError:
        raise
    except Exception as e:  # httpx's HTTPStatusError, which kserve raises
        assert getattr(getattr(e, "response", None), "status_code", None) == 400, repr(e)
        print(f"ok {name} rest bad request: {type(e).__name__}")
    try:
        await grpc.infer(request(name, bad, False, "bad"))
        raise AssertionError("a wrong shape was accepted over gRPC")
    except AssertionError:
        raise
    except Exception as e:
        assert e.code().name == "INVALID_ARGUMENT", repr(e)
        print(f"ok {name} grpc bad request: {type(e).__name__}")
    await rest.close()
    await grpc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
