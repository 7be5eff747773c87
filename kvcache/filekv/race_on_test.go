//go:build race

package filekv

const raceEnabled = true
