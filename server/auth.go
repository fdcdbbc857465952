package server

import (
	"net/http"
	"slices"
	"time"
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
	// Writes lists the write permissions granted as "Type.c", "Type.u",
	// "Type.d" ("*.c" for every type); nil means all. Only Group is
	// written (client-managed Groups).
	Writes []string
	// Levels lists the export levels the client may start (levelSystem,
	// levelPatient, levelGroup: "system", "patient", "group"); nil means all.
	Levels []string
	// Manifest overrides the server's manifest style ("stu2", "stu4").
	Manifest string
	// SignedURLs makes this client's manifests carry signed file URLs
	// (requiresAccessToken false) when the server has a FileURLSigner.
	SignedURLs bool
}

// MayRead says whether the client may read resources of type t.
func (p *Principal) MayRead(t string) bool {
	return p.Types == nil || slices.Contains(p.Types, t) || slices.Contains(p.Types, "*")
}

// MayWrite says whether the client may create (c), update (u) or delete
// (d) resources of type t.
func (p *Principal) MayWrite(t string, op byte) bool {
	o := "." + string(op)
	return p.Writes == nil || slices.Contains(p.Writes, t+o) || slices.Contains(p.Writes, "*"+o)
}

// MayExport says whether the client may start an export at a level.
func (p *Principal) MayExport(level string) bool {
	return p.Levels == nil || slices.Contains(p.Levels, level)
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
// metadata, SMART discovery, the token endpoint and /healthz goes through
// it.
type Authorizer interface {
	Authorize(r *http.Request) (*Principal, error)
}

// AuthError is an Authorizer's refusal with its HTTP status: 401 for a
// missing or invalid token (the response carries WWW-Authenticate), 403
// for a valid token whose scopes fall short. Other errors count as 401.
type AuthError struct {
	Status int
	// Code is the RFC 6750 error code for WWW-Authenticate
	// ("invalid_token", "insufficient_scope"); "" means invalid_token for
	// a 401 and none for a 403.
	Code string
	Msg  string // safe for clients: never the token itself
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

// FileRef names one export file and, when signing, the client it is for.
type FileRef struct {
	Job, Kind, Name string
	Client          string
}

// FileURLSigner turns the URL of an export file into one its client can
// download without a token (requiresAccessToken false), valid for a short
// time. The server signs when a manifest is served. A cloud store would
// return its own pre-signed URL here.
type FileURLSigner interface {
	SignFileURL(fileURL string, f FileRef) (string, error)
}

// FileURLVerifier checks a signed URL on the file route. signed is false
// when r carries no signature (then the bearer token rules apply);
// otherwise the Authorization header is ignored and err says why the
// signature does not hold for f (403). client is whom it was signed for.
type FileURLVerifier interface {
	VerifyFileURL(r *http.Request, f FileRef) (client string, signed bool, err error)
}

// AuditEvent is one line of the audit log: who did what, where, with what
// outcome. It never holds a token, a key, a query value or PHI.
type AuditEvent struct {
	Time     time.Time
	Event    string // token, export.kickoff, export.complete, export.status, export.delete, file.download, group.create, group.update, group.delete, group.member-add, group.member-remove, match.kickoff, access.refused
	ClientID string // "" when the caller could not be identified
	Route    string // route template, e.g. /fhir/bulkstatus/{job}
	Job      string
	Group    string // Group created, changed or deleted
	File     string // kind/name for downloads
	Status   int
	Outcome  string // ok | refused | failed | not-found
	Reason   string // a fixed code, e.g. invalid_token, replayed_jti
}

// Auditor receives audit events (the server sends those of its routes;
// the token endpoint its own).
type Auditor interface {
	Audit(AuditEvent)
}
