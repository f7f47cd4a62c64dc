"""Builds the carton_go wheel: the package and libcarton, for this platform.

usage: build_wheel.py LIBCARTON OUT_DIR
       build_wheel.py --fast-only DIR [CFLAG...]   (carton_go._fast alone, into DIR, e.g. with ASan)

The wheel is py3-none-PLATFORM: the package is Python over the C ABI
(ctypes), libcarton is the platform part, and carton_go._fast (the common
case of an infer in C, over numpy's C API) is compiled with cc for the
interpreter running this script (which needs numpy, for its headers);
any other Python uses the ctypes path. Written directly (zip, METADATA,
WHEEL, RECORD), so that building it needs nothing from a package index.
"""
import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import sysconfig
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    with open(os.path.join(HERE, "carton_go", "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def platform_tag():
    return re.sub(r"[-.]", "_", sysconfig.get_platform())


def build_fast(extra_flags=()):
    """carton_go/_fast.c compiled for this interpreter: (file name, bytes)."""
    try:
        import numpy
    except ImportError as e:
        sys.exit(f"build_wheel.py: {sys.executable} has no numpy, whose headers carton_go._fast needs: {e}")
    name = "_fast" + sysconfig.get_config_var("EXT_SUFFIX")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, name)
        cmd = [os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O2", "-std=c11", "-Wall",
               "-I", sysconfig.get_paths()["include"], "-I", numpy.get_include(),
               "-I", os.path.join(HERE, "..", "include"), *extra_flags, os.path.join(HERE, "carton_go", "_fast.c"),
               "-o", out]
        if sys.platform == "darwin":
            cmd[1:1] = ["-undefined", "dynamic_lookup"]  # Python's symbols come from the interpreter at import
        subprocess.run(cmd, check=True)
        with open(out, "rb") as f:
            return name, f.read()


def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main(lib, out_dir):
    v = version()
    name = f"carton_go-{v}-py3-none-{platform_tag()}.whl"
    dist_info = f"carton_go-{v}.dist-info"
    files = []
    for f in sorted(os.listdir(os.path.join(HERE, "carton_go"))):
        if f.endswith(".py"):
            with open(os.path.join(HERE, "carton_go", f), "rb") as fh:
                files.append((f"carton_go/{f}", fh.read(), 0o644))
    with open(lib, "rb") as fh:
        files.append((f"carton_go/{os.path.basename(lib)}", fh.read(), 0o755))
    fast, data = build_fast()
    files.append((f"carton_go/{fast}", data, 0o755))
    with open(os.path.join(HERE, "README.md"), "rb") as fh:
        readme = fh.read().decode()
    files.append((f"{dist_info}/METADATA", (
        "Metadata-Version: 2.1\nName: carton-go\nVersion: " + v + "\n"
        "Summary: Run any ML model from Python through carton's Go core, in-process\n"
        "License: Apache-2.0\nRequires-Python: >=3.9\nRequires-Dist: numpy\n"
        "Description-Content-Type: text/markdown\n\n" + readme).encode(), 0o644))
    files.append((f"{dist_info}/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: carton build_wheel.py\nRoot-Is-Purelib: false\n"
        f"Tag: py3-none-{platform_tag()}\n").encode(), 0o644))
    record = "".join(f"{p},{digest(d)},{len(d)}\n" for p, d, _ in files) + f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode(), 0o644))
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "." + name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data, mode in files:
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    os.replace(tmp, os.path.join(out_dir, name))  # nothing half-written under the wheel's name
    print(os.path.join(out_dir, name))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fast-only"]:
        fast, data = build_fast(sys.argv[3:])
        with open(os.path.join(sys.argv[2], fast), "wb") as f:
            f.write(data)
    else:
        main(*sys.argv[1:])
