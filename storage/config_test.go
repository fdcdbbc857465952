package storage

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestConfigExpandsEnvironment(t *testing.T) {
	t.Setenv("IISB_TEST_SECRET", "from-env-secret")
	c, err := Config{Kind: "s3", SecretAccessKey: "${IISB_TEST_SECRET}", Bucket: "b-${IISB_TEST_SECRET}"}.expand()
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretAccessKey != "from-env-secret" || c.Bucket != "b-from-env-secret" {
		t.Errorf("expanded to %q, %q", c.SecretAccessKey, c.Bucket)
	}
	_, err = Config{AccountKey: "${IISB_TEST_UNSET_VAR}"}.expand()
	if err == nil || !strings.Contains(err.Error(), "IISB_TEST_UNSET_VAR") || !strings.Contains(err.Error(), "account_key") {
		t.Errorf("unset variable: %v", err)
	}
	s := Config{Kind: "s3", Bucket: "b", SecretAccessKey: "very-secret-1", SessionToken: "very-secret-2", AccountKey: "very-secret-3"}.String()
	if strings.Contains(s, "very-secret") || !strings.Contains(s, "bucket:b") {
		t.Errorf("String() = %s", s)
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, c := range []Config{
		{Kind: "ftp"},
		{Kind: "s3"},
		{Kind: "azblob", Account: "a"},
		{Kind: "gcs", Anonymous: true},
		{Kind: "s3", Bucket: "b", PartSize: 1 << 20},
		{Kind: "s3", Bucket: "b", Prefix: "../x"},
		{Kind: "azblob", Account: "a", Container: "c", AccountKey: "not base64 !!"},
	} {
		if _, err := Open(ctx, c); err == nil {
			t.Errorf("Open(%v) accepted", c)
		} else if c.AccountKey != "" && strings.Contains(err.Error(), c.AccountKey) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}

// TestUnreachableStoreErrorNamesNoSecret uploads to a port nobody listens on:
// the error must say which store and object failed, and carry no secret.
func TestUnreachableStoreErrorNamesNoSecret(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // now refused
	const secret = "Zm9vYmFyYmF6c2VjcmV0S2V5VmFsdWUxMjM0NTY3OA=="
	base := Config{Retries: 1, RetryBase: time.Millisecond}
	cases := map[string]Config{
		"s3": {Kind: "s3", Bucket: "bkt", Endpoint: "http://" + addr, PathStyle: true,
			AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: secret, SessionToken: "session-" + secret},
		"azblob": {Kind: "azblob", Account: "devstoreaccount1", Container: "c",
			Endpoint: "http://" + addr + "/devstoreaccount1", AccountKey: base64.StdEncoding.EncodeToString([]byte(secret))},
		"gcs": {Kind: "gcs", Bucket: "b", Endpoint: "http://" + addr, Anonymous: true},
	}
	for kind, c := range cases {
		t.Run(kind, func(t *testing.T) {
			c.Retries, c.RetryBase, c.PartSize = base.Retries, base.RetryBase, MinPartSize
			st, err := Open(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			for _, size := range []int{10, MinPartSize + 1} { // one put; a multipart upload
				w, err := st.Create(context.Background(), "job/Patient.000.ndjson")
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.Copy(w, io.LimitReader(zeros{}, int64(size)))
				if err == nil {
					err = w.Close()
				}
				if err == nil {
					t.Fatal("upload to an unreachable store succeeded")
				}
				msg := err.Error()
				t.Logf("%d bytes: %s", size, msg)
				if !strings.Contains(msg, "storage "+kind) || !strings.Contains(msg, "job/Patient.000.ndjson") || !strings.Contains(msg, "refused") {
					t.Errorf("error does not say what failed: %s", msg)
				}
				for _, s := range []string{secret, c.AccountKey, "X-Amz-", "sig="} {
					if s != "" && strings.Contains(msg, s) {
						t.Errorf("error leaks %q: %s", s, msg)
					}
				}
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
