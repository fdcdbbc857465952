package storage

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeUpload records what the part writer sends.
type fakeUpload struct {
	parts     map[int][]byte
	order     []int
	lastSeen  bool
	bufs      map[*byte]bool // distinct backing arrays handed to uploadPart
	put       []byte
	puts      int
	completed bool
	aborted   bool
	fail      func(n, attempt int) error
	attempts  map[int]int
}

func newFake() *fakeUpload {
	return &fakeUpload{parts: map[int][]byte{}, bufs: map[*byte]bool{}, attempts: map[int]int{}}
}

func (f *fakeUpload) putObj(p []byte) { f.put = append([]byte(nil), p...); f.puts++ }

type fakeUp struct{ f *fakeUpload }

func (u fakeUp) put(_ context.Context, p []byte) error    { u.f.putObj(p); return nil }
func (u fakeUp) begin(context.Context) (multipart, error) { return u, nil }
func (u fakeUp) uploadPart(_ context.Context, n int, p []byte, last bool) error {
	u.f.attempts[n]++
	if u.f.fail != nil {
		if err := u.f.fail(n, u.f.attempts[n]); err != nil {
			return err
		}
	}
	if len(p) > 0 {
		u.f.bufs[&p[:1][0]] = true
	}
	u.f.parts[n] = append([]byte(nil), p...)
	u.f.order = append(u.f.order, n)
	u.f.lastSeen = last
	return nil
}
func (u fakeUp) complete(context.Context) error { u.f.completed = true; return nil }
func (u fakeUp) abort(context.Context) error    { u.f.aborted = true; return nil }

func testConfig() Config {
	return Config{Kind: "fake", PartSize: MinPartSize, Retries: 3, RetryBase: time.Millisecond,
		SecretAccessKey: "s3cr3t-value-never-shown"}
}

// pattern is deterministic content that shows misplaced bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/4093)
	}
	return b
}

