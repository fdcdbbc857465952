package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/server"
	"github.com/iisbridge/iisbridge/storage"
)

// urlKeyFile holds the HMAC key of signed file URLs; urlKeyFile+".1" the
// previous one after RotateURLKey, which still verifies.
const urlKeyFile = "url-signing.key"

// urlSigner signs the server's own file URLs with the one HMAC
// implementation there is, storage.HMACSigner: the local store's signed
// URLs and the file route's verification share it.
type urlSigner struct {
	signer *storage.HMACSigner
	now    func() time.Time
}

func openURLSigner(dir string, now func() time.Time) (*urlSigner, error) {
	path := filepath.Join(dir, urlKeyFile)
	key, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		key = make([]byte, 32)
		rand.Read(key)
		err = writeSecret(path, key)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: URL signing key: %w", err)
	}
	keys := [][]byte{key}
	if prev, err := os.ReadFile(path + ".1"); err == nil {
		keys = append(keys, prev)
	}
	for i, k := range keys {
		if len(k) < 32 {
			return nil, fmt.Errorf("auth: URL signing key %d in %s is shorter than 32 bytes", i, dir)
		}
	}
	sg, err := storage.NewHMACSigner(keys...)
	if err != nil {
		return nil, fmt.Errorf("auth: URL signing key: %w", err)
	}
	return &urlSigner{signer: sg, now: now}, nil
}

// RotateURLKey makes a new file-URL signing key in the auth data dir; the
// previous key keeps verifying the URLs it signed (they live minutes)
// until the next rotation. The server picks it up at its next start.
func RotateURLKey(dir string) error {
	path := filepath.Join(dir, urlKeyFile)
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("auth: URL signing key: %w", err)
	}
	if err := writeSecret(path+".1", old); err != nil {
		return fmt.Errorf("auth: URL signing key: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := writeSecret(path, key); err != nil {
		return fmt.Errorf("auth: URL signing key: %w", err)
	}
	return nil
}

// URLSigner is the signer of the server's file URLs, for the local store
// (storage.Config.Signer), so both sign and verify alike.
func (s *Service) URLSigner() storage.Signer { return s.urls.signer }

// fileOf is the signed "file" of a FileRef: kind/name below the job.
func fileOf(f server.FileRef) string { return f.Kind + "/" + f.Name }

// SignFileURL signs a file URL of the server's file route
// (server.FileURLSigner): fileURL ends in /job/kind/name.
func (s *Service) SignFileURL(fileURL string, f server.FileRef) (string, error) {
	base, ok := strings.CutSuffix(fileURL, "/"+f.Job+"/"+fileOf(f))
	if !ok {
		return "", fmt.Errorf("auth: file URL does not end in its job and file")
	}
	return s.urls.signer.Sign(base, storage.SignedFile{Job: f.Job, File: fileOf(f), Client: f.Client, Expires: s.urls.now().Add(SignedURLTTL)})
}

// VerifyFileURL checks a signed file URL (server.FileURLVerifier).
func (s *Service) VerifyFileURL(r *http.Request, f server.FileRef) (string, bool, error) {
	q := r.URL.Query()
	if !q.Has("signature") && !q.Has("expires") {
		return "", false, nil
	}
	client, err := s.urls.signer.Verify(f.Job, fileOf(f), q, s.urls.now())
	switch {
	case errors.Is(err, storage.ErrExpired):
		return "", true, errors.New("this signed URL has expired: fetch the manifest again for fresh links")
	case err != nil || client == "":
		return "", true, errors.New("the URL's signature does not match this file: use the links of the manifest as given")
	}
	if s.lookup(client) == nil {
		return "", true, errors.New("the client of this signed URL is no longer registered")
	}
	return client, true, nil
}
