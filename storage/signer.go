package storage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Signer signs and checks the server's own file URLs: the local backend's
// signed URLs and the HTTP file route share it, so a URL the one signs the
// other accepts. It is the same contract as a cloud pre-signed URL: job,
// file, client and expiry are bound by the signature.
type Signer interface {
	// Sign returns base + "/" + job + "/" + file + "?" + a query carrying
	// client, expiry and signature; file may hold slashes ("output/x.ndjson"),
	// each segment escaped on its own.
	Sign(base string, f SignedFile) (string, error)
	// Verify checks the query of a request for job/file at now and returns
	// the client the URL was issued to. A bad or missing signature is
	// ErrBadSignature, a past expiry ErrExpired: both answer 403.
	Verify(job, file string, query url.Values, now time.Time) (client string, err error)
}

// SignedFile is what a signed URL grants.
type SignedFile struct {
	Job, File, Client string
	Expires           time.Time
}

var (
	ErrBadSignature = errors.New("signed URL: bad signature")
	ErrExpired      = errors.New("signed URL: expired")
)

// HMACSigner signs with HMAC-SHA256. Keys[0] signs; every key verifies, so a
// rotated key keeps its URLs valid until they expire.
type HMACSigner struct {
	Keys [][]byte
}

// NewHMACSigner returns a signer over keys of at least 32 bytes, the first
// signing.
func NewHMACSigner(keys ...[]byte) (*HMACSigner, error) {
	if len(keys) == 0 {
		return nil, errors.New("signer: no key")
	}
	for _, k := range keys {
		if len(k) < 32 {
			return nil, errors.New("signer: key shorter than 32 bytes")
		}
	}
	return &HMACSigner{Keys: keys}, nil
}

// Query parameter names of a local signed URL.
const (
	qClient  = "client_id"
	qExpires = "expires"
	qSig     = "signature"
)

func (s *HMACSigner) mac(key []byte, job, file, client string, exp int64) []byte {
	m := hmac.New(sha256.New, key)
	// Length-prefixed fields: no two tuples share an encoding.
	for _, f := range []string{"iisbridge-file-v1", job, file, client, strconv.FormatInt(exp, 10)} {
		fmt.Fprintf(m, "%d:%s", len(f), f)
	}
	return m.Sum(nil)
}

func (s *HMACSigner) Sign(base string, f SignedFile) (string, error) {
	if err := CheckName(f.Job + "/" + f.File); err != nil || strings.Contains(f.Job, "/") {
		return "", fmt.Errorf("signer: invalid job/file %q/%q", f.Job, f.File)
	}
	if f.Expires.IsZero() {
		return "", errors.New("signer: no expiry")
	}
	exp := f.Expires.Unix()
	q := url.Values{}
	q.Set(qClient, f.Client)
	q.Set(qExpires, strconv.FormatInt(exp, 10))
	q.Set(qSig, base64.RawURLEncoding.EncodeToString(s.mac(s.Keys[0], f.Job, f.File, f.Client, exp)))
	segs := strings.Split(f.File, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.TrimSuffix(base, "/") + "/" + url.PathEscape(f.Job) + "/" + strings.Join(segs, "/") + "?" + q.Encode(), nil
}

func (s *HMACSigner) Verify(job, file string, q url.Values, now time.Time) (string, error) {
	sig, err := base64.RawURLEncoding.DecodeString(q.Get(qSig))
	if err != nil || len(sig) != sha256.Size || len(q[qClient]) != 1 || len(q[qExpires]) != 1 {
		return "", ErrBadSignature
	}
	client := q.Get(qClient)
	exp, err := strconv.ParseInt(q.Get(qExpires), 10, 64)
	if err != nil {
		return "", ErrBadSignature
	}
	ok := false
	for _, k := range s.Keys {
		if hmac.Equal(sig, s.mac(k, job, file, client, exp)) {
			ok = true
		}
	}
	if !ok {
		return "", ErrBadSignature
	}
	// Checked after the signature, so an attacker learns nothing from
	// editing the expiry.
	if !now.Before(time.Unix(exp, 0)) {
		return "", ErrExpired
	}
	return client, nil
}
