package bulkclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// SMART Backend Services (SMART App Launch 2.2.0,
// client-confidential-asymmetric): the client proves its identity with a
// JWT signed by its private key (private_key_jwt) and receives a short
// bearer token without refresh token; a new assertion gets a new token.

const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime stays under the 5 minutes servers accept, leaving
	// room for a server clock that runs behind ours.
	assertionLifetime = 4 * time.Minute
)

// smartConfig is what the client reads of [base]/.well-known/smart-configuration.
type smartConfig struct {
	TokenEndpoint string   `json:"token_endpoint"`
	Capabilities  []string `json:"capabilities"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	SigningAlgs   []string `json:"token_endpoint_auth_signing_alg_values_supported"`
}

// discover reads the server's SMART configuration.
func discover(ctx context.Context, hc *http.Client, base string) (*smartConfig, error) {
	u := base + "/.well-known/smart-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("SMART discovery: %w", redactErr(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("SMART discovery: GET %s: %s", redactURL(u), describeFailure(resp, body))
	}
	var c smartConfig
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("SMART discovery: %s is not JSON: %v", redactURL(u), err)
	}
	if c.TokenEndpoint == "" {
		return nil, fmt.Errorf("SMART discovery: %s names no token_endpoint", redactURL(u))
	}
	tu, err := url.Parse(c.TokenEndpoint)
	if err != nil || !tu.IsAbs() {
		return nil, fmt.Errorf("SMART discovery: token_endpoint %q is not an absolute URL", c.TokenEndpoint)
	}
	return &c, nil
}

// defaultScope asks for what the export needs, in the scope syntax the
// server says it understands (v2 ".rs" when it lists permission-v2, else
// v1 ".read"): read on each type of _type, plus Group for a Group-level
// export (Bulk Data STU3), or read on everything without _type. Asking
// for no more than needed also fits registrations narrower than "*".
func defaultScope(c *smartConfig, types []string, level Level) string {
	suffix := ".read"
	if c != nil && slices.Contains(c.Capabilities, "permission-v2") {
		suffix = ".rs"
	}
	if len(types) == 0 {
		return "system/*" + suffix
	}
	var scopes []string
	for _, t := range types {
		scopes = append(scopes, "system/"+t+suffix)
	}
	if level == Group && !slices.Contains(types, "Group") {
		scopes = append(scopes, "system/Group"+suffix)
	}
	return strings.Join(scopes, " ")
}

// tokenSource hands out a bearer token and fetches a new one shortly
// before the current one expires, or when a server refused it.
type tokenSource struct {
	hc       *http.Client
	tokenURL string
	clientID string
	key      *Key
	scope    string
	now      func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	// Issued counts tokens obtained, for the summary.
	issued int
}

// assertion builds and signs one client assertion.
func (ts *tokenSource) assertion() (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(ts.key.Alg), Key: ts.key.Private},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", ts.key.KID))
	if err != nil {
		return "", fmt.Errorf("client assertion signer: %w", err)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := ts.now()
	claims := jwt.Claims{
		Issuer:   ts.clientID,
		Subject:  ts.clientID,
		Audience: jwt.Audience{ts.tokenURL},
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID:       hex.EncodeToString(jti[:]),
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("signing the client assertion: %w", err)
	}
	return s, nil
}

// Token returns a token valid for a while yet. stale, when not empty, is
// a token a server just refused: a new one is fetched unless another
// goroutine already replaced it.
func (ts *tokenSource) Token(ctx context.Context, stale string) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.token != stale && ts.now().Before(ts.expires) {
		return ts.token, nil
	}
	tok, life, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	// Renew a little early so that a request never leaves with a token
	// that expires in flight: a fifth of its life, at most 30 s.
	margin := min(life/5, 30*time.Second)
	ts.token, ts.expires = tok, ts.now().Add(life-margin)
	ts.issued++
	return tok, nil
}

func (ts *tokenSource) Issued() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued
}

// tokenResponse is RFC 6749 §5.1 and §5.2 in one.
type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
	Scope       string      `json:"scope"`
	Error       string      `json:"error"`
	Description string      `json:"error_description"`
}

func (ts *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	a, err := ts.assertion()
	if err != nil {
		return "", 0, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {ts.scope},
		"client_assertion_type": {assertionType},
		"client_assertion":      {a},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := ts.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token request: %w", redactErr(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK {
		if jsonErr == nil && tr.Error != "" {
			msg := fmt.Sprintf("token request refused (%d %s)", resp.StatusCode, tr.Error)
			if tr.Description != "" {
				msg += ": " + tr.Description
			}
			return "", 0, errors.New(msg)
		}
		return "", 0, fmt.Errorf("token request: POST %s: %s", redactURL(ts.tokenURL), describeFailure(resp, body))
	}
	if jsonErr != nil || tr.AccessToken == "" {
		return "", 0, fmt.Errorf("token response from %s holds no access_token", redactURL(ts.tokenURL))
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, fmt.Errorf("token response: token_type %q, want bearer", tr.TokenType)
	}
	life := 5 * time.Minute // SMART's ceiling, when the server does not say
	if tr.ExpiresIn != "" {
		n, err := tr.ExpiresIn.Float64()
		if err != nil || n <= 0 {
			return "", 0, fmt.Errorf("token response: expires_in %q is not a positive number", tr.ExpiresIn)
		}
		life = time.Duration(n * float64(time.Second))
	}
	return tr.AccessToken, life, nil
}
