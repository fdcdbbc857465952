package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// The gcs backend speaks the Cloud Storage JSON API over net/http, with
// golang.org/x/oauth2/google for Application Default Credentials. The
// official cloud.google.com/go/storage would pull in gRPC, OpenTelemetry and
// the generated API clients (several times this module's build) for the five
// calls an export needs: a resumable upload, get, list, delete, and V4 URL
// signing, which the client library cannot be pinned to a fixed clock for
// checking against Google's published signing vectors anyway.
func init() { Register("gcs", openGCS) }

const (
	gcsDefaultEndpoint = "https://storage.googleapis.com"
	gcsScope           = "https://www.googleapis.com/auth/devstorage.read_write"
	gcsChunk           = 256 << 10 // resumable chunks are multiples of this
)

type gcsStore struct {
	hc       *http.Client
	endpoint string // scheme://host, no trailing slash
	bucket   string
	prefix   string
	signer   *gcsSigner
	cfg      Config
}

func openGCS(ctx context.Context, c Config) (Store, error) {
	if c.Bucket == "" {
		return nil, errors.New("storage gcs: bucket is required")
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return nil, err
	}
	c.PartSize = (c.PartSize + gcsChunk - 1) / gcsChunk * gcsChunk
	s := &gcsStore{endpoint: gcsDefaultEndpoint, bucket: c.Bucket, prefix: strings.TrimSuffix(c.Prefix, "/"), cfg: c}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("storage gcs: endpoint %q is not an http(s) URL", c.Endpoint)
		}
		s.endpoint = u.Scheme + "://" + u.Host
	}
	var keyJSON []byte
	if c.CredentialsFile != "" {
		b, err := os.ReadFile(c.CredentialsFile)
		if err != nil {
			return nil, fmt.Errorf("storage gcs: credentials_file: %w", err)
		}
		keyJSON = b
	}
	var ts oauth2.TokenSource
	switch {
	case c.Anonymous:
	case keyJSON != nil:
		creds, err := google.CredentialsFromJSONWithType(ctx, keyJSON, google.ServiceAccount, gcsScope)
		if err != nil {
			return nil, errors.New("storage gcs: credentials_file is not a service account key")
		}
		ts = creds.TokenSource
	default:
		creds, err := google.FindDefaultCredentials(ctx, gcsScope)
		if err != nil {
			return nil, fmt.Errorf("storage gcs: no Application Default Credentials: %v", scrubErr(err, nil))
		}
		ts, keyJSON = creds.TokenSource, creds.JSON
	}
	s.hc = &http.Client{Transport: c.transport}
	if ts != nil {
		s.hc = &http.Client{Transport: &oauth2.Transport{Source: ts, Base: c.transport}}
	}
	var err error
	if s.signer, err = newGCSSigner(keyJSON, c.ServiceAccount, s.hc); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *gcsStore) objKey(name string) string { return joinKey(s.prefix, name) }

func (s *gcsStore) rel(key string) string {
	if s.prefix == "" {
		return key
	}
	return strings.TrimPrefix(key, s.prefix+"/")
}

func (s *gcsStore) objURL(key string) string {
	return s.endpoint + "/storage/v1/b/" + url.PathEscape(s.bucket) + "/o/" + url.PathEscape(key)
}

// do sends a request and turns a failure status into an error that names the
// operation and status, never a URL's query or a token.
func (s *gcsStore) do(ctx context.Context, method, u string, hdr http.Header, body []byte, ok ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, scrubErr(err, nil)
	}
	for _, c := range ok {
		if resp.StatusCode == c {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	json.Unmarshal(b, &e)
	err = fmt.Errorf("HTTP %d %s", resp.StatusCode, scrub(e.Error.Message, nil))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, errors.Join(ErrNotExist, err)
	case resp.StatusCode == 400 || resp.StatusCode == 401 || resp.StatusCode == 403:
		return nil, permanent{err}
	}
	return nil, err
}

func (s *gcsStore) Create(ctx context.Context, name string) (Writer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return newPartWriter(ctx, s.cfg, name, &gcsUpload{s: s, key: s.objKey(name), ctype: contentType(name)}), nil
}

type gcsUpload struct {
	s       *gcsStore
	key     string
	ctype   string
	session string // resumable session URI: a bearer capability, never logged
	offset  int64  // bytes persisted before the current part
}

func (u *gcsUpload) uploadURL(typ string) string {
	return u.s.endpoint + "/upload/storage/v1/b/" + url.PathEscape(u.s.bucket) + "/o?" +
		url.Values{"uploadType": {typ}, "name": {u.key}}.Encode()
}

