// Package racebuild says whether the program was built with the race
// detector (go build -race, go test -race). carton poisons output memory
// given back through Model.ReleaseOutputs in such builds, and tests that
// feed released outputs back on purpose check values only without it.
// It holds one constant; nothing to own or synchronise.
package racebuild
