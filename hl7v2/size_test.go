package hl7v2

import (
	"testing"
	"unsafe"
)

// The compiler keeps a struct in registers only up to four words: a
// larger Value or Field is copied through memory at every step
// (Rep, Component, the mapping's memo), which cost 14 % of a mapped VXU.
func TestViewSizes(t *testing.T) {
	if n := unsafe.Sizeof(Value{}); n > 4*unsafe.Sizeof(uintptr(0)) {
		t.Errorf("Value is %d bytes, want at most four words", n)
	}
	if n := unsafe.Sizeof(Field{}); n > 4*unsafe.Sizeof(uintptr(0)) {
		t.Errorf("Field is %d bytes, want at most four words", n)
	}
}
