//go:build race

package main

// raceEnabled: the tests run under the race detector, so the programs they
// start are built with it too (and share the race build cache of `go test
// -race ./...`).
const raceEnabled = true
