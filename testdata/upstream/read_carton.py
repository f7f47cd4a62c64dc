"""Reads a carton with upstream Carton's Python package (cartonml) and
prints what it found as JSON, for carton's interop test
(upstream_interop_test.go).

    python read_carton.py CARTON [SKIP_TENSOR ...]

Tensors named in SKIP_TENSOR are listed but not read: cartonml cannot hand
string tensors to Python ("String tensor output not implemented yet").
"""
import asyncio
import hashlib
import json
import os
import sys

import cartonml


def spec(s):
    return {"name": s.name, "dtype": s.dtype, "shape": s.shape,
            "description": s.description, "internal_name": s.internal_name}


async def tensors(refs, skip):
    out = {}
    for name, ref in (refs or {}).items():
        if isinstance(ref, cartonml.LazyLoadedMiscFile):
            out[name] = {"misc_sha256": hashlib.sha256(await ref.read()).hexdigest()}
        elif name in skip:
            out[name] = None
        else:
            a = await ref.get()
            out[name] = {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.flatten().tolist()}
    return out


async def main(path, skip):
    info = await cartonml.get_model_info(path)
    r = info.runner
    doc = {
        "model_name": info.model_name,
        "short_description": info.short_description,
        "model_description": info.model_description,
        "license": info.license,
        "repository": info.repository,
        "homepage": info.homepage,
        "required_platforms": info.required_platforms,
        "runner": {"runner_name": r.runner_name, "required_framework_version": r.required_framework_version,
                   "runner_compat_version": r.runner_compat_version, "opts": r.opts},
        "inputs": [spec(s) for s in info.inputs or []],
        "outputs": [spec(s) for s in info.outputs or []],
        "self_tests": [{"name": t.name, "description": t.description,
                        "inputs": await tensors(t.inputs, skip),
                        "expected_out": await tensors(t.expected_out, skip)} for t in info.self_tests or []],
        "examples": [{"name": e.name, "description": e.description,
                      "inputs": await tensors(e.inputs, skip),
                      "sample_out": await tensors(e.sample_out, skip)} for e in info.examples or []],
        "misc_files": {k: hashlib.sha256(await v.read()).hexdigest() for k, v in (info.misc_files or {}).items()},
    }
    print(json.dumps(doc))
    sys.stdout.flush()
    # cartonml's runtime can crash while the interpreter shuts down; the
    # answer is out, so leave without the shutdown.
    os._exit(0)


asyncio.run(main(sys.argv[1], set(sys.argv[2:])))
