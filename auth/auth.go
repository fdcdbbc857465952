// Package auth is iisbridge's SMART Backend Services authorization server
// and resource-server check (SMART App Launch 2.2.0, client-confidential-
// asymmetric): the client registry from the config (hot-reloaded), the
// token endpoint, access-token verification for every protected route,
// signed file URLs and the audit log. Package server depends only on its
// small interfaces (Authorizer, FileURLSigner, FileURLVerifier, Auditor);
// Service implements them all.
//
// Choices where the specifications leave room:
//   - Clock skew: 60 s either way on assertion exp, nbf and iat (Skew).
//     An assertion's exp may be at most 5 min (+ skew) ahead.
//   - Replay cache: jti per client in SQLite in the data dir (replay.db),
//     kept until the assertion's exp + skew, so a restart forgets nothing
//     that could still be replayed.
//   - Access tokens: JWTs signed ES256 by the server's own key
//     (token-keys.json in the data dir, created on first start, 0600),
//     valid 300 s, audience the FHIR base URL. `iisbridge auth rotate-key`
//     puts a new key first and keeps the previous one for verification
//     only; a third rotation within 5 min drops tokens of the oldest key.
//     Tokens carry only the client and its granted scopes: Groups, levels
//     and file URL mode are read from the registration on every request,
//     so a reload that removes or narrows a client takes effect at once.
//   - Scopes: granted = requested scopes covered by a registered scope
//     (system/*.read covers system/Patient.rs; .read ≡ .rs). Granular v2
//     scopes (with ?query) are refused at the token endpoint
//     (invalid_scope) and in the config, never silently widened.
//   - groups: entries match Group ids or organization keys, not names
//     (names are not unique). A client with groups may not have
//     system_export or patient_export (the config refuses it).
//   - An optional client_id form parameter must equal the assertion's iss.
//   - Group reads (GET Group, Group/[id]) need read on Group
//     (system/Group.rs or a wildcard); Group/[id]/$export does not.
//     Client-managed Groups need system/Group.c to create, .u to update
//     or change members, .d to delete (system/Group.cud for all three).
//   - /metrics needs a valid token unless auth.metrics is "open".
//   - JWKS URLs: fetched with a 10 s timeout, at most 256 KiB, no
//     redirects, https only (insecure_jwks_url allows http); cached for
//     Cache-Control max-age (capped at 24 h), 5 min without one, not at all
//     with no-store/no-cache; an unknown kid refetches at most once a
//     minute per client.
//   - Signed file URLs: HMAC-SHA256 over job, file, client and expiry
//     with url-signing.key in the data dir, valid 5 min from when the
//     manifest is served (clients re-poll the status URL for fresh ones).
package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iisbridge/iisbridge/auth/scope"
	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/server"
)

// Limits and lifetimes (see the package comment).
const (
	Skew            = 60 * time.Second
	MaxAssertionTTL = 5 * time.Minute
	TokenTTL        = 300 * time.Second
	SignedURLTTL    = 5 * time.Minute
)

// Options configure a Service.
type Options struct {
	Config   *config.Config // validated; its auth section is used
	DataDir  string         // keys, replay cache and default audit log live here
	BaseURL  string         // FHIR base: the audience of access tokens
	TokenURL string         // token endpoint: the audience of assertions
	Logger   *slog.Logger
	Now      func() time.Time
	// HTTPClient fetches JWKS URLs; nil = 10 s timeout, no redirects.
	HTTPClient *http.Client
}

// Service is the authorization server and checker. Create with Open.
type Service struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	reg    atomic.Pointer[registry]
	keys   *tokenKeys
	replay *replayCache
	urls   *urlSigner
	audit  *auditLog
	http   *http.Client
}

// client is one registered client, ready for checks.
type client struct {
	id       string
	scopes   []scope.Scope
	groups   []string // nil = every Group
	levels   []string
	manifest string
	signed   bool
	keys     *keySource
}

type registry struct {
	clients     map[string]*client
	metricsOpen bool
}

