package v2archive

import (
	"hash/crc32"
	"testing"
)

// DataHash is stable (an index built by another process checks re-reads
// with it) and incremental.
func TestDataHash(t *testing.T) {
	data := []byte("MSH|^~\\&|EHR|CLINICA\rPID|1||M1^^^CLINICA^MR\r")
	const want = 0x6f4cf8d74fd0806b // pinned: indexes store it
	if got := DataHash(data); got != want || got != uint64(crc32.ChecksumIEEE(data))<<32|uint64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) {
		t.Fatalf("DataHash = %#x, want %#x (CRC-32 IEEE | CRC-32C)", got, uint64(want))
	}
	if UpdateHash(UpdateHash(0, data[:7]), data[7:]) != DataHash(data) {
		t.Fatal("UpdateHash in two steps differs from DataHash")
	}
	other := append([]byte(nil), data...)
	other[5], other[6] = other[6], other[5]
	if DataHash(other) == DataHash(data) {
		t.Fatal("two swapped bytes keep the checksum")
	}
}
