"""Drive carton-serve with Triton's own clients (tritonclient.http, .grpc).

usage: triton_client.py HTTP_HOST:PORT GRPC_HOST:PORT NAME=DIR/REF ...

For each model NAME, over REST: health and metadata, then infer with the
reference inputs DIR/REF.in.*.npy, binary data both ways and then JSON,
each output compared with DIR/REF.out.*.npy, and a request of the wrong
shape, which must fail with a 400; over gRPC: the same with raw contents
and INVALID_ARGUMENT. Prints one line per check; exits 1 on the first
failure.
"""
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from refs import as_sent, tensors


def check(client, name, prefix, binary, lib=httpclient):
    ins, want = tensors(prefix, "in"), tensors(prefix, "out")
    inputs = []
    for key, arr in ins.items():
        arr = as_sent(arr)
        i = lib.InferInput(key, list(arr.shape), np_to_triton_dtype(arr.dtype))
        if lib is httpclient:
            i.set_data_from_numpy(arr, binary_data=binary)
        else:
            i.set_data_from_numpy(arr)
        inputs.append(i)
    if lib is httpclient:
        outputs = [lib.InferRequestedOutput(key, binary_data=binary) for key in want]
    else:
        outputs = [lib.InferRequestedOutput(key) for key in want]
    result = client.infer(name, inputs, outputs=outputs, request_id="check-" + name)
    if lib is httpclient:
        assert result.get_response()["id"] == "check-" + name, result.get_response()
    else:
        assert result.get_response().id == "check-" + name, result.get_response()
    for key, w in want.items():
        got = result.as_numpy(key)
        assert got is not None, f"{name}: no output {key}"
        if w.dtype.kind == "U":
            got = np.array([g.decode() if isinstance(g, bytes) else g for g in got.ravel()]).reshape(got.shape)
            assert (got == w).all(), f"{name} {key}: {got} != {w}"
        else:
            assert got.shape == w.shape, f"{name} {key}: shape {got.shape} != {w.shape}"
            assert np.allclose(got, w, rtol=1e-4, atol=1e-5), f"{name} {key}: {got} != {w}"
    print(f"ok {name} infer {lib.__name__.split('.')[-1]} binary={binary}")


def main():
    client = httpclient.InferenceServerClient(url=sys.argv[1])
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert "binary_tensor_data" in meta["extensions"], meta
    print("ok server live, ready, metadata")
    grpc = grpcclient.InferenceServerClient(url=sys.argv[2])
    assert grpc.is_server_live() and grpc.is_server_ready()
    assert grpc.get_server_metadata().name == meta["name"]
    print("ok grpc server live, ready, metadata")
    for spec in sys.argv[3:]:
        name, prefix = spec.split("=", 1)
        assert client.is_model_ready(name)
        md = client.get_model_metadata(name)
        assert md["name"] == name and "inputs" in md and "outputs" in md, md  # a TorchScript carton may declare none
        print(f"ok {name} metadata platform={md['platform']}")
        check(client, name, prefix, binary=True)
        ins = tensors(prefix, "in")
        if all(a.dtype.kind != "U" for a in ins.values()):
            check(client, name, prefix, binary=False)
        assert grpc.is_model_ready(name)
        gmd = grpc.get_model_metadata(name)
        assert gmd.name == name and gmd.platform == md["platform"], gmd
        check(grpc, name, prefix, binary=True, lib=grpcclient)
        numeric = [(k, a) for k, a in ins.items() if a.dtype.kind != "U"]
        if not numeric:
            continue
        key, arr = numeric[0]
        bad = httpclient.InferInput(key, [arr.size + 1], np_to_triton_dtype(arr.dtype))
        bad.set_data_from_numpy(np.zeros(arr.size + 1, dtype=arr.dtype))
        try:
            client.infer(name, [bad])
        except InferenceServerException as e:
            assert e.status() == "400", (e.status(), e.message())
            print(f"ok {name} bad request: {e.status()}")
        else:
            raise AssertionError(f"{name}: a wrong shape was accepted")
        gbad = grpcclient.InferInput(key, [arr.size + 1], np_to_triton_dtype(arr.dtype))
        gbad.set_data_from_numpy(np.zeros(arr.size + 1, dtype=arr.dtype))
        try:
            grpc.infer(name, [gbad])
        except InferenceServerException as e:
            assert "INVALID_ARGUMENT" in str(e.status()), (e.status(), e.message())
            print(f"ok {name} grpc bad request: {e.status()}")
        else:
            raise AssertionError(f"{name}: a wrong shape was accepted over gRPC")
    try:
        client.get_model_metadata("no-such-model")
    except InferenceServerException as e:
        assert e.status() == "404", e.status()
        print("ok unknown model: 404")
    try:
        grpc.get_model_metadata("no-such-model")
    except InferenceServerException as e:
        assert "NOT_FOUND" in str(e.status()), e.status()
        print("ok grpc unknown model: NOT_FOUND")


if __name__ == "__main__":
    main()
