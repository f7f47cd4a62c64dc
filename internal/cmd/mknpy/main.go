package main

import (
	"log"
	"os"

	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/tensor"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: mknpy OUT.npy")
	}
	x, err := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	if err := npy.Write(f, x); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
