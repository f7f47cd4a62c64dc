// Command carton packs, inspects, runs, tests and benchmarks cartons.
//
//	carton pack MODEL_PATH --runner NAME --framework-version REQ -o OUT.carton
//	carton info CARTON [--json]
//	carton verify CARTON
//	carton infer CARTON --input NAME=FILE.npy ... [--output-dir DIR]
//	carton selftest CARTON
//	carton bench CARTON (--input NAME=FILE.npy ... | --random) [-n N | --duration D] [--concurrency C] [--compare] [--json]
//	carton shrink CARTON --link PATH=URL ... -o OUT.carton
//	carton fetch FRAMEWORK VERSION [--sha256 HEX]
//	carton runtimes [--json] | carton runtimes rm FRAMEWORK VERSION
//	carton cache [--json] | carton cache rm MANIFEST_SHA256 ... | carton cache prune --unused-for DURATION | carton cache verify [--json]
//
// CARTON is a .carton file, an unpacked carton directory, or the http(s)
// URL of a .carton (read through range requests; shrink wants a file).
//
// `carton help COMMAND` (or `carton COMMAND --help`) lists a command's
// flags. Exit status: 0 on success, 1 on failure, 2 on a usage error.
//
// bench loads the carton once, warms it up, then calls Infer, giving each
// call's outputs back through ReleaseOutputs (InferInto with
// --reuse-outputs), from C goroutines. Allocations and bytes per call
// are the calls' own: the goroutines, their calls and the latency log
// exist before counting starts, and the log's fixed-size chunks added
// while measuring are subtracted.
package main