func TestPartWriterSplitsIntoBoundedParts(t *testing.T) {
	f := newFake()
	before := bufferCount.Load()
	w := newPartWriter(context.Background(), testConfig(), "j/a.ndjson", fakeUp{f})
	data := pattern(4*MinPartSize + 12345)
	// Odd write sizes straddle part boundaries.
	for rest := data; len(rest) > 0; {
		k := min(len(rest), 100003)
		if n, err := w.Write(rest[:k]); err != nil || n != k {
			t.Fatalf("Write = %d, %v", n, err)
		}
		rest = rest[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := bufferCount.Load() - before; got != 1 {
		t.Errorf("allocated %d part buffers, want 1", got)
	}
	if len(f.bufs) != 1 {
		t.Errorf("parts came from %d distinct buffers, want 1", len(f.bufs))
	}
	if len(f.parts) != 5 || !f.completed || f.aborted || f.puts != 0 || !f.lastSeen {
		t.Fatalf("parts=%d completed=%v aborted=%v puts=%d last=%v", len(f.parts), f.completed, f.aborted, f.puts, f.lastSeen)
	}
	var got []byte
	for n := 1; n <= 5; n++ {
		if n < 5 && len(f.parts[n]) != MinPartSize {
			t.Errorf("part %d has %d bytes", n, len(f.parts[n]))
		}
		got = append(got, f.parts[n]...)
	}
	if !bytes.Equal(got, data) {
		t.Error("reassembled parts differ from the input")
	}
}

func TestPartWriterExactMultipleHasNoEmptyPart(t *testing.T) {
	f := newFake()
	w := newPartWriter(context.Background(), testConfig(), "j/a.ndjson", fakeUp{f})
	w.Write(pattern(2 * MinPartSize))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(f.parts) != 2 || len(f.parts[2]) != MinPartSize {
		t.Fatalf("parts %d, last %d bytes", len(f.parts), len(f.parts[2]))
	}
}

func TestPartWriterSmallObjectIsOnePut(t *testing.T) {
	for _, size := range []int{0, 1, MinPartSize} {
		f := newFake()
		w := newPartWriter(context.Background(), testConfig(), "j/a.ndjson", fakeUp{f})
		w.Write(pattern(size))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if f.puts != 1 || len(f.put) != size || len(f.parts) != 0 {
			t.Errorf("size %d: puts=%d len=%d parts=%d", size, f.puts, len(f.put), len(f.parts))
		}
	}
}

func TestPartWriterRetriesAFailingPart(t *testing.T) {
	f := newFake()
	f.fail = func(n, attempt int) error {
		if n == 2 && attempt <= 2 {
			return errors.New("connection reset")
		}
		return nil
	}
	w := newPartWriter(context.Background(), testConfig(), "j/a.ndjson", fakeUp{f})
	data := pattern(3 * MinPartSize)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if f.attempts[2] != 3 || f.aborted || !f.completed {
		t.Fatalf("attempts=%v aborted=%v completed=%v", f.attempts, f.aborted, f.completed)
	}
	if !bytes.Equal(append(append(f.parts[1], f.parts[2]...), f.parts[3]...), data) {
		t.Error("content differs after a retried part")
	}
}

func TestPartWriterGivesUpAndAborts(t *testing.T) {
	f := newFake()
	f.fail = func(n, _ int) error {
		if n == 2 {
			return errors.New("dial tcp 127.0.0.1:1: connect: connection refused; secret=s3cr3t-value-never-shown url=https://h/b?X-Amz-Signature=abc")
		}
		return nil
	}
	w := newPartWriter(context.Background(), testConfig(), "j/a.ndjson", fakeUp{f})
	_, err := w.Write(pattern(3 * MinPartSize))
	if err == nil {
		t.Fatal("Write succeeded against a failing store")
	}
	if f.attempts[2] != 4 || !f.aborted {
		t.Errorf("attempts=%d aborted=%v, want 4 attempts and an abort", f.attempts[2], f.aborted)
	}
	msg := err.Error()
	if !strings.Contains(msg, "upload part 2") || !strings.Contains(msg, `"j/a.ndjson"`) || !strings.Contains(msg, "connection refused") {
		t.Errorf("error does not say what failed: %s", msg)
	}
	if strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "X-Amz-Signature") {
		t.Errorf("error leaks a secret: %s", msg)
	}
	if err2 := w.Close(); err2 == nil {
		t.Error("Close after a failed part succeeded")
	}
	if f.completed {
		t.Error("a failed upload was completed")
	}
}

func TestPartWriterPermanentErrorIsNotRetried(t *testing.T) {
	f := newFake()
	f.fail = func(n, _ int) error { return permanent{errors.New("HTTP 403 AccessDenied")} }
	w := newPartWriter(context.Background(), testConfig(), "j/a.ndjson", fakeUp{f})
	if _, err := w.Write(pattern(2 * MinPartSize)); err == nil {
		t.Fatal("no error")
	}
	if f.attempts[1] != 1 || !f.aborted {
		t.Errorf("attempts=%d aborted=%v", f.attempts[1], f.aborted)
	}
}

func TestPartWriterAbort(t *testing.T) {
	f := newFake()
	w := newPartWriter(context.Background(), testConfig(), "j/a.ndjson", fakeUp{f})
	w.Write(pattern(MinPartSize + 10))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if !f.aborted || f.completed {
		t.Errorf("aborted=%v completed=%v", f.aborted, f.completed)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Abort succeeded")
	}
}

func TestPartWriterStopsWhenContextEnds(t *testing.T) {
	f := newFake()
	f.fail = func(int, int) error { return errors.New("timeout") }
	ctx, cancel := context.WithCancel(context.Background())
	c := testConfig()
	c.RetryBase = time.Hour // only the cancellation can end the wait
	w := newPartWriter(ctx, c, "j/a.ndjson", fakeUp{f})
	time.AfterFunc(10*time.Millisecond, cancel)
	if _, err := w.Write(pattern(2 * MinPartSize)); err == nil {
		t.Fatal("no error")
	}
	if !f.aborted {
		t.Error("not aborted")
	}
}
