"""Shrinks a carton with upstream Carton's Python package (cartonml), for
carton's interop test (upstream_interop_test.go).

    python shrink_carton.py CARTON OUT SHA256=URL ...

Files whose sha256 is given leave the zip and go into LINKS with the URL;
the result is moved to OUT.
"""
import asyncio
import os
import shutil
import sys

import cartonml


async def main(path, out, links):
    urls = {}
    for arg in links:
        sha, url = arg.split("=", 1)
        urls.setdefault(sha, []).append(url)
    shrunk = await cartonml.shrink(path, urls)
    shutil.move(shrunk, out)
    sys.stdout.flush()
    # as in read_carton.py: leave without the interpreter's shutdown
    os._exit(0)


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
