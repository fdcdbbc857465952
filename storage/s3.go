package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The s3 backend speaks to any S3-compatible service through minio-go: one
// module with its own credential chain (environment, shared credentials
// file, web identity, ECS and EC2 roles) and low-level multipart calls,
// lighter to build than the AWS SDK's service, config and STS/SSO modules.
func init() { Register("s3", openS3) }

type s3Store struct {
	cl      *minio.Client
	core    minio.Core
	bucket  string
	prefix  string
	cfg     Config
	secrets []string
}

func openS3(_ context.Context, c Config) (Store, error) {
	if c.Bucket == "" {
		return nil, errors.New("storage s3: bucket is required")
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return nil, err
	}
	host, secure := "s3.amazonaws.com", true
	if c.Endpoint != "" {
		host = c.Endpoint
		if u, err := url.Parse(c.Endpoint); err == nil && u.Host != "" {
			host, secure = u.Host, u.Scheme != "http"
			if u.Path != "" && u.Path != "/" {
				return nil, fmt.Errorf("storage s3: endpoint %q must not have a path", c.Endpoint)
			}
		}
	}
	var creds *credentials.Credentials
	if c.AccessKeyID != "" || c.SecretAccessKey != "" {
		creds = credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	} else {
		// The AWS chain: environment, shared file, then roles (IRSA web
		// identity, ECS task role, EC2 instance profile).
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	cl, err := minio.New(host, &minio.Options{
		Creds: creds, Secure: secure, Region: region, BucketLookup: lookup,
		// The part writer retries with backoff; minio's own retries
		// would multiply the wait when a store is down.
		MaxRetries: 1,
		Transport:  c.transport,
	})
	if err != nil {
		return nil, fmt.Errorf("storage s3: %v", scrubErr(err, c.secrets()))
	}
	return &s3Store{cl: cl, core: minio.Core{Client: cl}, bucket: c.Bucket,
		prefix: strings.TrimSuffix(c.Prefix, "/"), cfg: c, secrets: c.secrets()}, nil
}

func (s *s3Store) objKey(name string) string { return joinKey(s.prefix, name) }

func (s *s3Store) rel(key string) string {
	if s.prefix == "" {
		return key
	}
	return strings.TrimPrefix(key, s.prefix+"/")
}

// s3Err scrubs an error and marks the ones retrying cannot cure.
func (s *s3Store) s3Err(err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey":
		return scrubbed{scrub(err.Error(), s.secrets), errors.Join(ErrNotExist, err)}
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest ||
		resp.Code == "NoSuchBucket" || resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch":
		return permanent{scrubErr(err, s.secrets)}
	}
	return scrubErr(err, s.secrets)
}

func (s *s3Store) Create(ctx context.Context, name string) (Writer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return newPartWriter(ctx, s.cfg, name, &s3Upload{s: s, key: s.objKey(name), ctype: contentType(name)}), nil
}

type s3Upload struct {
	s     *s3Store
	key   string
	ctype string
	id    string
	parts []minio.CompletePart
}

// sha256Hex is the payload hash the request signs. The part is in memory,
// so hashing it is cheap; without it minio-go signs plain-http requests
// with aws-chunked streaming, and some S3 servers (versitygw) then keep
// Content-Encoding: aws-chunked on the object, which clients refuse.
func sha256Hex(p []byte) string {
	h := sha256.Sum256(p)
	return hex.EncodeToString(h[:])
}

func (u *s3Upload) put(ctx context.Context, p []byte) error {
	_, err := u.s.core.PutObject(ctx, u.s.bucket, u.key, bytes.NewReader(p), int64(len(p)), "", sha256Hex(p),
		minio.PutObjectOptions{ContentType: u.ctype, DisableContentSha256: true})
	return u.s.s3Err(err)
}

func (u *s3Upload) begin(ctx context.Context) (multipart, error) {
	id, err := u.s.core.NewMultipartUpload(ctx, u.s.bucket, u.key, minio.PutObjectOptions{ContentType: u.ctype})
	if err != nil {
		return nil, u.s.s3Err(err)
	}
	return &s3Upload{s: u.s, key: u.key, id: id}, nil
}

func (u *s3Upload) uploadPart(ctx context.Context, n int, p []byte, _ bool) error {
	part, err := u.s.core.PutObjectPart(ctx, u.s.bucket, u.key, u.id, n, bytes.NewReader(p), int64(len(p)), minio.PutObjectPartOptions{Sha256Hex: sha256Hex(p), DisableContentSha256: true})
	if err != nil {
		return u.s.s3Err(err)
	}
	cp := minio.CompletePart{PartNumber: n, ETag: part.ETag}
	if n <= len(u.parts) {
		u.parts[n-1] = cp // a retried part replaces the earlier attempt
	} else {
		u.parts = append(u.parts, cp)
	}
	return nil
}

func (u *s3Upload) complete(ctx context.Context) error {
	sort.Slice(u.parts, func(i, j int) bool { return u.parts[i].PartNumber < u.parts[j].PartNumber })
	_, err := u.s.core.CompleteMultipartUpload(ctx, u.s.bucket, u.key, u.id, u.parts, minio.PutObjectOptions{})
	return u.s.s3Err(err)
}

func (u *s3Upload) abort(ctx context.Context) error {
	return u.s.s3Err(u.s.core.AbortMultipartUpload(ctx, u.s.bucket, u.key, u.id))
}

func (s *s3Store) Stat(ctx context.Context, name string) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	oi, err := s.cl.StatObject(ctx, s.bucket, s.objKey(name), minio.StatObjectOptions{})
	if err != nil {
		return Info{}, opError("s3", "stat", name, s.s3Err(err))
	}
	return Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

func (s *s3Store) Delete(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	err := s.s3Err(s.cl.RemoveObject(ctx, s.bucket, s.objKey(name), minio.RemoveObjectOptions{}))
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	return opError("s3", "delete", name, err)
}

func (s *s3Store) DeletePrefix(ctx context.Context, prefix string) error {
	return deleteObjects(ctx, "s3", s, prefix)
}

func (s *s3Store) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio's listing goroutine when fn fails
	for oi := range s.cl.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.objKey(prefix), Recursive: true}) {
		if oi.Err != nil {
			return opError("s3", "list", prefix, s.s3Err(oi.Err))
		}
		if err := fn(Info{Name: s.rel(oi.Key), Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

// CleanIncomplete aborts multipart uploads under prefix begun before
// olderThan.
func (s *s3Store) CleanIncomplete(ctx context.Context, prefix string, olderThan time.Time) (int, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := 0
	for up := range s.cl.ListIncompleteUploads(ctx, s.bucket, s.objKey(prefix), true) {
		if up.Err != nil {
			return n, opError("s3", "list incomplete uploads", prefix, s.s3Err(up.Err))
		}
		if !up.Initiated.IsZero() && !up.Initiated.Before(olderThan) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, up.Key, up.UploadID); err != nil {
			return n, opError("s3", "abort incomplete upload", s.rel(up.Key), s.s3Err(err))
		}
		n++
	}
	return n, nil
}

// SignedURL presigns a GET (SigV4 query authentication; S3 allows at most
// seven days).
func (s *s3Store) SignedURL(ctx context.Context, name string, p URLParams) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	u, err := s.cl.PresignedGetObject(ctx, s.bucket, s.objKey(name), p.TTL, nil)
	if err != nil {
		return "", opError("s3", "sign URL", name, s.s3Err(err))
	}
	return u.String(), nil
}
