package storage

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/minio/minio-go/v7"
)

// What the external tests (servers_test.go, package storage_test: it uses
// storagetest, which imports storage) may reach of the package's insides.

// BufferCount counts the part buffers ever allocated (one per upload).
var BufferCount = &bufferCount

// Zeros reads zero bytes forever.
type Zeros = zeros

// WithTransport returns c with its HTTP transport replaced (fault
// injection).
func WithTransport(c Config, rt http.RoundTripper) Config {
	c.transport = rt
	return c
}

// LeaveIncomplete starts an upload of name on an object store and leaves
// it unfinished, as a crash would.
func LeaveIncomplete(t testing.TB, st Store, name string) {
	t.Helper()
	ctx := context.Background()
	switch s := st.(type) {
	case *s3Store:
		id, err := s.core.NewMultipartUpload(ctx, s.bucket, s.objKey(name), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.core.PutObjectPart(ctx, s.bucket, s.objKey(name), id, 1, bytes.NewReader([]byte("x")), 1, minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
	case *azStore:
		bb := s.cont.NewBlockBlobClient(s.objKey(name))
		if _, err := bb.StageBlock(ctx, "YmxvY2sx", nopCloser{bytes.NewReader([]byte("x"))}, nil); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("LeaveIncomplete: no incomplete uploads on a %T", st)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
