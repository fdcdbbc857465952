package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// The azblob backend uses the Azure SDK's azblob (the official client) with
// block uploads (StageBlock/CommitBlockList) and SAS URLs: signed with the
// account key when one is configured, otherwise with a user delegation key
// obtained through azidentity's DefaultAzureCredential (environment,
// workload identity, managed identity, Azure CLI).
func init() { Register("azblob", openAzblob) }

type azStore struct {
	svc     *service.Client
	cont    *container.Client
	name    string // container
	prefix  string
	key     *service.SharedKeyCredential // nil: user delegation SAS
	cfg     Config
	secrets []string

	mu        sync.Mutex
	udc       *service.UserDelegationCredential
	udcExpiry time.Time
}

func openAzblob(_ context.Context, c Config) (Store, error) {
	if c.Account == "" || c.Container == "" {
		return nil, errors.New("storage azblob: account and container are required")
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return nil, err
	}
	svcURL := c.Endpoint
	if svcURL == "" {
		svcURL = "https://" + c.Account + ".blob.core.windows.net/"
	}
	// The part writer retries with backoff; the SDK's own retries would
	// multiply the wait when the store is down.
	opts := &service.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1, TryTimeout: 5 * time.Minute}}}
	if c.transport != nil {
		opts.Transport = &http.Client{Transport: c.transport}
	}
	s := &azStore{name: c.Container, prefix: strings.TrimSuffix(c.Prefix, "/"), cfg: c, secrets: c.secrets()}
	var err error
	if c.AccountKey != "" {
		s.key, err = service.NewSharedKeyCredential(c.Account, c.AccountKey)
		if err != nil {
			// The SDK's message could quote the key: say what is wrong only.
			return nil, errors.New("storage azblob: account_key is not valid base64")
		}
		s.svc, err = service.NewClientWithSharedKeyCredential(svcURL, s.key, opts)
	} else {
		var cred *azidentity.DefaultAzureCredential
		cred, err = azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("storage azblob: credentials: %v", scrubErr(err, s.secrets))
		}
		s.svc, err = service.NewClient(svcURL, cred, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("storage azblob: %v", scrubErr(err, s.secrets))
	}
	s.cont = s.svc.NewContainerClient(c.Container)
	return s, nil
}

func (s *azStore) objKey(name string) string { return joinKey(s.prefix, name) }

func (s *azStore) rel(key string) string {
	if s.prefix == "" {
		return key
	}
	return strings.TrimPrefix(key, s.prefix+"/")
}

func (s *azStore) azErr(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return scrubErr(err, s.secrets)
	}
	// The SDK's message spans lines of request and response dumps (an
	// authentication failure quotes the computed signature): keep the
	// status and the service's error code only.
	short := scrubbed{fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode), err}
	switch {
	case re.ErrorCode == string(bloberror.BlobNotFound):
		return scrubbed{short.msg, errors.Join(ErrNotExist, err)}
	case re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusBadRequest ||
		re.StatusCode == http.StatusUnauthorized || re.ErrorCode == string(bloberror.ContainerNotFound):
		return permanent{short}
	}
	return short
}

func (s *azStore) Create(ctx context.Context, name string) (Writer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return newPartWriter(ctx, s.cfg, name, &azUpload{s: s, bb: s.cont.NewBlockBlobClient(s.objKey(name)), ctype: contentType(name)}), nil
}

type azUpload struct {
	s      *azStore
	bb     *blockblob.Client
	ctype  string
	tag    string // distinguishes this upload's block ids
	blocks []string
}

func (u *azUpload) headers() *blob.HTTPHeaders { return &blob.HTTPHeaders{BlobContentType: &u.ctype} }

func (u *azUpload) put(ctx context.Context, p []byte) error {
	_, err := u.bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(p)), &blockblob.UploadOptions{HTTPHeaders: u.headers()})
	return u.s.azErr(err)
}

func (u *azUpload) begin(context.Context) (multipart, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	return &azUpload{s: u.s, bb: u.bb, ctype: u.ctype, tag: hex.EncodeToString(rnd[:])}, nil
}

func (u *azUpload) uploadPart(ctx context.Context, n int, p []byte, _ bool) error {
	// Block ids of one blob must all have the same length.
	id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%08d", u.tag, n))
	if _, err := u.bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(p)), nil); err != nil {
		return u.s.azErr(err)
	}
	if n > len(u.blocks) {
		u.blocks = append(u.blocks, id)
	}
	return nil
}

func (u *azUpload) complete(ctx context.Context) error {
	_, err := u.bb.CommitBlockList(ctx, u.blocks, &blockblob.CommitBlockListOptions{HTTPHeaders: u.headers()})
	return u.s.azErr(err)
}

// abort discards uncommitted blocks: Azure has no call for that, but
// committing an empty list drops them and the empty blob is then deleted.
func (u *azUpload) abort(ctx context.Context) error {
	if _, err := u.bb.CommitBlockList(ctx, nil, nil); err != nil {
		return u.s.azErr(err)
	}
	_, err := u.bb.Delete(ctx, nil)
	if err = u.s.azErr(err); errors.Is(err, ErrNotExist) {
		return nil
	}
	return err
}

