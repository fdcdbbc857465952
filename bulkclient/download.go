package bulkclient

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type fileJob struct {
	kind  string
	file  ManifestFile
	path  string
	token bool // the manifest's requiresAccessToken
}

// download fetches one file. The bytes are kept as the server encoded
// them in DIR/.partial until complete, because a Range request counts
// bytes of that encoding: a broken transfer resumes where it stopped
// (with If-Range, so a file that changed meanwhile starts over). Only a
// complete transfer is decoded, line-counted and moved into place.
func (c *client) download(ctx context.Context, j fileJob) FileResult {
	res := FileResult{Kind: j.kind, Type: j.file.Type, URL: redactURL(j.file.URL), Path: j.path, Count: j.file.Count}
	fail := func(err error) FileResult {
		res.Err = err.Error()
		return res
	}
	if j.file.URL == "" {
		return fail(errors.New("the manifest gives no url"))
	}
	if err := os.MkdirAll(filepath.Dir(j.path), 0o755); err != nil {
		return fail(err)
	}
	partDir := filepath.Join(c.cfg.OutDir, partialDir)
	if err := os.MkdirAll(partDir, 0o755); err != nil {
		return fail(err)
	}
	part := filepath.Join(partDir, j.kind+"-"+filepath.Base(j.path)+".part")
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fail(err)
	}
	defer f.Close()

	var (
		have      int64  // bytes in the part file
		validator string // strong ETag, else Last-Modified: what If-Range sends
		encoding  string // Content-Encoding of the bytes we hold
		failures  int
		// lines counts identity-encoded bytes as they arrive, so that
		// such a file needs no second pass.
		lines = &lineCounter{}
	)
	restart := func() error {
		have, validator, encoding, lines = 0, "", "", &lineCounter{}
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}
	for {
		if failures > c.cfg.Retries {
			return fail(fmt.Errorf("gave up after %d attempts", failures))
		}
		hdr := http.Header{
			"Accept":          {"application/fhir+ndjson"},
			"Accept-Encoding": {"gzip"},
		}
		if have > 0 {
			if validator == "" {
				// Nothing to tell an unchanged file by: start over rather
				// than splice two versions.
				if err := restart(); err != nil {
					return fail(err)
				}
			} else {
				hdr.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
				hdr.Set("If-Range", validator)
				res.Resumes++
			}
		}
		// Signed URLs (requiresAccessToken false) get no token: they
		// carry their own credential, and storage services refuse
		// requests with two.
		resp, err := c.send(ctx, http.MethodGet, j.file.URL, hdr, j.token)
		if err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			failures++
			c.prog.Status(fmt.Sprintf("%s %s: %v; retrying", j.kind, j.file.Type, err))
			if err := sleep(ctx, backoff(time.Second, failures-1)); err != nil {
				return fail(err)
			}
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			if err := restart(); err != nil {
				drain(resp)
				return fail(err)
			}
			encoding = contentEncoding(resp)
			if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
				validator = et
			} else if lm := resp.Header.Get("Last-Modified"); lm != "" {
				validator = lm
			}
		case resp.StatusCode == http.StatusPartialContent:
			if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != have || contentEncoding(resp) != encoding {
				drain(resp)
				if err := restart(); err != nil {
					return fail(err)
				}
				failures++
				continue
			}
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			drain(resp)
			if err := restart(); err != nil {
				return fail(err)
			}
			failures++
			continue
		default:
			body := readBody(resp)
			if retryable(resp.StatusCode, body) && failures < c.cfg.Retries {
				failures++
				wait := retryAfter(resp, backoff(time.Second, failures-1))
				c.prog.Status(fmt.Sprintf("%s %s: %s; retrying in %s", j.kind, j.file.Type, describeFailure(resp, body), wait))
				if err := sleep(ctx, wait); err != nil {
					return fail(err)
				}
				continue
			}
			return fail(fmt.Errorf("GET %s: %s", res.URL, describeFailure(resp, body)))
		}
		var w io.Writer = f
		if encoding == "" {
			w = io.MultiWriter(f, lines)
		}
		n, err := c.receive(ctx, w, resp)
		have += n
		res.Bytes += n
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if n > 0 {
			// Progress was made: Retries bounds breaks in a row, not
			// over a long transfer on a flaky network.
			failures = 0
		}
		failures++
		c.prog.Status(fmt.Sprintf("%s %s: transfer broke after %d bytes (%v); resuming", j.kind, j.file.Type, have, err))
	}

	res.Gzip = encoding == "gzip"
	if encoding == "" {
		res.Lines = lines.Lines()
		if err := os.Rename(part, j.path); err != nil {
			return fail(err)
		}
	} else {
		n, err := decode(f, part, j.path, encoding)
		res.Lines = n
		if err != nil {
			return fail(err)
		}
	}
	if j.file.Count != nil && *j.file.Count != res.Lines {
		return fail(fmt.Errorf("%d lines, but the manifest's count is %d", res.Lines, *j.file.Count))
	}
	return res
}

// receive appends resp's body to f, aborting when nothing arrives for
// the stall timeout. It returns the bytes written.
func (c *client) receive(ctx context.Context, f io.Writer, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	stalled := time.AfterFunc(c.cfg.StallTimeout, func() { resp.Body.Close() })
	defer stalled.Stop()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			stalled.Reset(c.cfg.StallTimeout)
			if _, werr := f.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
			c.prog.Received(int64(k))
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}

func contentEncoding(resp *http.Response) string {
	switch e := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); e {
	case "", "identity":
		return ""
	case "x-gzip":
		return "gzip"
	default:
		return e
	}
}

// rangeStart reads the first byte position of "bytes START-END/LEN".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// decode decodes the complete part file into dst, counting NDJSON lines,
// and removes the part.
func decode(f *os.File, part, dst, encoding string) (int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var src io.Reader
	switch encoding {
	case "gzip":
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	default:
		return 0, fmt.Errorf("unsupported Content-Encoding %q", encoding)
	}
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	lc := &lineCounter{}
	if _, err := io.Copy(io.MultiWriter(out, lc), src); err != nil {
		out.Close()
		os.Remove(tmp)
		return 0, fmt.Errorf("decoding the download: %w", err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return 0, err
	}
	os.Remove(part)
	return lc.Lines(), nil
}

// lineCounter counts non-empty lines; a last line without its newline
// counts too.
type lineCounter struct {
	n      int64
	inLine bool
}

func (lc *lineCounter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if !lc.inLine && len(bytes.TrimLeft(seg, " \t\r")) > 0 {
			lc.inLine = true
		}
		if i < 0 {
			break
		}
		if lc.inLine {
			lc.n++
		}
		lc.inLine = false
		p = p[i+1:]
	}
	return n, nil
}

func (lc *lineCounter) Lines() int64 {
	if lc.inLine {
		return lc.n + 1
	}
	return lc.n
}

// CountLines counts NDJSON lines the way the client checks a manifest's
// count, over the readers in sequence.
func CountLines(rs ...io.Reader) (int64, error) {
	lc := &lineCounter{}
	for _, r := range rs {
		if _, err := io.Copy(lc, r); err != nil {
			return 0, err
		}
	}
	return lc.Lines(), nil
}
