"""A carton's metadata, with upstream cartonml's attribute names."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union


@dataclass
class TensorSpec:
    name: str
    dtype: str
    # A list of dims (int sizes, str symbols, or None for any size), a str
    # symbol for a whole shape, or None for any shape.
    shape: Union[List[Union[int, str, None]], str, None]
    description: Optional[str] = None
    internal_name: Optional[str] = None

    @classmethod
    def _from_json(cls, d):
        shape = d.get("shape")
        if shape == "*":
            shape = None
        elif isinstance(shape, list):
            shape = [None if dim == "*" else dim for dim in shape]
        return cls(d["name"], d["dtype"], shape, d.get("description"), d.get("internal_name"))


@dataclass
class RunnerInfo:
    runner_name: str
    required_framework_version: str
    runner_compat_version: Optional[int] = None
    opts: Dict[str, Any] = field(default_factory=dict)


@dataclass
class CartonInfo:
    model_name: Optional[str] = None
    short_description: Optional[str] = None
    model_description: Optional[str] = None
    license: Optional[str] = None
    repository: Optional[str] = None
    homepage: Optional[str] = None
    required_platforms: List[str] = field(default_factory=list)
    inputs: List[TensorSpec] = field(default_factory=list)
    outputs: List[TensorSpec] = field(default_factory=list)
    self_tests: List[Dict[str, Any]] = field(default_factory=list)
    examples: List[Dict[str, Any]] = field(default_factory=list)
    runner: Optional[RunnerInfo] = None
    manifest_sha256: Optional[str] = None
    # The framework runtime that runs a loaded model (framework, version,
    # source, path); None from get_model_info.
    runtime: Optional[Dict[str, Any]] = None

    @classmethod
    def _from_json(cls, d):
        r = d.get("runner") or {}
        return cls(
            model_name=d.get("model_name"),
            short_description=d.get("short_description"),
            model_description=d.get("model_description"),
            license=d.get("license"),
            repository=d.get("repository"),
            homepage=d.get("homepage"),
            required_platforms=d.get("required_platforms") or [],
            inputs=[TensorSpec._from_json(s) for s in d.get("input") or []],
            outputs=[TensorSpec._from_json(s) for s in d.get("output") or []],
            self_tests=d.get("self_test") or [],
            examples=d.get("example") or [],
            runner=RunnerInfo(r.get("runner_name", ""), r.get("required_framework_version", ""),
                              r.get("runner_compat_version"), r.get("opts") or {}),
            manifest_sha256=d.get("manifest_sha256"),
            runtime={k.lower(): v for k, v in d["runtime"].items()} if d.get("runtime") else None,
        )