func (s *azStore) Stat(ctx context.Context, name string) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	p, err := s.cont.NewBlobClient(s.objKey(name)).GetProperties(ctx, nil)
	if err != nil {
		return Info{}, opError("azblob", "stat", name, s.azErr(err))
	}
	i := Info{Name: name}
	if p.ContentLength != nil {
		i.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		i.ModTime = *p.LastModified
	}
	return i, nil
}

func (s *azStore) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	_, err := s.cont.NewBlobClient(s.objKey(name)).Delete(ctx, nil)
	if err = s.azErr(err); errors.Is(err, ErrNotExist) {
		return nil
	}
	return opError("azblob", "delete", name, err)
}

func (s *azStore) DeletePrefix(ctx context.Context, prefix string) error {
	return deleteObjects(ctx, "azblob", s, prefix)
}

// list pages through blobs under prefix; with uncommitted, blobs that have
// only uncommitted blocks are listed too (as zero-length entries).
func (s *azStore) list(ctx context.Context, prefix string, uncommitted bool, fn func(key string, size int64, mod time.Time) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	full := s.objKey(prefix)
	pager := s.cont.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &full,
		Include: container.ListBlobsInclude{UncommittedBlobs: uncommitted}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return opError("azblob", "list", prefix, s.azErr(err))
		}
		for _, b := range page.Segment.BlobItems {
			var size int64
			var mod time.Time
			if b.Properties != nil && b.Properties.ContentLength != nil {
				size = *b.Properties.ContentLength
			}
			if b.Properties != nil && b.Properties.LastModified != nil {
				mod = *b.Properties.LastModified
			}
			if err := fn(*b.Name, size, mod); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *azStore) List(ctx context.Context, prefix string, fn func(Info) error) error {
	return s.list(ctx, prefix, false, func(key string, size int64, mod time.Time) error {
		return fn(Info{Name: s.rel(key), Size: size, ModTime: mod})
	})
}

// CleanIncomplete drops uncommitted blocks of blobs under prefix: blobs that
// appear only when uncommitted blobs are included.
func (s *azStore) CleanIncomplete(ctx context.Context, prefix string, olderThan time.Time) (int, error) {
	committed := map[string]bool{}
	if err := s.list(ctx, prefix, false, func(key string, _ int64, _ time.Time) error { committed[key] = true; return nil }); err != nil {
		return 0, err
	}
	var orphans []string
	err := s.list(ctx, prefix, true, func(key string, _ int64, mod time.Time) error {
		if !committed[key] && (mod.IsZero() || mod.Before(olderThan)) {
			orphans = append(orphans, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, key := range orphans {
		u := &azUpload{s: s, bb: s.cont.NewBlockBlobClient(key)}
		if err := u.abort(ctx); err != nil {
			return 0, opError("azblob", "clean incomplete upload", s.rel(key), err)
		}
	}
	return len(orphans), nil
}

// SignedURL returns the blob URL with a read-only SAS valid for p.TTL
// (https only, except against a plain-http endpoint such as Azurite).
func (s *azStore) SignedURL(ctx context.Context, name string, p URLParams) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if p.TTL <= 0 {
		return "", errors.New("storage azblob: signed URL needs a positive TTL")
	}
	key := s.objKey(name)
	now := time.Now().UTC()
	v := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-5 * time.Minute), // tolerate clock skew
		ExpiryTime:    now.Add(p.TTL),
		Permissions:   (&sas.BlobPermissions{Read: true}).String(),
		ContainerName: s.name,
		BlobName:      key,
	}
	blobURL := s.cont.NewBlobClient(key).URL()
	if strings.HasPrefix(blobURL, "http://") {
		v.Protocol = sas.ProtocolHTTPSandHTTP
	}
	var qp sas.QueryParameters
	var err error
	if s.key != nil {
		qp, err = v.SignWithSharedKey(s.key)
	} else {
		var udc *service.UserDelegationCredential
		if udc, err = s.delegation(ctx, v.ExpiryTime); err == nil {
			qp, err = v.SignWithUserDelegation(udc)
		}
	}
	if err != nil {
		return "", opError("azblob", "sign URL", name, s.azErr(err))
	}
	return blobURL + "?" + qp.Encode(), nil
}

// delegation returns a user delegation key valid past until, fetching a new
// one (valid for a day, or longer if until needs it, at most seven) when the
// cached one would expire first.
func (s *azStore) delegation(ctx context.Context, until time.Time) (*service.UserDelegationCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udc != nil && s.udcExpiry.After(until) {
		return s.udc, nil
	}
	now := time.Now().UTC()
	exp := now.Add(24 * time.Hour)
	if until.After(exp) {
		exp = until.Add(time.Minute)
	}
	start, expiry := now.Add(-5*time.Minute).Format(sas.TimeFormat), exp.Format(sas.TimeFormat)
	udc, err := s.svc.GetUserDelegationCredential(ctx, service.KeyInfo{Start: &start, Expiry: &expiry}, nil)
	if err != nil {
		return nil, err
	}
	s.udc, s.udcExpiry = udc, exp
	return udc, nil
}
