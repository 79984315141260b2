package search

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// HashStrings is the hex SHA-256 of parts, each length-prefixed so that no
// two different lists hash alike.
func HashStrings(parts []string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ComputeHash returns the content hash of c (Chunk.Hash): what is indexed
// of it, the vector excepted.
func (c *Chunk) ComputeHash() string {
	parts := []string{c.Collection, c.Source, c.URL, c.Title, strings.Join(c.Breadcrumb, "\x00"), c.Text}
	return HashStrings(append(parts, c.Groups...))
}
