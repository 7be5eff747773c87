package loghash

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestOf(t *testing.T) {
	id := "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	sum := sha256.Sum256([]byte(id))
	if got, want := Of(id), hex.EncodeToString(sum[:])[:8]; got != want {
		t.Fatalf("Of = %q, want %q", got, want)
	}
	if Of("") != "" {
		t.Fatal(`Of("") is not ""`)
	}
}
