// Package loghash names a session in logs and errors without revealing it:
// the one short hash every layer uses, so the log lines of one session can
// be found together.
package loghash

import (
	"crypto/sha256"
	"encoding/hex"
)

// Of returns the first 8 hex digits of the SHA-256 of id. Layers pass the
// storage id (what the store keys the session by: the SHA-256 of the client's
// id when hash_ids is on), so the manager's and the store's lines about one
// session carry the same value. "" stays "".
func Of(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4])
}
