// Package storage keeps export files in a store — the data directory or an
// object store (S3-compatible, Azure Blob, Google Cloud Storage) — and hands
// out time-limited URLs to read them.
//
// A Store holds objects named "job/file" (slash-separated, relative) under the
// configured prefix. Export files are streamed in through a Writer that keeps
// at most one part in memory: object stores receive multipart/block/resumable
// uploads of Config.PartSize bytes, each part retried with backoff, and an
// aborted upload leaves no parts behind.
//
// A backend is one file that calls Register with its kind in an init function;
// capabilities a backend may lack (Opener, Cleaner) are separate interfaces
// found by type assertion.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Store is what an export needs from where its files live.
type Store interface {
	// Create starts a new object; nothing is visible under name until the
	// Writer's Close returns nil. Abort discards everything written. ctx
	// governs the whole upload; a Writer is for one goroutine.
	Create(ctx context.Context, name string) (Writer, error)
	// Stat reports an object's size; a missing object is ErrNotExist.
	Stat(ctx context.Context, name string) (Info, error)
	// Delete removes one object; a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// DeletePrefix removes every object whose name starts with prefix
	// (a job's "job/"), and any incomplete upload there when the backend
	// can see them.
	DeletePrefix(ctx context.Context, prefix string) error
	// List calls fn for each object whose name starts with prefix, in
	// name order within a page; names are relative to the store's prefix.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// SignedURL returns a URL that reads the object without further
	// credentials until p.TTL has passed.
	SignedURL(ctx context.Context, name string, p URLParams) (string, error)
}

// Writer streams one object into the store. Close commits it; Abort (or a
// failed Close) leaves neither the object nor any uploaded part behind.
type Writer interface {
	io.WriteCloser
	Abort() error
}

// Info describes a stored object.
type Info struct {
	Name    string // relative to the store's prefix
	Size    int64
	ModTime time.Time
}

// URLParams says for whom and how long a signed URL is valid.
type URLParams struct {
	TTL time.Duration
	// Client is the client_id the URL is issued to: bound into the local
	// signature (so a URL cannot be passed between clients unnoticed in the
	// audit log); object stores ignore it.
	Client string
	// Base is the server's public file route ("https://host/fhir/files"),
	// needed only by the local backend, whose URLs point back at the server.
	Base string
}

// Opener is implemented by stores whose objects the server can read and serve
// itself (local).
type Opener interface {
	Open(ctx context.Context, name string) (io.ReadSeekCloser, Info, error)
}

// Cleaner is implemented by stores that can see incomplete uploads (S3
// multipart uploads, Azure uncommitted blocks, local temp files). The server
// calls it at start-up to remove what a crash left behind.
type Cleaner interface {
	// CleanIncomplete removes incomplete uploads under prefix started before
	// olderThan and reports how many it removed.
	CleanIncomplete(ctx context.Context, prefix string, olderThan time.Time) (int, error)
}

// ErrNotExist is returned (wrapped) by Stat and Open for a missing object.
var ErrNotExist = errors.New("object does not exist")

// OpenFunc builds a backend from its configuration.
type OpenFunc func(ctx context.Context, c Config) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]OpenFunc{}
)

// Register makes a backend available under kind. It panics on a duplicate,
// as registering twice is a programming error.
func Register(kind string, open OpenFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("storage: backend registered twice: " + kind)
	}
	registry[kind] = open
}

// Kinds lists the registered backends.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	var ks []string
	for k := range registry {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Open validates c, expands ${ENV} references, and opens the backend c.Kind
// ("" is local).
func Open(ctx context.Context, c Config) (Store, error) {
	c, err := c.expand()
	if err != nil {
		return nil, err
	}
	if c.Kind == "" {
		c.Kind = "local"
	}
	registryMu.RLock()
	open := registry[c.Kind]
	registryMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("storage: unknown kind %q (one of %s)", c.Kind, strings.Join(Kinds(), ", "))
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.PartSize < MinPartSize || c.PartSize > MaxPartSize {
		return nil, fmt.Errorf("storage: part_size %d out of range [%d, %d]", c.PartSize, MinPartSize, MaxPartSize)
	}
	return open(ctx, c)
}

// CheckName refuses names that could escape the prefix or that object stores
// treat differently from a file system.
func CheckName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("storage: invalid object name %q", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("storage: invalid object name %q", name)
		}
	}
	return nil
}

// checkPrefix accepts "" (everything) or a relative prefix.
func checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	return CheckName(strings.TrimSuffix(p, "/") + "/x")
}

// contentType is what a client sees for an export file.
func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".ndjson"):
		return "application/fhir+ndjson"
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

// joinKey puts a relative name under a backend's prefix.
func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return strings.TrimSuffix(prefix, "/") + "/" + name
}

// opError wraps a backend failure with the operation and object, never with
// credentials: the backends build their messages from status codes and
// service error codes only (see redact).
func opError(kind, op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Op: op, Name: name, Err: err}
}

// Error is a failed store operation.
type Error struct {
	Kind, Op, Name string
	Err            error
}

func (e *Error) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("storage %s: %s: %v", e.Kind, e.Op, e.Err)
	}
	return fmt.Sprintf("storage %s: %s %q: %v", e.Kind, e.Op, e.Name, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
