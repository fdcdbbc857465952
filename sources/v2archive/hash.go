package v2archive

import "github.com/iisbridge/iisbridge/sources"

// DataHash is sources.DataHash (the checksum re-reads are checked with).
func DataHash(data []byte) uint64 { return sources.DataHash(data) }

// UpdateHash is sources.UpdateHash.
func UpdateHash(h uint64, p []byte) uint64 { return sources.UpdateHash(h, p) }
