package storage

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// uploader is what an object-store backend provides for one object; the
// partWriter below turns it into a Writer with bounded memory and retries.
type uploader interface {
	// put stores a whole small object in one request.
	put(ctx context.Context, p []byte) error
	// begin starts a multipart upload.
	begin(ctx context.Context) (multipart, error)
}

// multipart is one upload in progress. Parts are numbered from 1 and sent in
// order, one at a time; uploadPart may be called again with the same n and
// bytes after a failure and must then replace that part.
type multipart interface {
	uploadPart(ctx context.Context, n int, p []byte, last bool) error
	complete(ctx context.Context) error
	// abort removes every part uploaded so far.
	abort(ctx context.Context) error
}

// permanent marks an error retrying cannot cure (refused credentials, a
// missing bucket): the writer fails at once instead of backing off.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// bufferCount counts part buffers ever allocated, so tests can assert that a
// writer holds exactly one however large the object.
var bufferCount atomic.Int64

// partWriter buffers one part and uploads it when full.
type partWriter struct {
	ctx     context.Context
	kind    string
	name    string
	up      uploader
	mp      multipart
	buf     []byte
	size    int
	parts   int
	retries int
	base    time.Duration
	secrets []string
	err     error // sticky: the first failure
	done    bool
}

func newPartWriter(ctx context.Context, c Config, name string, up uploader) *partWriter {
	return &partWriter{ctx: ctx, kind: c.Kind, name: name, up: up, size: int(c.PartSize),
		retries: c.Retries, base: c.RetryBase, secrets: c.secrets()}
}

func (w *partWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("storage: write after close")
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, w.size)
		bufferCount.Add(1)
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.size {
			// Full and more to come: this is not the last part.
			if err := w.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):w.size], p)
		w.buf = w.buf[:len(w.buf)+k]
		n += k
		p = p[k:]
	}
	return n, nil
}

func (w *partWriter) flush(last bool) error {
	if w.mp == nil {
		var mp multipart
		err := w.retry("start upload", func() (err error) { mp, err = w.up.begin(w.ctx); return })
		if err != nil {
			return w.fail(err)
		}
		w.mp = mp
	}
	w.parts++
	n := w.parts
	if err := w.retry(fmt.Sprintf("upload part %d", n), func() error { return w.mp.uploadPart(w.ctx, n, w.buf, last) }); err != nil {
		return w.fail(err)
	}
	w.buf = w.buf[:0]
	return nil
}

// retry runs op until it succeeds, fails permanently, the context ends, or
// the retries are spent, sleeping base·2^i (±25 %) in between.
func (w *partWriter) retry(what string, op func() error) error {
	var err error
	for i := 0; ; i++ {
		if err = op(); err == nil {
			return nil
		}
		var perm permanent
		if errors.As(err, &perm) || w.ctx.Err() != nil || i >= w.retries {
			break
		}
		d := w.base << i
		d += time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
		t := time.NewTimer(d)
		select {
		case <-w.ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return opError(w.kind, what, w.name, scrubErr(err, w.secrets))
}

// fail aborts the upload (with a context of its own, as w.ctx may be the
// reason) and makes the error sticky.
func (w *partWriter) fail(err error) error {
	w.err = err
	if w.mp != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
		defer cancel()
		if aerr := w.mp.abort(ctx); aerr != nil {
			w.err = fmt.Errorf("%w (and abort failed: %v)", err, scrubErr(aerr, w.secrets))
		}
		w.mp = nil
	}
	return w.err
}

// Close sends what is buffered and commits the object.
func (w *partWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return nil
	}
	w.done = true
	defer func() { w.buf = nil }()
	if w.mp == nil {
		// Everything fits in one part: a single request.
		if err := w.retry("put", func() error { return w.up.put(w.ctx, w.buf) }); err != nil {
			w.err = err
			return err
		}
		return nil
	}
	if err := w.flush(true); err != nil {
		return err
	}
	if err := w.retry("complete upload", func() error { return w.mp.complete(w.ctx) }); err != nil {
		return w.fail(err)
	}
	return nil
}

// Abort discards the upload.
func (w *partWriter) Abort() error {
	if w.done && w.err == nil {
		return errors.New("storage: abort after close")
	}
	w.done = true
	w.buf = nil
	if w.err != nil {
		return nil // already aborted by fail
	}
	w.err = errors.New("storage: upload aborted")
	if w.mp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
	defer cancel()
	err := w.mp.abort(ctx)
	w.mp = nil
	return opError(w.kind, "abort upload", w.name, scrubErr(err, w.secrets))
}
