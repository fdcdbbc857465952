package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/iisbridge/iisbridge/auth"
	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/server"
)

func init() {
	register(&command{
		Name:  "auth rotate-key",
		Flags: func(fs *flag.FlagSet) { authRotateKeyFlags(fs) },
		Usage: "[--config FILE] [--data DIR] [--url-key]",
		Short: "create a new access-token (or, with --url-key, file-URL) signing key; what the previous key signed stays valid until it expires",
		Run:   runAuthRotateKey,
	})
}

func runAuthRotateKey(args []string) int {
	fs := flag.NewFlagSet("auth rotate-key", flag.ContinueOnError)
	cfgPath, data, urlKey := authRotateKeyFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "iisbridge auth rotate-key: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	dir := config.DefaultDataDir
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge auth rotate-key: invalid configuration:\n%v\n", err)
			return 1
		}
		dir = cfg.DataDir
	}
	if *data != "" {
		dir = *data
	}
	if *urlKey {
		if err := auth.RotateURLKey(filepath.Join(dir, "auth")); err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge auth rotate-key: %v\n", err)
			return 1
		}
		fmt.Printf("new file-URL signing key in %s; the server uses it from its next start, the previous key still verifying\n", filepath.Join(dir, "auth"))
		return 0
	}
	kid, err := auth.RotateKey(filepath.Join(dir, "auth"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "iisbridge auth rotate-key: %v\n", err)
		return 1
	}
	fmt.Printf("new token signing key %s in %s; a running server uses it within seconds\n", kid, filepath.Join(dir, "auth"))
	return 0
}

// benchAuth runs `bench export --auth`: a generated ES384 client
// registered inline, the real token endpoint and resource-server check,
// and a client transport that sends the token on every request.
type benchAuth struct {
	svc *auth.Service
	key *ecdsa.PrivateKey
}

const benchClientID = "bench"

func newBenchAuth(dataDir, base string) (*benchAuth, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, KeyID: "bench"})
	if err != nil {
		return nil, err
	}
	var jwk map[string]any
	json.Unmarshal(b, &jwk)
	cfg := config.Default()
	cfg.Auth.Clients = []config.Client{{ClientID: benchClientID, JWKS: map[string]any{"keys": []any{jwk}},
		Scopes: []string{"system/*.rs"}, SystemExport: true, PatientExport: true}}
	svc, err := auth.Open(auth.Options{Config: cfg, DataDir: filepath.Join(dataDir, "auth"), BaseURL: base,
		TokenURL: server.TokenURL(base), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	return &benchAuth{svc: svc, key: key}, nil
}

func (a *benchAuth) options(o *server.Options) {
	o.Authorizer, o.TokenURL, o.TokenEndpoint = a.svc, server.TokenURL(o.BaseURL), a.svc.TokenHandler()
	o.URLSigner, o.URLVerifier, o.Auditor = a.svc, a.svc, a.svc
}

// login gets a token from the token endpoint and makes c send it.
func (a *benchAuth) login(c *http.Client, tokenURL string) error {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: a.key, KeyID: "bench"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return err
	}
	var jti [16]byte
	rand.Read(jti[:])
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: benchClientID, Subject: benchClientID,
		Audience: jwt.Audience{tokenURL}, Expiry: jwt.NewNumericDate(time.Now().Add(4 * time.Minute)),
		ID: hex.EncodeToString(jti[:])}).Serialize()
	if err != nil {
		return err
	}
	resp, err := c.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		return fmt.Errorf("token endpoint: %s %s", resp.Status, tr.Error)
	}
	c.Transport = bearer{token: tr.AccessToken, next: c.Transport}
	return nil
}

// bearer adds an access token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	next := b.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// authRotateKeyFlags defines the flags of `iisbridge auth rotate-key` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func authRotateKeyFlags(fs *flag.FlagSet) (cfgPath, data *string, urlKey *bool) {
	cfgPath = fs.String("config", "", "the server's configuration file (its data_dir holds the keys)")
	data = fs.String("data", "", "data directory (overrides the config; default "+config.DefaultDataDir+")")
	urlKey = fs.Bool("url-key", false, "rotate the key of signed file URLs instead (used from the server's next start)")
	return
}
