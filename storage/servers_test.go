package storage

// Tests against real storage servers started by .ci/storage-servers.sh (or
// by hand): each skips with a message when its server is not configured or
// not reachable. See the README's environment table.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// Azurite's well-known development account (published in its documentation).
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// serverFromEnv returns the endpoint in env, or skips when it is unset or
// nothing listens there.
func serverFromEnv(t testing.TB, env string) string {
	t.Helper()
	ep := os.Getenv(env)
	if ep == "" {
		t.Skipf("%s is not set: no server to test against (.ci/storage-servers.sh starts one)", env)
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		t.Fatalf("%s=%q is not a URL", env, ep)
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		t.Skipf("%s=%s is not reachable: %v", env, ep, err)
	}
	c.Close()
	return ep
}

func uniqueName(prefix string) string {
	var b [5]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// s3TestConfig creates a bucket of its own, removed at cleanup.
func s3TestConfig(t testing.TB) Config {
	ep := serverFromEnv(t, "IISBRIDGE_TEST_S3")
	c := Config{Kind: "s3", Endpoint: ep, Region: "us-east-1", PathStyle: true, Bucket: uniqueName("iisb-"),
		Prefix: "exports", PartSize: MinPartSize, RetryBase: 10 * time.Millisecond,
		AccessKeyID: envOr("IISBRIDGE_TEST_S3_ACCESS_KEY", "iisbridge-test"), SecretAccessKey: envOr("IISBRIDGE_TEST_S3_SECRET_KEY", "iisbridge-test-secret")}
	st, err := Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	cl := st.(*s3Store).cl
	if err := cl.MakeBucket(context.Background(), c.Bucket, minio.MakeBucketOptions{Region: c.Region}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	t.Cleanup(func() {
		st.DeletePrefix(context.Background(), "j")
		if err := cl.RemoveBucket(context.Background(), c.Bucket); err != nil {
			t.Errorf("remove bucket: %v", err)
		}
	})
	return c
}

func azTestConfig(t testing.TB) Config {
	ep := serverFromEnv(t, "IISBRIDGE_TEST_AZURITE")
	c := Config{Kind: "azblob", Endpoint: ep, Account: azuriteAccount, AccountKey: azuriteKey,
		Container: uniqueName("iisb-"), Prefix: "exports", PartSize: MinPartSize, RetryBase: 10 * time.Millisecond}
	st, err := Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	cont := st.(*azStore).cont
	if _, err := cont.Create(context.Background(), nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		if _, err := cont.Delete(context.Background(), nil); err != nil {
			t.Errorf("delete container: %v", err)
		}
	})
	return c
}

func gcsTestConfig(t testing.TB) Config {
	ep := serverFromEnv(t, "IISBRIDGE_TEST_GCS")
	c := Config{Kind: "gcs", Endpoint: ep, Bucket: uniqueName("iisb-"), Prefix: "exports", Anonymous: true,
		CredentialsFile: "testdata/gcs-test-service-account.json", PartSize: MinPartSize, RetryBase: 10 * time.Millisecond}
	body := fmt.Sprintf(`{"name":%q}`, c.Bucket)
	resp, err := http.Post(ep+"/storage/v1/b?project=test", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create bucket: %v %v", err, resp)
	}
	resp.Body.Close()
	t.Cleanup(func() {
		if st, err := Open(context.Background(), c); err == nil {
			if err := st.DeletePrefix(context.Background(), "j"); err != nil {
				t.Errorf("emptying the bucket: %v", err)
			}
		}
		req, _ := http.NewRequest(http.MethodDelete, ep+"/storage/v1/b/"+c.Bucket, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode/100 != 2 {
			t.Errorf("delete bucket: %v %v", err, resp)
		} else {
			resp.Body.Close()
		}
	})
	return c
}

func openTest(t testing.TB, c Config) Store {
	t.Helper()
	st, err := Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestS3Store(t *testing.T) {
	c := s3TestConfig(t)
	st := openTest(t, c)
	testStoreBasics(t, st)
	testLargeObject(t, st)
	testAbortLeavesNoParts(t, st)
	testSignedURLRefusals(t, st)
	testRetriedPart(t, c)
	bad := c
	bad.SecretAccessKey = "wrong-secret-Zq8v1x7Kp2"
	testRefusedCredentials(t, bad, bad.SecretAccessKey)
	testCleanIncomplete(t, st, func(name string) {
		s := st.(*s3Store)
		id, err := s.core.NewMultipartUpload(context.Background(), s.bucket, s.objKey(name), minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.core.PutObjectPart(context.Background(), s.bucket, s.objKey(name), id, 1, bytes.NewReader([]byte("x")), 1, minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAzblobStore(t *testing.T) {
	c := azTestConfig(t)
	st := openTest(t, c)
	testStoreBasics(t, st)
	testLargeObject(t, st)
	testAbortLeavesNoParts(t, st)
	testSignedURLRefusals(t, st)
	testRetriedPart(t, c)
	bad := c
	bad.AccountKey = "d3Jvbmcta2V5LVpxOHYxeDdLcDJ3cm9uZy1rZXktWnE4djF4N0twMg=="
	testRefusedCredentials(t, bad, bad.AccountKey)
	testCleanIncomplete(t, st, func(name string) {
		s := st.(*azStore)
		bb := s.cont.NewBlockBlobClient(s.objKey(name))
		if _, err := bb.StageBlock(context.Background(), "YmxvY2sx", nopCloser{bytes.NewReader([]byte("x"))}, nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGCSStore(t *testing.T) {
	c := gcsTestConfig(t)
	st := openTest(t, c)
	testStoreBasics(t, st)
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
	u, err := st.SignedURL(context.Background(), "jobS/Patient.000.ndjson", URLParams{TTL: time.Minute})
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

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

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
func testLargeObject(t *testing.T, st Store) {
	t.Helper()
	const size = 64 << 20
	ctx := context.Background()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	buffers := bufferCount.Load()

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
	if n := bufferCount.Load() - buffers; n != 1 {
		t.Errorf("%d part buffers for one object, want 1", n)
	}
	if grew := int64(g.peakHeap) - int64(base); grew > 4*MinPartSize {
		t.Errorf("heap grew by %d MiB while streaming %d MiB in %d MiB parts", grew>>20, size>>20, MinPartSize>>20)
	}
	info, err := st.Stat(ctx, "jobL/Large.ndjson")
	if err != nil || info.Size != size {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	u, err := st.SignedURL(ctx, "jobL/Large.ndjson", URLParams{TTL: 5 * time.Minute, Client: "c"})
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
func testAbortLeavesNoParts(t *testing.T, st Store) {
	t.Helper()
	ctx := context.Background()
	w, _ := st.Create(ctx, "jobX/Aborted.ndjson")
	if _, err := io.Copy(w, io.LimitReader(zeros{}, 2*MinPartSize+1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "jobX/Aborted.ndjson"); !errors.Is(err, ErrNotExist) {
		t.Errorf("aborted object: %v", err)
	}
	if cl, ok := st.(Cleaner); ok {
		if n, err := cl.CleanIncomplete(ctx, "jobX/", time.Now().Add(time.Hour)); err != nil || n != 0 {
			t.Errorf("after Abort, CleanIncomplete found %d incomplete uploads (%v)", n, err)
		}
	}
}

// testCleanIncomplete leaves an upload unfinished (as a crash would) and
// checks that start-up cleanup removes it, and only when old enough.
func testCleanIncomplete(t *testing.T, st Store, leave func(name string)) {
	t.Helper()
	ctx := context.Background()
	leave("jobC/Crashed.ndjson")
	cl := st.(Cleaner)
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
func testSignedURLRefusals(t *testing.T, st Store) {
	t.Helper()
	ctx := context.Background()
	w, _ := st.Create(ctx, "jobU/Patient.000.ndjson")
	io.WriteString(w, "{}\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	defer st.DeletePrefix(ctx, "jobU/")
	good, err := st.SignedURL(ctx, "jobU/Patient.000.ndjson", URLParams{TTL: time.Minute})
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
	short, err := st.SignedURL(ctx, "jobU/Patient.000.ndjson", URLParams{TTL: time.Second})
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
	if r.Method == http.MethodPut && r.ContentLength >= MinPartSize && f.puts.Add(1) == 2 && !f.failed.Swap(true) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return nil, errors.New("connection reset by peer (injected)")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func testRetriedPart(t *testing.T, c Config) {
	t.Helper()
	ft := &flakyTransport{}
	c.transport = ft
	st := openTest(t, c)
	ctx := context.Background()
	h := sha256.New()
	w, _ := st.Create(ctx, "jobR/Retried.ndjson")
	if _, err := io.Copy(w, &genReader{n: 3*MinPartSize + 5, h: h, seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("upload with one failed part: %v", err)
	}
	defer st.DeletePrefix(ctx, "jobR/")
	if !ft.failed.Load() {
		t.Fatal("no part failed: the fault was not injected")
	}
	u, _ := st.SignedURL(ctx, "jobR/Retried.ndjson", URLParams{TTL: time.Minute})
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
func testRefusedCredentials(t *testing.T, c Config, secret string) {
	t.Helper()
	c.RetryBase = time.Hour // a retry would hang the test
	st := openTest(t, c)
	for _, size := range []int64{10, MinPartSize + 1} {
		w, err := st.Create(context.Background(), "jobW/Patient.000.ndjson")
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(w, io.LimitReader(zeros{}, size))
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
