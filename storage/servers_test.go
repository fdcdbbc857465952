package storage_test

// Tests against real storage servers started by .ci/storage-servers.sh (or
// by hand), on buckets storagetest makes: each skips with a message when
// its server is not configured or not reachable. See the README's
// environment table. An external test package: storagetest imports
// storage; export_test.go lends these tests the few internals they check.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/storage"
	"github.com/iisbridge/iisbridge/storage/storagetest"
)

func openTest(t testing.TB, c storage.Config) storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The local store keeps the contract every backend shares.
func TestLocalStoreContract(t *testing.T) {
	st := openTest(t, storage.Config{Dir: t.TempDir(), Prefix: "exports"})
	storagetest.Contract(t, st)
}

func TestS3Store(t *testing.T) {
	c := storagetest.Config(t, "s3")
	st := openTest(t, c)
	storagetest.Contract(t, st)
	testLargeObject(t, st)
	testAbortLeavesNoParts(t, st)
	testSignedURLRefusals(t, st)
	testRetriedPart(t, c)
	bad := c
	bad.SecretAccessKey = "wrong-secret-Zq8v1x7Kp2"
	testRefusedCredentials(t, bad, bad.SecretAccessKey)
	testCleanIncomplete(t, st)
}

func TestAzblobStore(t *testing.T) {
	c := storagetest.Config(t, "azblob")
	st := openTest(t, c)
	storagetest.Contract(t, st)
	testLargeObject(t, st)
	testAbortLeavesNoParts(t, st)
	testSignedURLRefusals(t, st)
	testRetriedPart(t, c)
	bad := c
	bad.AccountKey = "d3Jvbmcta2V5LVpxOHYxeDdLcDJ3cm9uZy1rZXktWnE4djF4N0twMg=="
	testRefusedCredentials(t, bad, bad.AccountKey)
	testCleanIncomplete(t, st)
}

