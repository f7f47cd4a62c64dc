// Command oipload measures an Open Inference Protocol server's throughput
// for BENCHMARKS.md: C clients, each on its own keep-alive connection,
// post one JSON infer request to /v2/models/NAME/infer for D, and it
// prints requests per second, the latency percentiles and any failures.
// Loopback only: the address must be a loopback one.
//
//	oipload -addr 127.0.0.1:8000 -model m -c 64 -d 10s -body request.json
package main
