package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// tokenKeyFile holds the server's access-token keys (private JWKs, first
// = current signing key, then previous keys kept for verification).
const tokenKeyFile = "token-keys.json"

// keepKeys is how many keys the file keeps: the current and the previous.
const keepKeys = 2

type tokenKeys struct {
	path string
	mu   sync.RWMutex
	keys []jose.JSONWebKey
	fi   os.FileInfo  // of the loaded file: a rotation renames a new one in
	last atomic.Int64 // unix nanos of the last check of the file
}

func openTokenKeys(dir string) (*tokenKeys, error) {
	tk := &tokenKeys{path: filepath.Join(dir, tokenKeyFile)}
	if _, err := os.Stat(tk.path); os.IsNotExist(err) {
		if _, err := RotateKey(dir); err != nil {
			return nil, err
		}
	}
	if err := tk.load(); err != nil {
		return nil, err
	}
	return tk, nil
}

func readKeyFile(path string) ([]jose.JSONWebKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("auth: %s: %v", path, err)
	}
	for _, k := range set.Keys {
		if _, ok := k.Key.(*ecdsa.PrivateKey); !ok || k.KeyID == "" {
			return nil, fmt.Errorf("auth: %s: every key must be a private EC key with a kid", path)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("auth: %s: no keys", path)
	}
	return set.Keys, nil
}

func (tk *tokenKeys) load() error {
	fi, err := os.Stat(tk.path)
	if err != nil {
		return fmt.Errorf("auth: token keys: %w", err)
	}
	keys, err := readKeyFile(tk.path)
	if err != nil {
		return err
	}
	tk.mu.Lock()
	tk.keys, tk.fi = keys, fi
	tk.mu.Unlock()
	return nil
}

// reloadIfChanged picks up a rotation done by `iisbridge auth rotate-key`.
func (tk *tokenKeys) reloadIfChanged(log *slog.Logger) {
	fi, err := os.Stat(tk.path)
	tk.mu.RLock()
	same := err == nil && os.SameFile(fi, tk.fi) && fi.ModTime().Equal(tk.fi.ModTime())
	tk.mu.RUnlock()
	if same {
		return
	}
	if err := tk.load(); err != nil {
		log.Error("reloading the token signing keys failed; keeping the loaded ones", "err", err)
		return
	}
	log.Info("token signing keys reloaded", "file", tk.path)
}

// current is the signing key.
func (tk *tokenKeys) current() jose.JSONWebKey {
	tk.mu.RLock()
	defer tk.mu.RUnlock()
	return tk.keys[0]
}

// verifier returns the public key for kid, or nil. The key file is
// re-checked at most once a second, so a rotation (or retirement) done by
// `iisbridge auth rotate-key` applies within a second.
func (tk *tokenKeys) verifier(kid string, now time.Time, log *slog.Logger) any {
	if last := tk.last.Load(); now.UnixNano()-last >= int64(time.Second) && tk.last.CompareAndSwap(last, now.UnixNano()) {
		tk.reloadIfChanged(log)
	}
	tk.mu.RLock()
	defer tk.mu.RUnlock()
	for _, k := range tk.keys {
		if k.KeyID == kid {
			return k.Public().Key
		}
	}
	return nil
}

// RotateKey creates a new access-token signing key in the auth data dir,
// keeps the previous current key for verifying tokens it signed, and
// returns the new key id. The running server picks it up within seconds.
func RotateKey(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, tokenKeyFile)
	old, err := readKeyFile(path)
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	var id [8]byte
	rand.Read(id[:])
	k := jose.JSONWebKey{Key: pk, KeyID: hex.EncodeToString(id[:]), Algorithm: string(jose.ES256), Use: "sig"}
	keys := append([]jose.JSONWebKey{k}, old...)
	if len(keys) > keepKeys {
		keys = keys[:keepKeys]
	}
	b, err := json.MarshalIndent(jose.JSONWebKeySet{Keys: keys}, "", "  ")
	if err != nil {
		return "", err
	}
	return k.KeyID, writeSecret(path, b)
}

// writeSecret writes a 0600 file atomically.
func writeSecret(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
