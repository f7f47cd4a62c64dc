// Package libfetch finds framework runtimes on this machine and, when none
// fits, downloads one: verified, cached, and safe against concurrent and
// interrupted fetches.
//
// Find returns candidate installations (a library file or a directory)
// with their version and where they came from. Sources, in order: an
// explicit path (a Load option), the framework's environment variable
// (CARTON_ONNXRUNTIME_LIB, CARTON_LIBTORCH_DIR, CARTON_TENSORFLOW_DIR), the
// cache, an installed Python package (in the Pythons CARTON_PYTHON lists,
// else python3 on PATH), and the npm package onnxruntime-node.
//
// Fetch and FetchMatching download. Offers come from the release table
// (releases.toml, embedded: the vendors' archives per framework, version and
// platform, each with a sha256 or none; $CARTON_RELEASE_TABLE adds entries)
// and from a Python package index's JSON simple API (PackageIndex:
// CARTON_PYPI_INDEX, else pip's PIP_INDEX_URL or index-url, else the index
// the pip of the first interpreter in Pythons() would use, its default
// included, with pip's CA bundle and proxy; no index is built in; pip's
// PIP_NO_INDEX turns it off), whose sha256 it trusts, preferred to an
// archive without a digest: onnxruntime, tensorflow(-cpu) and torch wheels, of which
// only the shared libraries (and torch's headers) are kept, plus, for a
// torch wheel, the libraries its libtorch links from the wheels its
// metadata requires (torchdeps.go). An archive without a known digest is refused unless the
// caller supplies one (FetchOptions.SHA256, CARTON_RUNTIME_SHA256) or opts
// in (AllowUnverified, CARTON_ALLOW_UNVERIFIED=1). CARTON_DOWNLOAD_MIRROR
// replaces the vendors' hosts (same paths beneath) for air-gapped sites;
// CARTON_OFFLINE=1 forbids the network. Only https is used, except to
// loopback addresses; redirects must keep to that; proxies come from the
// usual environment variables.
//
// The cache is <cache>/runtimes/<framework>/<goos>-<goarch>/<version>/
// (CacheDir: $CARTON_CACHE_DIR, else the user cache dir). A download
// streams into a temporary directory beside it with its sha256 computed on
// the way, is extracted there (members that would escape are refused), and
// is renamed into place: an entry exists complete or not at all. A file
// lock per version makes concurrent processes fetch once; a temporary
// directory left by a killed process is removed by the next fetch.
//
// Probing a Python or npm installation runs a subprocess; results are
// cached for the life of the process. Find, Fetch and the sources are safe
// for concurrent use. Nothing here loads a library; callers dlopen what
// they choose.
package libfetch
