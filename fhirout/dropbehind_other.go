//go:build !linux

package fhirout

import (
	"io"
	"os"
)

// newDropBehind: only Linux has the calls to start writeback and drop
// pages of a range (see dropbehind_linux.go); elsewhere files are
// written plainly.
func newDropBehind(f *os.File) io.Writer { return f }