func (u *gcsUpload) put(ctx context.Context, p []byte) error {
	resp, err := u.s.do(ctx, http.MethodPost, u.uploadURL("media"), http.Header{"Content-Type": {u.ctype}}, p, 200, 201)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (u *gcsUpload) begin(ctx context.Context) (multipart, error) {
	meta, _ := json.Marshal(map[string]string{"name": u.key, "contentType": u.ctype})
	resp, err := u.s.do(ctx, http.MethodPost, u.uploadURL("resumable"),
		http.Header{"Content-Type": {"application/json; charset=UTF-8"}, "X-Upload-Content-Type": {u.ctype}}, meta, 200, 201)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, errors.New("resumable upload started without a session URI")
	}
	return &gcsUpload{s: u.s, key: u.key, ctype: u.ctype, session: loc}, nil
}

// rangeEnd parses "bytes=0-N" into N+1 (0 when absent).
func rangeEnd(r string) int64 {
	_, end, ok := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(end, 10, 64)
	if err != nil {
		return 0
	}
	return n + 1
}

func (u *gcsUpload) uploadPart(ctx context.Context, _ int, p []byte, last bool) error {
	start, end := u.offset, u.offset+int64(len(p))
	total := "*"
	if last {
		total = strconv.FormatInt(end, 10)
	}
	// A retry resends the whole chunk with the same range, as Google's
	// own client does: the service keeps the bytes it already holds.
	rng := "bytes */" + total
	if start < end {
		rng = fmt.Sprintf("bytes %d-%d/%s", start, end-1, total)
	}
	resp, err := u.s.do(ctx, http.MethodPut, u.session, http.Header{"Content-Range": {rng}}, p, 308, 200, 201)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == 308 && (last || rangeEnd(resp.Header.Get("Range")) < end) {
		return fmt.Errorf("resumable upload holds %d of %d bytes", rangeEnd(resp.Header.Get("Range")), end)
	}
	u.offset = end
	return nil
}

// complete has nothing to do: the last chunk, sent with the total size,
// finalised the object.
func (u *gcsUpload) complete(context.Context) error { return nil }

// abort cancels the session; Cloud Storage answers 499 and drops the bytes.
func (u *gcsUpload) abort(ctx context.Context) error {
	resp, err := u.s.do(ctx, http.MethodDelete, u.session, nil, nil, 499, 200, 204, 404, 410)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

type gcsObject struct {
	Name    string    `json:"name"`
	Size    string    `json:"size"`
	Updated time.Time `json:"updated"`
}

func (o gcsObject) info(name string) Info {
	n, _ := strconv.ParseInt(o.Size, 10, 64)
	return Info{Name: name, Size: n, ModTime: o.Updated}
}

func (s *gcsStore) Stat(ctx context.Context, name string) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	resp, err := s.do(ctx, http.MethodGet, s.objURL(s.objKey(name)), nil, nil, 200)
	if err != nil {
		return Info{}, opError("gcs", "stat", name, err)
	}
	defer resp.Body.Close()
	var o gcsObject
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		return Info{}, opError("gcs", "stat", name, err)
	}
	return o.info(name), nil
}

func (s *gcsStore) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	resp, err := s.do(ctx, http.MethodDelete, s.objURL(s.objKey(name)), nil, nil, 200, 204)
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		return opError("gcs", "delete", name, err)
	}
	resp.Body.Close()
	return nil
}

// DeletePrefix deletes the objects under prefix. Resumable sessions cannot
// be listed: an interrupted one never becomes an object and lapses after a
// week, so there is nothing else to remove.
func (s *gcsStore) DeletePrefix(ctx context.Context, prefix string) error {
	return deleteObjects(ctx, "gcs", s, prefix)
}

func (s *gcsStore) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	token := ""
	for {
		q := url.Values{"prefix": {s.objKey(prefix)}}
		if s.prefix != "" && prefix == "" {
			q.Set("prefix", s.prefix+"/")
		}
		if token != "" {
			q.Set("pageToken", token)
		}
		resp, err := s.do(ctx, http.MethodGet, s.endpoint+"/storage/v1/b/"+url.PathEscape(s.bucket)+"/o?"+q.Encode(), nil, nil, 200)
		if err != nil {
			return opError("gcs", "list", prefix, err)
		}
		var page struct {
			Items         []gcsObject `json:"items"`
			NextPageToken string      `json:"nextPageToken"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return opError("gcs", "list", prefix, err)
		}
		for _, o := range page.Items {
			if err := fn(o.info(s.rel(o.Name))); err != nil {
				return err
			}
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
}

// SignedURL returns a V4 signed GET URL (Cloud Storage allows at most seven
// days).
func (s *gcsStore) SignedURL(ctx context.Context, name string, p URLParams) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if p.TTL <= 0 || p.TTL > 7*24*time.Hour {
		return "", errors.New("storage gcs: signed URL TTL must be positive and at most 7 days")
	}
	u, err := s.signer.signURL(ctx, v4Request{
		Method: http.MethodGet, Endpoint: s.endpoint, Bucket: s.bucket, Object: s.objKey(name),
		Time: time.Now(), Expires: p.TTL,
	})
	if err != nil {
		return "", opError("gcs", "sign URL", name, err)
	}
	return u, nil
}
