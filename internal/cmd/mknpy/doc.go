// Command mknpy writes the demo input testdata/echo/x.npy: float32 [2, 3] = 1..6.
package main
