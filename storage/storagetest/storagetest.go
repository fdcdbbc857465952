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
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
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
