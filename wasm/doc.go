// Command wasm is carton's metadata reader for the browser and Node:
// `make wasm` builds it with GOOS=js GOARCH=wasm into build/wasm/carton.wasm,
// beside Go's wasm_exec.js. Once run, it sets globalThis.carton:
//
//	const info = await carton.getModelInfo("https://host/model.carton") // or a Uint8Array / ArrayBuffer
//	info.model_name, info.runner.runner_name, info.inputs, info.examples, info.misc["misc/cat.png"] // a Blob
//
// It reads a carton as the Go library does (package format): a URL through
// HTTP range requests (fetch, so the server must allow the page's origin),
// bytes in memory; carton.toml, MANIFEST and the misc files are verified
// against their hashes, nothing else is read. No runtime runs here.
//
// # Memory and concurrency
//
// Each call reads into Go memory and copies what it returns into
// JavaScript values (misc files into Blobs): nothing returned refers to
// Go memory. Calls may overlap; each runs on its own goroutine.
package main
