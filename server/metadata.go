package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/iisbridge/iisbridge/fhirout"
)

// Canonicals of the Bulk Data IG.
const (
	bulkCapability      = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
	opExport            = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
	opPatientExport     = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
	opGroupExport       = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
	securityServiceCS   = "http://terminology.hl7.org/CodeSystem/restful-security-service"
	oauthURIsExtension  = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
	softwareName        = "iisbridge"
	capabilityStatement = "2024-01-01"
)

func coding(system, code, display string) *fhirout.Object {
	c := fhirout.NewObject()
	c.Set("system", system)
	c.Set("code", code)
	if display != "" {
		c.Set("display", display)
	}
	return c
}

func operation(name, def string) *fhirout.Object {
	o := fhirout.NewObject()
	o.Set("name", name)
	o.Set("definition", def)
	return o
}

// capabilityStatement serves /metadata: what is exported, at which levels,
// with which _typeFilter parameters, and the SMART security service.
func (s *Server) capabilityStatement(w http.ResponseWriter, r *http.Request) {
	cs := fhirout.NewResource("CapabilityStatement")
	cs.Set("id", "iisbridge")
	cs.Set("url", s.baseURL+"/metadata")
	cs.Set("name", "IisbridgeBulkData")
	cs.Set("title", "iisbridge Bulk Data server")
	cs.Set("status", "active")
	cs.Set("date", capabilityStatement)
	cs.Set("publisher", softwareName)
	cs.Set("description", "FHIR Bulk Data Access ($export) of immunization registry data converted from HL7 v2.5.1.")
	cs.Set("kind", "instance")
	cs.Set("instantiates", []any{bulkCapability})
	sw := cs.Child("software")
	sw.Set("name", softwareName)
	if s.opts.Version != "" {
		sw.Set("version", s.opts.Version)
	}
	impl := cs.Child("implementation")
	desc := "iisbridge"
	if mi := s.mapping.Load(); mi != nil {
		// The file's base name only: no server paths reach clients.
		name := "built-in default"
		if mi.Path != "" {
			name = filepath.Base(mi.Path)
		}
		desc += "; mapping " + name + " sha256:" + mi.SHA256
	}
	impl.Set("description", desc)
	impl.Set("url", s.baseURL)
	cs.Set("fhirVersion", "4.0.1")
	cs.Set("format", []any{"json"})

	rest := fhirout.NewObject()
	rest.Set("mode", "server")
	sec := rest.Child("security")
	if s.opts.TokenURL != "" {
		ext := fhirout.NewObject()
		ext.Set("url", oauthURIsExtension)
		tok := fhirout.NewObject()
		tok.Set("url", "token")
		tok.Set("valueUri", s.opts.TokenURL)
		ext.Set("extension", []any{tok})
		sec.Set("extension", []any{ext})
		svc := fhirout.NewObject()
		svc.Set("coding", []any{coding(securityServiceCS, "SMART-on-FHIR", "SMART-on-FHIR")})
		svc.Set("text", "OAuth2 using SMART Backend Services (client_credentials with a signed JWT assertion)")
		sec.Set("service", []any{svc})
		sec.Set("description", "SMART Backend Services (client_credentials, private_key_jwt assertions signed RS384 or ES384): "+
			"token endpoint "+s.opts.TokenURL+"; scopes system/[Type|*].[read|rs] and system/Group.cud (granular scopes are refused); "+
			"every request but metadata and SMART discovery needs a bearer token; a client sees only its own jobs and its registered Groups.")
	} else {
		sec.Set("description", "Authorization is disabled on this instance (no clients configured; loopback only).")
	}

	var resources []any
	types := slices.Clone(s.servedTypes(levelSystem))
	sort.Strings(types)
	for _, t := range types {
		res := fhirout.NewObject()
		res.Set("type", t)
		if t == "Group" {
			s.groupCapability(res) // groupapi.go
		}
		if t == "Patient" {
			res.Set("operation", []any{operation("export", opPatientExport), operation("bulk-match", opBulkMatch)})
		}
		for _, p := range searchParamsOf(t) {
			sp := fhirout.NewObject()
			sp.Set("name", p.name)
			sp.Set("definition", p.def)
			sp.Set("type", searchKinds[p.kind].code)
			sp.Set("documentation", "Searches "+p.path+"; usable in _typeFilter of $export and in Group member-filters.")
			res.Append("searchParam", sp)
		}
		resources = append(resources, res)
	}
	if !slices.Contains(types, "Patient") { // Patient/$export is served regardless
		res := fhirout.NewObject()
		res.Set("type", "Patient")
		res.Set("operation", []any{operation("export", opPatientExport), operation("bulk-match", opBulkMatch)})
		resources = append(resources, res)
	}
	rest.Set("resource", resources)
	rest.Set("operation", []any{operation("export", opExport)})
	cs.Set("rest", []any{rest})
	writeResource(w, http.StatusOK, cs)
}

// smartConfiguration serves SMART discovery. With authorization off it
// answers 404 with an OperationOutcome rather than advertise a token
// endpoint that does not exist.
func (s *Server) smartConfiguration(w http.ResponseWriter, r *http.Request) {
	if s.opts.TokenURL == "" {
		s.outcome(w, r, http.StatusNotFound, "not-found",
			"SMART authorization is not enabled on this server (no clients configured); requests need no token")
		return
	}
	scopes := []string{"system/*.read", "system/*.rs", "system/Group.cud"}
	for _, t := range s.servedTypes(levelSystem) {
		scopes = append(scopes, "system/"+t+".read", "system/"+t+".rs")
	}
	doc := map[string]any{
		"token_endpoint":                                   s.opts.TokenURL,
		"grant_types_supported":                            []string{"client_credentials"},
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"scopes_supported":                                 scopes,
		"capabilities":                                     []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"},
		"code_challenge_methods_supported":                 []string{"S256"},
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(doc)
}

// TokenURL returns the token endpoint URL for a public FHIR base URL:
// [base]/auth/token.
func TokenURL(baseURL string) string {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Host == "" {
		return ""
	}
	return u.String() + "/auth/token"
}
