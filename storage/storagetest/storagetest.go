// Package storagetest gives other packages' tests a bucket or container of
// their own on the local storage servers .ci/storage-servers.sh starts
// (versitygw for S3, Azurite, fake-gcs-server), named by the
// IISBRIDGE_TEST_S3, IISBRIDGE_TEST_AZURITE and IISBRIDGE_TEST_GCS
// variables. A test skips with a message when its server is not there;
// everything it creates is removed at cleanup.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iisbridge/iisbridge/storage"
)

// Azurite's well-known development account (published in its documentation).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Kinds are the object-store kinds this package can set up.
var Kinds = []string{"s3", "azblob", "gcs"}

// Config returns a configuration of kind on its local server with a new,
// empty bucket or container, removed (with everything in it) at cleanup.
func Config(t testing.TB, kind string) storage.Config {
	t.Helper()
	switch kind {
	case "s3":
		return s3(t)
	case "azblob":
		return az(t)
	case "gcs":
		return gcs(t)
	}
	t.Fatalf("storagetest: unknown kind %q", kind)
	return storage.Config{}
}

// Endpoint returns the server address in env, or skips the test when it is
// unset or nothing listens there.
func Endpoint(t testing.TB, env string) string {
	t.Helper()
	ep := os.Getenv(env)
	if ep == "" {
		t.Skipf("%s is not set: no server to test against (`. .ci/storage-servers.sh` starts one)", env)
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

func unique() string {
	var b [5]byte
	rand.Read(b[:])
	return "iisb-" + hex.EncodeToString(b[:])
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// empty removes every object and upload left under the configuration.
func empty(t testing.TB, c storage.Config) {
	st, err := storage.Open(context.Background(), c)
	if err != nil {
		t.Errorf("storagetest: cleanup: %v", err)
		return
	}
	storage.Sweep(context.Background(), st, time.Now().Add(time.Hour), func(string) bool { return false })
}

func s3(t testing.TB) storage.Config {
	ep := Endpoint(t, "IISBRIDGE_TEST_S3")
	c := storage.Config{Kind: "s3", Endpoint: ep, Region: "us-east-1", PathStyle: true, Bucket: unique(), Prefix: "exports",
		PartSize: storage.MinPartSize, RetryBase: 10 * time.Millisecond,
		AccessKeyID: envOr("IISBRIDGE_TEST_S3_ACCESS_KEY", "iisbridge-test"), SecretAccessKey: envOr("IISBRIDGE_TEST_S3_SECRET_KEY", "iisbridge-test-secret")}
	u, _ := url.Parse(ep)
	cl, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, ""), Secure: u.Scheme == "https", Region: c.Region})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MakeBucket(context.Background(), c.Bucket, minio.MakeBucketOptions{Region: c.Region}); err != nil {
		t.Fatalf("storagetest: make bucket: %v", err)
	}
	t.Cleanup(func() {
		empty(t, c)
		if err := cl.RemoveBucket(context.Background(), c.Bucket); err != nil {
			t.Errorf("storagetest: remove bucket: %v", err)
		}
	})
	return c
}

func az(t testing.TB) storage.Config {
	ep := Endpoint(t, "IISBRIDGE_TEST_AZURITE")
	c := storage.Config{Kind: "azblob", Endpoint: ep, Account: AzuriteAccount, AccountKey: AzuriteKey,
		Container: unique(), Prefix: "exports", PartSize: storage.MinPartSize, RetryBase: 10 * time.Millisecond}
	cred, err := service.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	cont, err := container.NewClientWithSharedKeyCredential(strings.TrimSuffix(ep, "/")+"/"+c.Container, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cont.Create(context.Background(), nil); err != nil {
		t.Fatalf("storagetest: create container: %v", err)
	}
	t.Cleanup(func() {
		if _, err := cont.Delete(context.Background(), nil); err != nil {
			t.Errorf("storagetest: delete container: %v", err)
		}
	})
	return c
}

func gcs(t testing.TB) storage.Config {
	ep := Endpoint(t, "IISBRIDGE_TEST_GCS")
	_, here, _, _ := runtime.Caller(0)
	c := storage.Config{Kind: "gcs", Endpoint: ep, Bucket: unique(), Prefix: "exports", Anonymous: true,
		CredentialsFile: filepath.Join(filepath.Dir(here), "..", "testdata", "gcs-test-service-account.json"),
		PartSize:        storage.MinPartSize, RetryBase: 10 * time.Millisecond}
	resp, err := http.Post(ep+"/storage/v1/b?project=test", "application/json", strings.NewReader(fmt.Sprintf(`{"name":%q}`, c.Bucket)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("storagetest: create bucket: %v %v", err, resp)
	}
	resp.Body.Close()
	t.Cleanup(func() {
		empty(t, c)
		req, _ := http.NewRequest(http.MethodDelete, ep+"/storage/v1/b/"+c.Bucket, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode/100 != 2 {
			t.Errorf("storagetest: delete bucket: %v %v", err, resp)
		} else {
			resp.Body.Close()
		}
	})
	return c
}

// Contract runs the contract every backend shares on an empty store:
// create, stat, list, abort, delete, delete by prefix, refused names.
func Contract(t *testing.T, st storage.Store) {
	t.Helper()
	ctx := context.Background()
	write := func(name, body string) {
		t.Helper()
		w, err := st.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close %s: %v", name, err)
		}
	}
	write("jobA/Patient.000.ndjson", "{\"a\":1}\n")
	write("jobA/Immunization.000.ndjson", "")
	write("jobB/Patient.000.ndjson", "{}\n")

	if i, err := st.Stat(ctx, "jobA/Patient.000.ndjson"); err != nil || i.Size != 8 {
		t.Fatalf("Stat = %+v, %v", i, err)
	}
	if _, err := st.Stat(ctx, "jobA/missing.ndjson"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat of a missing object: %v", err)
	}
	list := func(prefix string) string {
		t.Helper()
		var names []string
		if err := st.List(ctx, prefix, func(i storage.Info) error { names = append(names, i.Name); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		return strings.Join(names, ",")
	}
	if got := list("jobA/"); got != "jobA/Immunization.000.ndjson,jobA/Patient.000.ndjson" {
		t.Errorf("List(jobA/) = %s", got)
	}

	// An aborted upload leaves nothing visible.
	w, _ := st.Create(ctx, "jobA/Aborted.ndjson")
	io.WriteString(w, "partial")
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := list("jobA/"); strings.Contains(got, "Aborted") {
		t.Errorf("aborted upload is listed: %s", got)
	}

	if err := st.Delete(ctx, "jobB/Patient.000.ndjson"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "jobB/Patient.000.ndjson"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := st.DeletePrefix(ctx, "jobA/"); err != nil {
		t.Fatal(err)
	}
	if got := list(""); got != "" {
		t.Errorf("left after deletes: %s", got)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "a/"} {
		if _, err := st.Create(ctx, bad); err == nil {
			t.Errorf("Create(%q) accepted", bad)
		}
	}
	if err := st.DeletePrefix(ctx, ""); err == nil {
		t.Error("DeletePrefix(\"\") accepted")
	}
}
