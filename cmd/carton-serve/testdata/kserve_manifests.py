"""Checks deploy/kserve's manifests against KServe's own API types (the
kserve package's models, generated from KServe's OpenAPI schema, and the
Kubernetes types they use): every field is one the type has, every value
of the type's kind, every required field there. Then checks that the two
manifests fit each other, and prints what carton-serve's test runs:

    python kserve_manifests.py SERVINGRUNTIME INFERENCESERVICE
"""
import json
import re
import sys

import kubernetes.client
import kserve.models
import yaml

KINDS = {
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "V1alpha1ServingRuntime",
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
}
# Kubernetes quantities and int-or-string fields are "str" in the Python
# types but take numbers too; only "bool" takes a bool.
SCALARS = {"str": (str, int, float), "int": int, "bool": bool, "float": (int, float)}


def model_class(name):
    cls = getattr(kserve.models, name, None) or getattr(kubernetes.client, name, None)
    if cls is None:
        raise SystemExit(f"no API type {name}")
    return cls


def check(value, typ, path):
    """Raises on anything typ (an openapi_types string) does not allow."""
    if typ == "object":
        return
    if typ in SCALARS:
        if not isinstance(value, SCALARS[typ]) or isinstance(value, bool) != (typ == "bool"):
            raise SystemExit(f"{path}: {value!r} is not of type {typ}")
        return
    m = re.fullmatch(r"[Ll]ist\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            raise SystemExit(f"{path}: not a list")
        for i, v in enumerate(value):
            check(v, m.group(1), f"{path}[{i}]")
        return
    m = re.fullmatch(r"dict\((\w+), (.+)\)|Dict\[(\w+), (.+)\]", typ)
    if m:
        if not isinstance(value, dict):
            raise SystemExit(f"{path}: not a map")
        for k, v in value.items():
            check(v, m.group(2) or m.group(4), f"{path}.{k}")
        return
    cls = model_class(typ)
    if not isinstance(value, dict):
        raise SystemExit(f"{path}: not an object ({typ})")
    attr_of = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    kwargs = {}
    for key, v in value.items():
        if key not in attr_of:
            raise SystemExit(f"{path}: {typ} has no field {key!r}")
        check(v, cls.openapi_types[attr_of[key]], f"{path}.{key}")
        kwargs[attr_of[key]] = v
    try:
        cls(**kwargs)  # its setters refuse a missing required field
    except ValueError as e:
        raise SystemExit(f"{path} ({typ}): {e}")


def load(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    typ = KINDS.get((doc.get("apiVersion"), doc.get("kind")))
    if typ is None:
        raise SystemExit(f"{path}: unknown apiVersion/kind {doc.get('apiVersion')}/{doc.get('kind')}")
    check(doc, typ, doc["kind"])
    return doc


def main():
    runtime, isvc = load(sys.argv[1]), load(sys.argv[2])
    rspec, pred = runtime["spec"], isvc["spec"]["predictor"]
    model = pred["model"]
    if model.get("runtime") != runtime["metadata"]["name"]:
        raise SystemExit(f"the InferenceService asks for runtime {model.get('runtime')!r}, the runtime is {runtime['metadata']['name']!r}")
    formats = {f["name"] for f in rspec["supportedModelFormats"]}
    if model["modelFormat"]["name"] not in formats:
        raise SystemExit(f"model format {model['modelFormat']['name']!r} is not among the runtime's {sorted(formats)}")
    if model.get("protocolVersion", "v1") not in rspec["protocolVersions"]:
        raise SystemExit(f"protocol {model.get('protocolVersion')!r} is not among the runtime's {rspec['protocolVersions']}")
    (container,) = rspec["containers"]
    if container["name"] != "kserve-container":
        raise SystemExit("KServe runs the runtime's container named kserve-container")
    (port,) = container["ports"]
    probes = {k: container[k]["httpGet"] for k in ("readinessProbe", "livenessProbe")}
    for k, probe in probes.items():
        if probe["port"] != port["containerPort"]:
            raise SystemExit(f"{k} probes port {probe['port']}, the container serves {port['containerPort']}")
    ann = rspec.get("annotations", {})
    if int(ann.get("prometheus.kserve.io/port", port["containerPort"])) != port["containerPort"]:
        raise SystemExit("the metrics port is not the container's")
    json.dump({
        "name": isvc["metadata"]["name"],
        "args": container["args"],
        "port": port["containerPort"],
        "readiness": probes["readinessProbe"]["path"],
        "liveness": probes["livenessProbe"]["path"],
        "metrics": ann.get("prometheus.kserve.io/path", "/metrics"),
        "runAsNonRoot": container.get("securityContext", {}).get("runAsNonRoot", False),
    }, sys.stdout)


if __name__ == "__main__":
    main()
