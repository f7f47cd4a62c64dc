package main

// main is required of a c-shared build and never runs.
func main() {}
