package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The data directory (--data, data_dir) means one thing in every command:
// the directory that holds the index in index/, the server's job store
// and export files in export/, the demo archives in demo/, and the lock
// file. One process at a time owns it.
const lockName = "iisbridge.lock"

// indexDir is where the index lives in data directory data.
func indexDir(data string) string { return filepath.Join(data, "index") }

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// checkDataDir refuses a --data that names an index directory itself (as
// index and convert took it before): building a second index inside the
// first would silently serve other data.
func checkDataDir(data string) error {
	if exists(filepath.Join(data, "index.db")) && !exists(indexDir(data)) {
		return fmt.Errorf("%s is an index directory, not a data directory: --data takes the directory that holds index/ (here --data %s)", data, filepath.Dir(filepath.Clean(data)))
	}
	return nil
}

// requireIndex fails when data holds no index (a command that only reads
// one must not report an empty success).
func requireIndex(data string) error {
	if err := checkDataDir(data); err != nil {
		return err
	}
	if !exists(filepath.Join(indexDir(data), "index.db")) {
		return fmt.Errorf("no index in data directory %s (no %s): build one with 'iisbridge index --data %s PATH...' or give PATHs", data, filepath.Join("index", "index.db"), data)
	}
	return nil
}

// dataLock is an exclusive lock on a data directory.
type dataLock struct{ f *os.File }

// lockDataDir creates data if needed and locks it (flock on its lock
// file, released by the kernel when the process ends however it ends).
// A second process on the same directory gets an error naming the
// first.
func lockDataDir(data, what string) (*dataLock, error) {
	if err := checkDataDir(data); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(data, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(data, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			h := strings.TrimSpace(string(holder))
			if h == "" {
				h = "another process"
			}
			return nil, fmt.Errorf("data directory %s is in use by %s: one data directory serves one process at a time (give this one its own --data or data_dir)", data, h)
		}
		return nil, fmt.Errorf("locking data directory %s: %w", data, err)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "iisbridge %s (pid %d)\n", what, os.Getpid())
	return &dataLock{f: f}, nil
}

// release unlocks (closing the file drops the flock).
func (l *dataLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
