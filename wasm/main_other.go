//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// main says how to build the real program: it runs in a browser or Node.
func main() {
	fmt.Fprintln(os.Stderr, "carton's wasm reader: build it with GOOS=js GOARCH=wasm (make wasm)")
	os.Exit(2)
}