// Open prepares the data dir (keys created on first start), opens the
// replay cache and the audit log and registers the config's clients.
func Open(o Options) (*Service, error) {
	if o.Config == nil || !o.Config.AuthEnabled() {
		return nil, fmt.Errorf("auth: no clients configured")
	}
	if o.BaseURL == "" || o.TokenURL == "" || o.DataDir == "" {
		return nil, fmt.Errorf("auth: BaseURL, TokenURL and DataDir are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: data dir: %w", err)
	}
	s := &Service{opts: o, log: o.Logger, now: o.Now, http: o.HTTPClient}
	var err error
	if s.keys, err = openTokenKeys(o.DataDir); err != nil {
		return nil, err
	}
	if s.urls, err = openURLSigner(o.DataDir, o.Now); err != nil {
		return nil, err
	}
	if s.replay, err = openReplayCache(o.DataDir); err != nil {
		return nil, err
	}
	path := o.Config.Auth.AuditLog
	if path == "" {
		path = filepath.Join(o.DataDir, "audit.log")
	}
	if s.audit, err = openAuditLog(path, defaultAuditMax, defaultAuditKeep); err != nil {
		s.replay.Close()
		return nil, err
	}
	if err := s.Apply(o.Config); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the replay cache and the audit log.
func (s *Service) Close() error {
	err := s.replay.Close()
	if e := s.audit.Close(); err == nil {
		err = e
	}
	return err
}

// Apply replaces the registered clients with the config's (validated by
// config.Load). Key caches of clients whose jwks_url did not change are
// kept.
func (s *Service) Apply(cfg *config.Config) error {
	if !cfg.AuthEnabled() {
		return fmt.Errorf("auth: a config without auth.clients cannot replace one with clients (restart to run without authorization)")
	}
	old := s.reg.Load()
	reg := &registry{clients: map[string]*client{}, metricsOpen: cfg.Auth.Metrics == "open"}
	for _, cc := range cfg.Auth.Clients {
		c := &client{id: cc.ClientID, manifest: cc.Manifest, levels: []string{"group"}}
		for _, raw := range cc.Scopes {
			sc, err := scope.Parse(raw)
			if err != nil {
				return fmt.Errorf("auth: client %s: %w", cc.ClientID, err)
			}
			c.scopes = append(c.scopes, sc)
		}
		if len(cc.Groups) > 0 {
			c.groups = append([]string(nil), cc.Groups...)
		}
		if cc.SystemExport {
			c.levels = append(c.levels, "system")
		}
		if cc.PatientExport {
			c.levels = append(c.levels, "patient")
		}
		mode := cc.FileURLs
		if mode == "" {
			mode = cfg.Auth.FileURLs
		}
		c.signed = mode == "signed"
		if cc.JWKSURL != "" {
			if old != nil {
				if oc := old.clients[cc.ClientID]; oc != nil && oc.keys.url == cc.JWKSURL && oc.keys.insecure == cc.InsecureJWKSURL {
					c.keys = oc.keys
				}
			}
			if c.keys == nil {
				c.keys = &keySource{url: cc.JWKSURL, insecure: cc.InsecureJWKSURL}
			}
		} else {
			ks, err := inlineKeys(cc.JWKS)
			if err != nil {
				return fmt.Errorf("auth: client %s: %w", cc.ClientID, err)
			}
			c.keys = &keySource{inline: ks}
		}
		reg.clients[c.id] = c
	}
	s.reg.Store(reg)
	return nil
}

// ReloadClients applies the clients of a reloaded configuration (the
// server's one reload loop re-reads and validates the file, then calls
// each part's hook: this is auth's) and picks up a rotated token key. A
// client that fails is refused with the rest of them: the current
// clients stay.
func (s *Service) ReloadClients(cfg *config.Config) error {
	if err := s.Apply(cfg); err != nil {
		return err
	}
	s.log.Info("auth clients reloaded", "clients", len(cfg.Auth.Clients))
	s.keys.reloadIfChanged(s.log)
	return nil
}

// lookup returns a registered client or nil.
func (s *Service) lookup(id string) *client {
	return s.reg.Load().clients[id]
}

// principal is what a request of client c with granted scopes may do.
func (c *client) principal(granted []scope.Scope) *server.Principal {
	raw := make([]string, len(granted))
	for i, g := range granted {
		raw[i] = g.Raw
	}
	return &server.Principal{
		ClientID: c.id, Scopes: raw, Groups: c.groups, Types: scope.Types(granted), Writes: scope.Writes(granted),
		Levels: c.levels, Manifest: c.manifest, SignedURLs: c.signed,
	}
}

// Audit writes one event (server.Auditor).
func (s *Service) Audit(e server.AuditEvent) { s.audit.write(e) }

var _ interface {
	server.Authorizer
	server.FileURLSigner
	server.FileURLVerifier
	server.Auditor
} = (*Service)(nil)

// WatchKeys picks up a token signing key rotated by `iisbridge auth
// rotate-key` (polled every `every`) until ctx ends. The clients follow
// the configuration file through ReloadClients.
func (s *Service) WatchKeys(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.keys.reloadIfChanged(s.log)
		}
	}
}

// jwkOf turns a decoded JSON object into a JWK.
func jwkOf(raw []byte) (jose.JSONWebKey, error) {
	var k jose.JSONWebKey
	err := k.UnmarshalJSON(raw)
	return k, err
}
