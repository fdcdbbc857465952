package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func dial(t *testing.T, h *harness) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", h.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin says whether the server closes c within d (reads until
// EOF or error, discarding any response).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// Issue 14 item 5: an idle keep-alive connection is closed.
func TestIdleKeepAliveClosed(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.HTTP.IdleTimeout = 200 * time.Millisecond })
	c := dial(t, h)
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", r, err)
	}
	io.Copy(io.Discard, r.Body)
	if !closedWithin(c, 3*time.Second) {
		t.Error("idle keep-alive connection still open after 3s")
	}
}

// Issue 14 item 5: a request body that trickles is cut.
func TestSlowBodyCut(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.HTTP.ReadTimeout = 300 * time.Millisecond })
	c := dial(t, h)
	io.WriteString(c, "POST /fhir/Patient/$export HTTP/1.1\r\nHost: x\r\nAccept: application/fhir+json\r\nPrefer: respond-async\r\n"+
		"Content-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n{\"resourceType\":")
	start := time.Now()
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("slow body still being read after 3s")
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("closed after %v, before the read timeout", d)
	}
}

// Issue 14 item 5: a client that stops reading a download is cut after
// WriteTimeout; one that keeps reading, however long the file takes, is not.
func TestDownloadWriteDeadline(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.HTTP.WriteTimeout = time.Second })
	h.exp.extra = bigPatients(16, 1<<20)
	m := h.done(h.accepted(h.kick("/Patient/$export", "_type=Patient")))
	u := m.Output[0].URL

	// Keeps flowing: 64 KB every 10 ms (a chunk in 40 ms), about 2.5 s in
	// all, far past the 1 s a chunk may take.
	r := h.do("GET", u, "")
	buf := make([]byte, 64<<10)
	var got int64
	for {
		n, err := io.ReadFull(r.Body, buf)
		got += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("steady download cut after %d bytes: %v", got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want, _ := fileSize(r); got != want {
		t.Fatalf("steady download: %d bytes of %d", got, want)
	}

	// Stops reading: the server gives up and logs the request as ended.
	before := strings.Count(h.logs(), "route=/fhir/bulkfiles/")
	stalled := h.openDownload(u)
	defer stalled.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(h.logs(), "route=/fhir/bulkfiles/") == before {
		if time.Now().After(deadline) {
			t.Fatal("a stalled download still holds its handler after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileSize(r *http.Response) (int64, error) { return r.ContentLength, nil }

// Issue 14 item 5: connections per client address are capped; a closed
// one frees its place.
func TestConnectionCapPerClient(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.HTTP.MaxConnsPerClient = 2 })
	a, b := dial(t, h), dial(t, h)
	for _, c := range []net.Conn{a, b} {
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if r, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || r.StatusCode != 200 {
			t.Fatalf("connection within the cap: %v %v", r, err)
		}
	}
	extra := dial(t, h)
	io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closedWithin(extra, 2*time.Second) {
		t.Fatal("third connection from one address was served")
	}
	a.Close()
	time.Sleep(100 * time.Millisecond)
	c := dial(t, h)
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if r, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || r.StatusCode != 200 {
		t.Fatalf("after one closed: %v %v", r, err)
	}
}
