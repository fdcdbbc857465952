package auth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/iisbridge/iisbridge/auth/scope"
	"github.com/iisbridge/iisbridge/server"
)

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgs are the signature algorithms accepted on client assertions.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS384, jose.ES384}

// tokenError is an RFC 6749 §5.2 error. reason is the audit code;
// description helps the client developer and never echoes the assertion.
type tokenError struct {
	status            int
	code, reason, msg string
}

func invalidRequest(reason, msg string) *tokenError {
	return &tokenError{http.StatusBadRequest, "invalid_request", reason, msg}
}

func invalidClient(reason, msg string) *tokenError {
	return &tokenError{http.StatusUnauthorized, "invalid_client", reason, msg}
}

// assertionClaims are the claims of a client assertion.
type assertionClaims struct {
	jwt.Claims
}

// accessClaims are the claims of an access token issued here.
type accessClaims struct {
	jwt.Claims
	Scope string `json:"scope"`
}

// TokenHandler serves POST [base]/auth/token: client_credentials with a
// private_key_jwt assertion.
func (s *Service) TokenHandler() http.Handler { return http.HandlerFunc(s.serveToken) }

func (s *Service) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	clientID, resp, terr := s.token(r)
	ev := server.AuditEvent{Time: s.now().UTC(), Event: "token", ClientID: clientID, Route: r.URL.Path, Outcome: "ok"}
	w.Header().Set("Content-Type", "application/json")
	if terr != nil {
		ev.Status, ev.Outcome, ev.Reason = terr.status, "refused", terr.reason
		s.audit.write(ev)
		w.WriteHeader(terr.status)
		json.NewEncoder(w).Encode(map[string]string{"error": terr.code, "error_description": terr.msg})
		return
	}
	ev.Status = http.StatusOK
	s.audit.write(ev)
	json.NewEncoder(w).Encode(resp)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// token checks a token request; clientID is set once the client is known.
func (s *Service) token(r *http.Request) (clientID string, resp *tokenResponse, terr *tokenError) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return "", nil, invalidRequest("bad_content_type", "the token request must be a form (Content-Type: application/x-www-form-urlencoded)")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		return "", nil, invalidRequest("bad_body", "the token request body is unreadable or larger than 64 KiB")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", nil, invalidRequest("bad_body", "the token request body is not a valid form")
	}
	for k, v := range form {
		if len(v) > 1 {
			return "", nil, invalidRequest("repeated_parameter", "parameter "+k+" is given more than once")
		}
	}
	switch gt := form.Get("grant_type"); {
	case gt == "":
		return "", nil, invalidRequest("missing_grant_type", "grant_type is required (client_credentials)")
	case gt != "client_credentials":
		return "", nil, &tokenError{http.StatusBadRequest, "unsupported_grant_type", "unsupported_grant_type", "only grant_type=client_credentials is supported"}
	}
	if form.Get("client_assertion_type") != jwtBearer {
		return "", nil, invalidRequest("bad_assertion_type", "client_assertion_type must be "+jwtBearer)
	}
	assertion := form.Get("client_assertion")
	if assertion == "" {
		return "", nil, invalidRequest("missing_assertion", "client_assertion is required")
	}
	if strings.TrimSpace(form.Get("scope")) == "" {
		return "", nil, invalidRequest("missing_scope", "scope is required, e.g. system/*.rs")
	}
	c, terr := s.checkAssertion(r, assertion)
	if terr != nil {
		if c != nil {
			clientID = c.id
		}
		return clientID, nil, terr
	}
	if id := form.Get("client_id"); id != "" && id != c.id {
		return c.id, nil, invalidClient("client_id_mismatch", "client_id (optional) must equal the assertion's iss")
	}
	granted, err := scope.Grant(form.Get("scope"), c.scopes)
	if err != nil {
		return c.id, nil, &tokenError{http.StatusBadRequest, "invalid_scope", "granular_scope", err.Error()}
	}
	if len(granted) == 0 {
		return c.id, nil, &tokenError{http.StatusBadRequest, "invalid_scope", "no_scope_granted", "none of the requested scopes is registered for this client"}
	}
	tok, err := s.issue(c.id, scope.String(granted))
	if err != nil {
		s.log.Error("signing an access token failed", "err", err)
		return c.id, nil, &tokenError{http.StatusInternalServerError, "server_error", "signing_failed", "the server could not sign a token"}
	}
	return c.id, &tokenResponse{AccessToken: tok, TokenType: "bearer", ExpiresIn: int(TokenTTL / time.Second), Scope: scope.String(granted)}, nil
}

