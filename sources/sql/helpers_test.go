package sql

import (
	"os"
	"strconv"
	"testing"
)

var tempRoot string

// makeTemp is a directory that lives as long as the test binary (the demo
// world is shared by the tests); TestMain removes it.
func makeTemp() (string, error) { return os.MkdirTemp(tempRoot, "world") }

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "iisbridge-sql-test")
	if err != nil {
		panic(err)
	}
	tempRoot = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("key %q is not a number", s)
	}
	return n
}
