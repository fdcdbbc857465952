package auth

import (
	"net/http"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/iisbridge/iisbridge/auth/scope"
	"github.com/iisbridge/iisbridge/server"
)

// metricsPath is the operators' scrape route (outside the FHIR base).
const metricsPath = "/metrics"

func unauthorized(msg string) error {
	return &server.AuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Msg: msg}
}

// Authorize checks the bearer access token of a request
// (server.Authorizer) and returns what its client may do now: the
// token's scopes, the registration's Groups, levels and file URL mode.
func (s *Service) Authorize(r *http.Request) (*server.Principal, error) {
	if r.URL.Path == metricsPath && s.reg.Load().metricsOpen {
		return &server.Principal{ClientID: "metrics-scraper", Types: []string{}, Levels: []string{}, Groups: []string{}}, nil
	}
	h := r.Header.Get("Authorization")
	scheme, raw, ok := strings.Cut(h, " ")
	if h == "" {
		return nil, unauthorized("this endpoint needs a bearer access token from the token endpoint")
	}
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, unauthorized("the Authorization header must be \"Bearer\" followed by an access token")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, unauthorized("the access token is malformed")
	}
	key := s.keys.verifier(tok.Headers[0].KeyID, s.now(), s.log)
	if key == nil {
		return nil, unauthorized("the access token was not issued by this server (or its key was retired)")
	}
	var c accessClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, unauthorized("the access token's signature does not verify")
	}
	now := s.now()
	switch {
	case !audienceIs(c.Audience, s.opts.BaseURL) || c.Issuer != s.opts.TokenURL:
		return nil, unauthorized("the access token is for another server")
	case c.Expiry == nil || !now.Before(c.Expiry.Time()):
		return nil, unauthorized("the access token has expired: request a new one")
	}
	cl := s.lookup(c.Subject)
	if cl == nil {
		return nil, unauthorized("the access token's client is no longer registered")
	}
	var granted []scope.Scope
	for _, raw := range strings.Fields(c.Scope) {
		// re-checked against the registration: a reload narrows at once
		if g, _ := scope.Grant(raw, cl.scopes); len(g) == 1 {
			granted = append(granted, g[0])
		}
	}
	return cl.principal(granted), nil
}