// checkAssertion verifies a client assertion and consumes its jti. The
// returned client is set once the claimed client is known.
func (s *Service) checkAssertion(r *http.Request, assertion string) (*client, *tokenError) {
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, invalidClient("bad_alg", "client_assertion alg must be RS384 or ES384")
		}
		return nil, invalidClient("malformed_assertion", "client_assertion is not a compact JWS")
	}
	h := tok.Headers[0]
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalidClient("malformed_assertion", "client_assertion claims are not a JSON object")
	}
	c := s.lookup(unverified.Issuer)
	if c == nil {
		return nil, invalidClient("unknown_client", "iss does not name a registered client")
	}
	if unverified.Subject != unverified.Issuer {
		return c, invalidClient("sub_mismatch", "sub must equal iss (the client_id)")
	}
	if h.KeyID == "" {
		return c, invalidClient("missing_kid", "the assertion header needs a kid naming the signing key")
	}
	if typ, ok := h.ExtraHeaders[jose.HeaderType]; ok && !strings.EqualFold(asString(typ), "JWT") {
		return c, invalidClient("bad_typ", "the assertion header typ must be JWT")
	}
	if jku, ok := h.ExtraHeaders["jku"]; ok {
		if c.keys.url == "" || asString(jku) != c.keys.url {
			return c, invalidClient("jku_mismatch", "jku must equal the jwks_url registered for this client")
		}
	}
	key, err := c.keys.key(r.Context(), s, h.KeyID, h.Algorithm)
	if err != nil {
		var ek *errKey
		if errors.As(err, &ek) {
			return c, invalidClient(ek.reason, ek.msg)
		}
		return c, invalidClient("key_error", "no usable key")
	}
	var claims assertionClaims
	if err := tok.Claims(key, &claims); err != nil {
		return c, invalidClient("bad_signature", "the assertion signature does not verify with the registered key")
	}
	now := s.now()
	switch {
	case !audienceIs(claims.Audience, s.opts.TokenURL):
		return c, invalidClient("bad_aud", "aud must be the token endpoint URL "+s.opts.TokenURL)
	case claims.Expiry == nil:
		return c, invalidClient("missing_exp", "exp is required")
	case !now.Before(claims.Expiry.Time().Add(Skew)):
		return c, invalidClient("expired", "the assertion has expired")
	case claims.Expiry.Time().After(now.Add(MaxAssertionTTL + Skew)):
		return c, invalidClient("exp_too_far", "exp may be at most 5 minutes ahead")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(Skew)):
		return c, invalidClient("not_yet_valid", "nbf is in the future")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(Skew)):
		return c, invalidClient("issued_in_future", "iat is in the future")
	case claims.ID == "" || len(claims.ID) > 256:
		return c, invalidClient("missing_jti", "jti is required (at most 256 characters)")
	}
	replayed, err := s.replay.use(c.id, claims.ID, claims.Expiry.Time().Add(Skew), now)
	if err != nil {
		s.log.Error("replay cache", "err", err)
		return c, &tokenError{http.StatusInternalServerError, "server_error", "replay_cache_error", "the server could not check the jti"}
	}
	if replayed {
		return c, invalidClient("replayed_jti", "this jti was used before: every assertion needs a fresh jti")
	}
	return c, nil
}

// audienceIs says whether aud is exactly want (a string or a one-element
// array).
func audienceIs(aud jwt.Audience, want string) bool {
	return len(aud) == 1 && aud[0] == want
}

// issue signs an access token for a client.
func (s *Service) issue(clientID, granted string) (string, error) {
	s.keys.reloadIfChanged(s.log) // a rotation signs from the next token on
	k := s.keys.current()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := s.now()
	var id [16]byte
	rand.Read(id[:])
	c := accessClaims{Claims: jwt.Claims{
		Issuer: s.opts.TokenURL, Subject: clientID, Audience: jwt.Audience{s.opts.BaseURL},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(TokenTTL)), ID: hex.EncodeToString(id[:]),
	}, Scope: granted}
	return jwt.Signed(sig).Claims(c).Serialize()
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}