func TestGCSStore(t *testing.T) {
	c := storagetest.Config(t, "gcs")
	st := openTest(t, c)
	storagetest.Contract(t, st)
	testLargeObject(t, st)
	testAbortLeavesNoParts(t, st)
	testRetriedPart(t, c)
	// fake-gcs-server does not check signatures (the signing itself is
	// checked against Google's vectors in TestGCSV4SigningVectors); here the
	// URL must at least address the right object.
	w, _ := st.Create(context.Background(), "jobS/Patient.000.ndjson")
	io.WriteString(w, "{\"resourceType\":\"Patient\"}\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	defer st.DeletePrefix(context.Background(), "jobS/")
	u, err := st.SignedURL(context.Background(), "jobS/Patient.000.ndjson", storage.URLParams{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u, "X-Goog-Signature=") || !strings.Contains(u, "/"+c.Bucket+"/exports/jobS/Patient.000.ndjson?") {
		t.Fatalf("signed URL %s", u)
	}
	if code, body := httpGet(t, u); code != 200 || body != "{\"resourceType\":\"Patient\"}\n" {
		t.Errorf("GET signed URL = %d %q", code, body)
	}
}

func httpGet(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// genReader yields n pseudo-random bytes, hashing them, and samples the heap
// every 8 MiB (by bytes read, not by time).
type genReader struct {
	n, read  int64
	h        io.Writer
	peakHeap uint64
	next     int64
	seed     uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.read >= g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.read)]
	for i := range p {
		g.seed = g.seed*6364136223846793005 + 1442695040888963407
		p[i] = byte(g.seed >> 56)
	}
	g.h.Write(p)
	g.read += int64(len(p))
	if g.read >= g.next {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g.peakHeap = max(g.peakHeap, ms.HeapInuse)
		g.next += 8 << 20
	}
	return len(p), nil
}

// testLargeObject streams 64 MiB through one writer: one part buffer, heap
// far below the object size, and the bytes read back through a signed URL
// are the bytes written.
func testLargeObject(t *testing.T, st storage.Store) {
	t.Helper()
	const size = 64 << 20
	ctx := context.Background()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	buffers := storage.BufferCount.Load()

	h := sha256.New()
	g := &genReader{n: size, h: h, seed: 42}
	w, err := st.Create(ctx, "jobL/Large.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, g); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	defer st.DeletePrefix(ctx, "jobL/")
	if n := storage.BufferCount.Load() - buffers; n != 1 {
		t.Errorf("%d part buffers for one object, want 1", n)
	}
	if grew := int64(g.peakHeap) - int64(base); grew > 4*storage.MinPartSize {
		t.Errorf("heap grew by %d MiB while streaming %d MiB in %d MiB parts", grew>>20, size>>20, storage.MinPartSize>>20)
	}
	info, err := st.Stat(ctx, "jobL/Large.ndjson")
	if err != nil || info.Size != size {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	u, err := st.SignedURL(ctx, "jobL/Large.ndjson", storage.URLParams{TTL: 5 * time.Minute, Client: "c"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rh := sha256.New()
	n, err := io.Copy(rh, resp.Body)
	if resp.StatusCode != 200 || err != nil || n != size || !bytes.Equal(rh.Sum(nil), h.Sum(nil)) {
		t.Fatalf("download through signed URL: status %d, %d bytes, err %v, same content %v", resp.StatusCode, n, err, bytes.Equal(rh.Sum(nil), h.Sum(nil)))
	}
}

// testAbortLeavesNoParts aborts a multipart upload: no object, and nothing
// for start-up cleanup to find.
func testAbortLeavesNoParts(t *testing.T, st storage.Store) {
	t.Helper()
	ctx := context.Background()
	w, _ := st.Create(ctx, "jobX/Aborted.ndjson")
	if _, err := io.Copy(w, io.LimitReader(storage.Zeros{}, 2*storage.MinPartSize+1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "jobX/Aborted.ndjson"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("aborted object: %v", err)
	}
	if cl, ok := st.(storage.Cleaner); ok {
		if n, err := cl.CleanIncomplete(ctx, "jobX/", time.Now().Add(time.Hour)); err != nil || n != 0 {
			t.Errorf("after Abort, CleanIncomplete found %d incomplete uploads (%v)", n, err)
		}
	}
}

// testCleanIncomplete leaves an upload unfinished (as a crash would) and
// checks that start-up cleanup removes it, and only when old enough.
func testCleanIncomplete(t *testing.T, st storage.Store) {
	t.Helper()
	ctx := context.Background()
	storage.LeaveIncomplete(t, st, "jobC/Crashed.ndjson")
	cl := st.(storage.Cleaner)
	if n, err := cl.CleanIncomplete(ctx, "jobC/", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("a fresh upload was cleaned: %d, %v", n, err)
	}
	if n, err := cl.CleanIncomplete(ctx, "jobC/", time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("CleanIncomplete = %d, %v; want 1", n, err)
	}
	if n, err := cl.CleanIncomplete(ctx, "jobC/", time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second CleanIncomplete = %d, %v; want 0", n, err)
	}
}

// testSignedURLRefusals checks that the server itself refuses a tampered and
// an expired URL.
func testSignedURLRefusals(t *testing.T, st storage.Store) {
	t.Helper()
	ctx := context.Background()
	w, _ := st.Create(ctx, "jobU/Patient.000.ndjson")
	io.WriteString(w, "{}\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	defer st.DeletePrefix(ctx, "jobU/")
	good, err := st.SignedURL(ctx, "jobU/Patient.000.ndjson", storage.URLParams{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := httpGet(t, good); code != 200 || body != "{}\n" {
		t.Fatalf("GET signed URL = %d %q", code, body)
	}
	u, _ := url.Parse(good)
	q := u.Query()
	tampered := false
	for _, k := range []string{"X-Amz-Signature", "sig"} { // S3, Azure SAS
		if sig := q.Get(k); sig != "" {
			c := byte('0')
			if sig[0] == '0' {
				c = '1'
			}
			q.Set(k, string(c)+sig[1:])
			tampered = true
		}
	}
	if !tampered {
		t.Fatalf("no signature parameter in %s", u.Redacted())
	}
	bad := *u
	bad.RawQuery = q.Encode()
	if code, _ := httpGet(t, bad.String()); code != http.StatusForbidden {
		t.Errorf("tampered signature: status %d, want 403", code)
	}
	other := *u
	other.Path = strings.Replace(u.Path, "Patient.000", "Patient.001", 1)
	if code, _ := httpGet(t, other.String()); code != http.StatusForbidden {
		t.Errorf("URL moved to another object: status %d, want 403", code)
	}
	short, err := st.SignedURL(ctx, "jobU/Patient.000.ndjson", storage.URLParams{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // let it expire
	if code, _ := httpGet(t, short); code != http.StatusForbidden {
		t.Errorf("expired URL: status %d, want 403", code)
	}
}

// flakyTransport fails the second part upload once, after the request was
// sent, as a dropped connection would.
type flakyTransport struct {
	puts   atomic.Int32
	failed atomic.Bool
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.ContentLength >= storage.MinPartSize && f.puts.Add(1) == 2 && !f.failed.Swap(true) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return nil, errors.New("connection reset by peer (injected)")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func testRetriedPart(t *testing.T, c storage.Config) {
	t.Helper()
	ft := &flakyTransport{}
	c = storage.WithTransport(c, ft)
	st := openTest(t, c)
	ctx := context.Background()
	h := sha256.New()
	w, _ := st.Create(ctx, "jobR/Retried.ndjson")
	if _, err := io.Copy(w, &genReader{n: 3*storage.MinPartSize + 5, h: h, seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("upload with one failed part: %v", err)
	}
	defer st.DeletePrefix(ctx, "jobR/")
	if !ft.failed.Load() {
		t.Fatal("no part failed: the fault was not injected")
	}
	u, _ := st.SignedURL(ctx, "jobR/Retried.ndjson", storage.URLParams{TTL: time.Minute})
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rh := sha256.New()
	io.Copy(rh, resp.Body)
	if !bytes.Equal(rh.Sum(nil), h.Sum(nil)) {
		t.Error("object differs after a retried part")
	}
}

// testRefusedCredentials uploads with a wrong secret: the server refuses it,
// the writer does not retry a refusal, and the error names no secret.
func testRefusedCredentials(t *testing.T, c storage.Config, secret string) {
	t.Helper()
	c.RetryBase = time.Hour // a retry would hang the test
	st := openTest(t, c)
	for _, size := range []int64{10, storage.MinPartSize + 1} {
		w, err := st.Create(context.Background(), "jobW/Patient.000.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(w, io.LimitReader(storage.Zeros{}, size))
		if err == nil {
			err = w.Close()
		}
		if err == nil {
			t.Fatal("upload with a wrong secret succeeded")
		}
		msg := err.Error()
		t.Logf("wrong secret, %d bytes: %s", size, msg)
		if strings.Contains(msg, secret) || !strings.Contains(msg, "jobW/Patient.000.ndjson") {
			t.Errorf("error leaks the secret or names no object: %s", msg)
		}
	}
}
