package server

import (
	"net/http"
	"slices"
)

// Principal is the client a request acts for, as established by an
// Authorizer. Jobs record their owner's ClientID; another client's job
// answers 404.
type Principal struct {
	ClientID string
	Scopes   []string
	// Groups lists the Group ids or organization keys the client may see;
	// nil means every Group. A client bound to Groups may not run system-
	// or Patient-level exports.
	Groups []string
	// Types lists the resource types the client may read; nil means all.
	Types []string
	// Manifest overrides the server's manifest style ("stu2", "stu4").
	Manifest string
}

// MayRead says whether the client may read resources of type t.
func (p *Principal) MayRead(t string) bool {
	return p.Types == nil || slices.Contains(p.Types, t) || slices.Contains(p.Types, "*")
}

// MaySeeGroup says whether the client may see the Group with this id and
// managing organization key.
func (p *Principal) MaySeeGroup(id, orgKey string) bool {
	if p.Groups == nil {
		return true
	}
	return slices.Contains(p.Groups, id) || (orgKey != "" && slices.Contains(p.Groups, orgKey))
}

// Authorizer establishes who a request comes from. Every route except
// metadata, SMART discovery and /healthz goes through it.
type Authorizer interface {
	Authorize(r *http.Request) (*Principal, error)
}

// AuthError is an Authorizer's refusal with its HTTP status: 401 for a
// missing or invalid token (the response carries WWW-Authenticate), 403
// for a valid token whose scopes fall short. Other errors count as 401.
type AuthError struct {
	Status int
	Msg    string // safe for clients: never the token itself
}

func (e *AuthError) Error() string { return e.Msg }

// NoAuth lets everything through as one anonymous client. The server uses
// it only when no clients are configured (serve allows that on loopback).
type NoAuth struct{}

// AnonymousClient is the owner of jobs started under NoAuth.
const AnonymousClient = "anonymous"

func (NoAuth) Authorize(*http.Request) (*Principal, error) {
	return &Principal{ClientID: AnonymousClient}, nil
}
