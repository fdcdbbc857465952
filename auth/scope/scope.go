// Package scope parses SMART system scopes (App Launch 2.2.0) as far as a
// read-only Bulk Data server needs them: system/[Type|*].[read|rs], v1 and
// v2 spellings, and says which scopes a registration covers.
//
// Granular v2 scopes (system/Immunization.rs?status=completed) are refused:
// Parse reports them as ErrGranular, so the token endpoint answers
// invalid_scope rather than granting more than the client asked for.
package scope

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Scope is one parsed system scope that grants reading Type ("*" = all).
type Scope struct {
	Raw  string
	Type string
}

// ErrGranular marks a v2 scope with a query part.
var ErrGranular = errors.New("granular scopes (with ?query) are not supported by this server")

var typeName = regexp.MustCompile(`^(\*|[A-Z][A-Za-z]{1,63})$`)

// Parse reads one scope. Only system/ scopes that allow reading are
// accepted: v1 .read (or .*), v2 permissions holding both r and s.
func Parse(s string) (Scope, error) {
	rest, ok := strings.CutPrefix(s, "system/")
	if !ok {
		return Scope{}, fmt.Errorf("scope %q: only system/ scopes are offered (SMART Backend Services)", s)
	}
	if strings.Contains(rest, "?") {
		return Scope{}, fmt.Errorf("scope %q: %w", s, ErrGranular)
	}
	t, perm, ok := strings.Cut(rest, ".")
	if !ok || !typeName.MatchString(t) {
		return Scope{}, fmt.Errorf("scope %q: want system/[Type|*].[read|rs]", s)
	}
	if !readPerm(perm) {
		return Scope{}, fmt.Errorf("scope %q: this server grants read access only (.read or .rs)", s)
	}
	return Scope{Raw: s, Type: t}, nil
}

// readPerm accepts v1 read and * and v2 permission strings (ordered
// subsets of cruds) that include both read and search.
func readPerm(p string) bool {
	if p == "read" || p == "*" {
		return true
	}
	if p == "" || !strings.Contains(p, "r") || !strings.Contains(p, "s") {
		return false
	}
	last := -1
	for _, c := range p {
		i := strings.IndexRune("cruds", c)
		if i <= last {
			return false
		}
		last = i
	}
	return true
}

// Covers says whether a registered scope allows a requested one: same
// type, or the registered type is "*" (every permission here is read).
func (reg Scope) Covers(req Scope) bool {
	return reg.Type == "*" || reg.Type == req.Type
}

// Grant returns the requested scopes (space separated, as sent) that the
// registered ones cover, in request order and without repeats. Requested
// scopes that do not parse are not granted; a granular one is an error.
func Grant(requested string, registered []Scope) ([]Scope, error) {
	var out []Scope
	seen := map[string]bool{}
	for _, s := range strings.Fields(requested) {
		req, err := Parse(s)
		if errors.Is(err, ErrGranular) {
			return nil, err
		}
		if err != nil || seen[s] {
			continue
		}
		for _, reg := range registered {
			if reg.Covers(req) {
				out = append(out, req)
				seen[s] = true
				break
			}
		}
	}
	return out, nil
}

// Types lists the resource types the scopes grant: ["*"] when any is a
// wildcard.
func Types(ss []Scope) []string {
	out := []string{}
	for _, s := range ss {
		if s.Type == "*" {
			return []string{"*"}
		}
		if !contains(out, s.Type) {
			out = append(out, s.Type)
		}
	}
	return out
}

// String joins scopes with spaces, as the token response's scope.
func String(ss []Scope) string {
	raw := make([]string, len(ss))
	for i, s := range ss {
		raw[i] = s.Raw
	}
	return strings.Join(raw, " ")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
