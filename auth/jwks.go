package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iisbridge/iisbridge/config"
)

// JWKS fetching limits (see the package comment).
const (
	maxJWKSBytes     = 256 << 10
	defaultJWKSCache = 5 * time.Minute
	maxJWKSCache     = 24 * time.Hour
	unknownKidRetry  = time.Minute
)

// keySource is a client's public keys: inline, or fetched from its
// registered jwks_url and cached.
type keySource struct {
	inline   []jose.JSONWebKey
	url      string
	insecure bool

	mu        sync.Mutex
	cached    []jose.JSONWebKey
	expires   time.Time // cache valid before this
	lastFetch time.Time
}

func inlineKeys(set map[string]any) ([]jose.JSONWebKey, error) {
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return parseKeySet(b)
}

// parseKeySet keeps the usable keys of a JWK Set (others are skipped: a
// set may hold keys for other purposes).
func parseKeySet(b []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("JWKS is not a JSON object with keys: %v", err)
	}
	var out []jose.JSONWebKey
	for _, raw := range set.Keys {
		k, err := jwkOf(raw)
		if err != nil || config.CheckKey(&k) != "" {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

// errKey is a key-selection failure; its message is safe for the client
// developer.
type errKey struct{ reason, msg string }

func (e *errKey) Error() string { return e.msg }

// key returns the one key with kid whose type fits alg.
func (ks *keySource) key(ctx context.Context, s *Service, kid, alg string) (any, error) {
	keys := ks.inline
	if ks.url != "" {
		var err error
		if keys, err = ks.fetched(ctx, s, kid); err != nil {
			return nil, err
		}
	}
	var found []any
	kidSeen := false
	for _, k := range keys {
		if k.KeyID != kid {
			continue
		}
		kidSeen = true
		if fits(k.Key, alg) {
			found = append(found, k.Key)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, &errKey{"ambiguous_kid", "more than one registered key has this kid and fits alg " + alg}
	case kidSeen:
		return nil, &errKey{"key_type_mismatch", "the key with this kid does not fit alg " + alg + " (RS384 needs an RSA key, ES384 an EC P-384 key)"}
	}
	return nil, &errKey{"unknown_kid", "no registered key has this kid"}
}

func fits(key any, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS384)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES384) && k.Curve == elliptic.P384()
	}
	return false
}

// fetched returns the cached keys, fetching when the cache has expired or,
// at most once a minute, when kid is not among them.
func (ks *keySource) fetched(ctx context.Context, s *Service, kid string) ([]jose.JSONWebKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := s.now()
	valid := now.Before(ks.expires)
	if valid && (hasKid(ks.cached, kid) || now.Sub(ks.lastFetch) < unknownKidRetry) {
		return ks.cached, nil
	}
	ks.lastFetch = now
	keys, ttl, err := fetchJWKS(ctx, s.http, ks.url, ks.insecure)
	if err != nil {
		s.log.Warn("fetching a client's JWKS failed", "url", ks.url, "err", err)
		if valid {
			return ks.cached, nil
		}
		return nil, &errKey{"jwks_unavailable", "the registered jwks_url could not be fetched"}
	}
	ks.cached, ks.expires = keys, now.Add(ttl)
	return keys, nil
}

func hasKid(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

// fetchJWKS GETs a JWK Set and how long it may be cached.
func fetchJWKS(ctx context.Context, hc *http.Client, raw string, insecure bool) ([]jose.JSONWebKey, time.Duration, error) {
	u, err := url.Parse(raw)
	if err != nil || !(u.Scheme == "https" || (u.Scheme == "http" && insecure)) {
		return nil, 0, errors.New("jwks_url must be https (or http with insecure_jwks_url)")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("HTTP %s (redirects are not followed)", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(b) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	keys, err := parseKeySet(b)
	if err != nil {
		return nil, 0, err
	}
	return keys, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// cacheTTL reads how long a response may be reused from Cache-Control.
func cacheTTL(cc string) time.Duration {
	if cc == "" {
		return defaultJWKSCache
	}
	ttl := defaultJWKSCache
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.Atoi(strings.Trim(d[len("max-age="):], `"`))
			if err != nil || n < 0 {
				return 0
			}
			ttl = min(time.Duration(n)*time.Second, maxJWKSCache)
		}
	}
	return ttl
}
