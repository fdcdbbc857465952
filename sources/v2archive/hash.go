package v2archive

import "hash/crc64"

var crcTable = crc64.MakeTable(crc64.ECMA)

// DataHash is the checksum of a message's Data (CRC-64/ECMA): the index
// stores it with each message and every re-read is checked against it, so
// bytes that changed since indexing are never taken for the message that
// was indexed there. It is stable across processes, builds and machines
// (unlike hash/maphash), and cheap next to parsing the message.
func DataHash(data []byte) uint64 { return crc64.Checksum(data, crcTable) }

// UpdateHash extends a DataHash-style checksum of a byte stream with p, so
// a file's contents can be checksummed as they are read.
func UpdateHash(crc uint64, p []byte) uint64 { return crc64.Update(crc, crcTable, p) }
