// Package scope parses SMART system scopes (App Launch 2.2.0) as far as a
// Bulk Data server with client-managed Groups needs them:
// system/[Type|*].[read|rs] for reading, and for Group alone also the
// write permissions (v2 c, u, d in any ordered subset of cruds, v1 write),
// in v1 and v2 spellings; and it says which scopes a registration covers.
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

// Scope is one parsed system scope on Type ("*" = all types). Perms is
// the permission letters it grants, an ordered subset of "cruds" (v1 read
// is "rs", write "cud", * "cruds").
type Scope struct {
	Raw   string
	Type  string
	Perms string
}

// Reads says whether the scope grants reading (read and search).
func (s Scope) Reads() bool { return strings.Contains(s.Perms, "r") && strings.Contains(s.Perms, "s") }

// Allows says whether the scope grants permission letter p (c, r, u, d, s).
func (s Scope) Allows(p byte) bool { return strings.IndexByte(s.Perms, p) >= 0 }

// ErrGranular marks a v2 scope with a query part.
var ErrGranular = errors.New("granular scopes (with ?query) are not supported by this server")

var typeName = regexp.MustCompile(`^(\*|[A-Z][A-Za-z]{1,63})$`)

// Parse reads one scope. Accepted: system/ scopes that allow reading (v1
// .read or .*, v2 permissions holding both r and s), and on Group also
// scopes that only write (v1 .write, v2 c, u, d: system/Group.cud).
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
	perms, ok := permissions(perm)
	sc := Scope{Raw: s, Type: t, Perms: perms}
	switch {
	case !ok:
		return Scope{}, fmt.Errorf("scope %q: want .read, .write, .* or an ordered subset of cruds", s)
	case sc.Reads():
	case t == "Group" && !strings.ContainsAny(perms, "rs"):
		// Group is the one type clients write (client-managed Groups).
	default:
		return Scope{}, fmt.Errorf("scope %q: this server grants read access (.read or .rs), and write access on Group only (system/Group.cud)", s)
	}
	return sc, nil
}

// permissions normalizes v1 read, write and * and checks a v2 permission
// string (a non-empty ordered subset of cruds).
func permissions(p string) (string, bool) {
	switch p {
	case "read":
		return "rs", true
	case "write":
		return "cud", true
	case "*":
		return "cruds", true
	}
	if p == "" {
		return "", false
	}
	last := -1
	for _, c := range p {
		i := strings.IndexRune("cruds", c)
		if i <= last {
			return "", false
		}
		last = i
	}
	return p, true
}

// Covers says whether a registered scope allows a requested one: same
// type, or the registered type is "*", and every permission requested is
// registered.
func (reg Scope) Covers(req Scope) bool {
	if reg.Type != "*" && reg.Type != req.Type {
		return false
	}
	for i := 0; i < len(req.Perms); i++ {
		if !reg.Allows(req.Perms[i]) {
			return false
		}
	}
	return true
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

// Types lists the resource types the scopes grant reading: ["*"] when
// any is a wildcard.
func Types(ss []Scope) []string {
	out := []string{}
	for _, s := range ss {
		if !s.Reads() {
			continue
		}
		if s.Type == "*" {
			return []string{"*"}
		}
		if !contains(out, s.Type) {
			out = append(out, s.Type)
		}
	}
	return out
}

// Writes lists the write permissions the scopes grant as "Type.p" (p one
// of c, u, d; Type "*" for a wildcard), e.g. ["Group.c", "Group.u"].
func Writes(ss []Scope) []string {
	out := []string{}
	for _, s := range ss {
		for _, p := range []byte("cud") {
			if w := s.Type + "." + string(p); s.Allows(p) && !contains(out, w) {
				out = append(out, w)
			}
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
