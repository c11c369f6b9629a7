package handler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/payoutledger/ledger/domain"
)

// Digest identifies a command body: the same key with another digest is
// idempotency.key_reused.
func Digest(cmd domain.Command) string {
	b, _ := json.Marshal(cmd) // commands are plain data; Marshal cannot fail
	h := sha256.New()
	h.Write([]byte(cmd.CommandName()))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:16])
}
