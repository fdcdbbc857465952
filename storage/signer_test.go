package storage

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testSigner(t *testing.T, keys ...[]byte) *HMACSigner {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{bytes.Repeat([]byte{1}, 32)}
	}
	s, err := NewHMACSigner(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func splitSigned(t *testing.T, raw string) (job, file string, q url.Values) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/files/"), "/")
	if len(parts) != 2 {
		t.Fatalf("path %q", u.Path)
	}
	return parts[0], parts[1], u.Query()
}

func TestHMACSignerVerifies(t *testing.T) {
	s := testSigner(t)
	now := time.Unix(1_800_000_000, 0)
	raw, err := s.Sign("https://h/files", SignedFile{Job: "j1", File: "Patient.000.ndjson", Client: "clinic-a", Expires: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, "https://h/files/j1/Patient.000.ndjson?") {
		t.Fatalf("URL %s", raw)
	}
	job, file, q := splitSigned(t, raw)
	client, err := s.Verify(job, file, q, now)
	if err != nil || client != "clinic-a" {
		t.Fatalf("Verify = %q, %v", client, err)
	}

	tamper := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range q {
			c[kk] = append([]string(nil), vv...)
		}
		c.Set(k, v)
		return c
	}
	sig := q.Get("signature")
	flipped := string(sig[0]^1) + sig[1:]
	cases := []struct {
		name      string
		job, file string
		q         url.Values
		now       time.Time
		want      error
	}{
		{"other job", "j2", file, q, now, ErrBadSignature},
		{"other file", job, "Immunization.000.ndjson", q, now, ErrBadSignature},
		{"other client", job, file, tamper("client_id", "clinic-b"), now, ErrBadSignature},
		{"later expiry", job, file, tamper("expires", "1900000000"), now, ErrBadSignature},
		{"flipped signature", job, file, tamper("signature", flipped), now, ErrBadSignature},
		{"no signature", job, file, tamper("signature", ""), now, ErrBadSignature},
		{"duplicate client", job, file, url.Values{"client_id": {"clinic-a", "x"}, "expires": q["expires"], "signature": q["signature"]}, now, ErrBadSignature},
		{"expired", job, file, q, now.Add(time.Minute), ErrExpired},
	}
	for _, c := range cases {
		if _, err := s.Verify(c.job, c.file, c.q, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// Another key refuses it; a rotated set that still holds the old key accepts it.
	other := testSigner(t, bytes.Repeat([]byte{2}, 32))
	if _, err := other.Verify(job, file, q, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("foreign key: %v", err)
	}
	rotated := testSigner(t, bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	if _, err := rotated.Verify(job, file, q, now); err != nil {
		t.Errorf("rotated key set refused an old URL: %v", err)
	}
}

func TestHMACSignerRefusesWeakKeysAndBadNames(t *testing.T) {
	if _, err := NewHMACSigner([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
	s := testSigner(t)
	for _, f := range []SignedFile{{Job: "a/b", File: "x"}, {Job: "..", File: "x"}, {Job: "j", File: ""}} {
		f.Expires = time.Now().Add(time.Minute)
		if _, err := s.Sign("https://h/files", f); err == nil {
			t.Errorf("signed %+v", f)
		}
	}
}
