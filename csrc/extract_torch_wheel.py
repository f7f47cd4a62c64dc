"""Unpacks libtorch from a PyPI torch wheel: the CPU libraries, the headers
and a build-version file, laid out like a libtorch archive (lib/, include/).

    python extract_torch_wheel.py TORCH.whl DEST [NVIDIA.whl ...]

libtorch_cuda is left out: carton's CPU path never loads it. The PyPI
build's libtorch_cpu still links the CUDA runtime and CUPTI, so their
libraries come from the nvidia-cuda-runtime and nvidia-cuda-cupti wheels
given after DEST (they load without a GPU).
"""
import os
import re
import sys
import zipfile

KEEP_LIBS = re.compile(r"^torch/lib/(libc10\.so|libtorch_cpu\.so|libtorch\.so|libtorch_global_deps\.so|libgomp[^/]*|libgfortran[^/]*)$")


def main(wheel, dest, *extra):
    z = zipfile.ZipFile(wheel)
    version = None
    tmp = dest + ".partial"
    for name in z.namelist():
        if name.endswith("/"):
            continue
        if KEEP_LIBS.match(name):
            out = os.path.join(tmp, "lib", os.path.basename(name))
        elif name.startswith("torch/include/"):
            out = os.path.join(tmp, "include", name[len("torch/include/"):])
        elif name == "torch/version.py":
            version = re.search(r"__version__ = '([^']+)'", z.read(name).decode()).group(1)
            continue
        else:
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            f.write(z.read(name))
    if version is None:
        sys.exit("no torch/version.py in " + wheel)
    for w in extra:
        ez = zipfile.ZipFile(w)
        for name in ez.namelist():
            if re.match(r"^nvidia/[^/]+(/[^/]+)*/lib/[^/]+\.so[.0-9]*$", name):
                out = os.path.join(tmp, "lib", os.path.basename(name))
                with open(out, "wb") as f:
                    f.write(ez.read(name))
    with open(os.path.join(tmp, "build-version"), "w") as f:
        f.write(version + "\n")
    os.rename(tmp, dest)


if __name__ == "__main__":
    main(*sys.argv[1:])
