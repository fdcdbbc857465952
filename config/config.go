// Package config reads the iisbridge server configuration (YAML) and checks
// it up front, so a typo is reported with its file:line:column before the
// server binds a port rather than surfacing as odd behaviour later.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/auth/scope"
	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/membership"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
	"github.com/iisbridge/iisbridge/storage"
)

// Defaults used when a key is absent.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultDataDir       = "./data"
	DefaultConcurrency   = 2
	DefaultPerClient     = 2
	DefaultMaxResources  = 100000
	DefaultMaxBytes      = 256 << 20
	DefaultExpiry        = time.Hour
	DefaultRetryAfter    = 2 * time.Second
	DefaultGroupRefresh  = 5 * time.Minute
	DefaultManifestStyle = "stu2"
	DefaultOnUnreadable  = "fail"
)

// Config is the whole server configuration. Relative paths are resolved
// against the directory of the config file by Load.
type Config struct {
	File     string    `yaml:"-"` // path it was loaded from ("" for Default)
	Listen   string    `yaml:"listen"`
	BaseURL  string    `yaml:"base_url"`
	DataDir  string    `yaml:"data_dir"`
	Sources  []Source  `yaml:"sources"`
	Identity yaml.Node `yaml:"identity"` // opaque: interpreted by the pipeline's index
	Jobs     Jobs      `yaml:"jobs"`
	Manifest string    `yaml:"manifest"` // stu2 | stu4
	Auth     Auth      `yaml:"auth"`
	Groups   Groups    `yaml:"groups"`
	HTTP     HTTP      `yaml:"http"`
	Storage  Storage   `yaml:"storage"` // where export files live; default the data dir

	baseDefaulted bool
}

// Source is one input: an archive set (kind v2archive) or a relational
// database (kind sql).
type Source struct {
	Name     string   `yaml:"name"`
	Kind     string   `yaml:"kind"`     // v2archive | sql
	Paths    []string `yaml:"paths"`    // v2archive: files or globs
	Mapping  string   `yaml:"mapping"`  // optional; "" = the default mapping of the kind
	Encoding string   `yaml:"encoding"` // v2archive, optional, e.g. windows-1252
	// sql: the database driver (sqlite, mysql, pgx, sqlserver; empty =
	// from the DSN's scheme) and DSN, in which ${NAME} is the environment
	// variable NAME (keep secrets there: the DSN is never logged).
	Driver string `yaml:"driver"`
	DSN    string `yaml:"dsn"`
	// Tables describes the database's tables for the reader (sources/sql):
	// a file, or the description written inline; absent = the default
	// legacy schema. SQL is the description, parsed and checked.
	Tables yaml.Node      `yaml:"tables"`
	SQL    *sqlsrc.Config `yaml:"-"`
	// Memberships is the query listing organization → person links that
	// Groups are learned from (columns person, org_key, org_name, first,
	// last); "default" = the default schema's submitters; absent = no
	// Groups from this source.
	Memberships string `yaml:"memberships"`
}

// Jobs bounds the $export worker pool and its files.
type Jobs struct {
	Concurrency  int      `yaml:"concurrency"`
	PerClient    int      `yaml:"per_client"` // running+queued jobs per client
	MaxResources int64    `yaml:"max_resources_per_file"`
	MaxBytes     int64    `yaml:"max_bytes_per_file"`
	Expiry       Duration `yaml:"expiry"`
	RetryAfter   Duration `yaml:"retry_after"`
	GroupRefresh Duration `yaml:"group_refresh"`
	// GroupInactiveAfter makes members of learned Groups with no evidence
	// (message) for this long inactive: kept in the Group, left out of
	// exports. Zero (absent) = never.
	GroupInactiveAfter Duration `yaml:"group_inactive_after"`
	// OnUnreadable is what an export does when part of its source cannot
	// be read (permission denied, file gone, changed since indexing):
	// "fail" the job (default) or "warn" (complete it, the loss stated in
	// the manifest and the error file).
	OnUnreadable string `yaml:"on_unreadable"`
}

// HTTP bounds connections and requests (server.HTTPLimits, whose
// defaults apply to keys left out).
type HTTP struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`  // a whole request, body included
	WriteTimeout      Duration `yaml:"write_timeout"` // how long a response, or a download chunk, may stall
	IdleTimeout       Duration `yaml:"idle_timeout"`  // keep-alive connections
	MaxConnsPerClient *int     `yaml:"max_conns_per_client"`
}

// Auth lists the registered SMART Backend Services clients and the
// server-wide authorization settings (see package auth).
type Auth struct {
	Clients  []Client `yaml:"clients"`
	FileURLs string   `yaml:"file_urls"` // bearer (default) | signed: the default for clients
	AuditLog string   `yaml:"audit_log"` // JSON lines; default DATA_DIR/auth/audit.log
	Metrics  string   `yaml:"metrics"`   // token (default): /metrics needs a token; open: it does not
}

// Client is one registered backend client. JWKS is the inline key set
// (a JSON object written as YAML); JWKSURL is preferred by the IG.
type Client struct {
	ClientID string         `yaml:"client_id"`
	JWKSURL  string         `yaml:"jwks_url"`
	JWKS     map[string]any `yaml:"jwks"`
	Scopes   []string       `yaml:"scopes"`
	Groups   []string       `yaml:"groups"`   // Group ids or org keys it may see; empty = all
	Manifest string         `yaml:"manifest"` // per-client override of the manifest style
	// InsecureJWKSURL allows an http jwks_url (tests on loopback).
	InsecureJWKSURL bool `yaml:"insecure_jwks_url"`
	// SystemExport and PatientExport grant [base]/$export and
	// Patient/$export; without them only Group/[id]/$export is allowed.
	SystemExport  bool   `yaml:"system_export"`
	PatientExport bool   `yaml:"patient_export"`
	FileURLs      string `yaml:"file_urls"` // bearer | signed; "" = auth.file_urls
	// Storage overrides the server's storage for this client's exports.
	Storage *Storage `yaml:"storage"`
}

// Storage is the `storage:` block: storage.Config's keys plus how the
// manifest hands out files of an object store.
type Storage struct {
	storage.Config `yaml:",inline"`
	// FileURLs is presigned (default: the store's pre-signed URLs,
	// requiresAccessToken false) or redirect (the server's route checks
	// the token, then 307 to a pre-signed URL). Object stores only.
	FileURLs string   `yaml:"file_urls"`
	URLTTL   Duration `yaml:"url_ttl"` // lifetime of a pre-signed URL; default 15m, at most 7 days
}

// Object says whether the storage is an object store (not the data dir).
func (s *Storage) Object() bool { return s != nil && s.Kind != "" && s.Kind != "local" }

// Groups is the `groups:` section: configured Groups, and how Groups are
// learned from the logs (membership.Policy). A list is the configured
// Groups alone (the form before organizations existed).
//
//	groups:
//	  triggers: {vxu: any, query: true, unanswered_query: false}  # the defaults
//	  organizations:                # optional; with it, other senders make no Group
//	    - key: ORG-1                # Group identifier value
//	      name: Riverside Health
//	      senders: [IL1000, "RIVERSIDE|2.16.840.1.113883.3.9"]  # MSH-22 ids, MSH-4 values
//	      triggers: {vxu: administered}
//	  static: [...]                 # Group entries as below
type Groups struct {
	Static        []Group        `yaml:"static"`
	Organizations []Organization `yaml:"organizations"`
	Triggers      Triggers       `yaml:"triggers"`
}

// UnmarshalYAML takes a list as the configured Groups.
func (g *Groups) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		return n.Decode(&g.Static)
	}
	type plain Groups
	return n.Decode((*plain)(g))
}

// Organization is one entry of groups.organizations.
type Organization struct {
	Key      string    `yaml:"key"`
	Name     string    `yaml:"name"`
	Senders  []string  `yaml:"senders"`
	Triggers *Triggers `yaml:"triggers"`
}

// Triggers are membership triggers; absent keys take the defaults
// (membership.DefaultTriggers) or, for an organization, groups.triggers.
type Triggers struct {
	VXU             string `yaml:"vxu"` // any | administered | off
	Query           *bool  `yaml:"query"`
	UnansweredQuery *bool  `yaml:"unanswered_query"`
}

// Group is a static Group (tests, demos): members by Patient id.
type Group struct {
	ID      string   `yaml:"id"` // optional; derived from the name when empty
	Name    string   `yaml:"name"`
	OrgKey  string   `yaml:"org_key"`
	Members []string `yaml:"members"`
}

// Duration is a YAML duration ("90s", "1h") that remembers where it was
// written so validation can point at it.
type Duration struct {
	time.Duration
	raw       string
	line, col int
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	d.raw, d.line, d.col = n.Value, n.Line, n.Column
	if n.Kind != yaml.ScalarNode || d.raw == "" {
		d.raw = "(not a scalar)"
	}
	if v, err := time.ParseDuration(n.Value); err == nil {
		d.Duration = v
	}
	return nil
}

// Problem is one thing wrong with the configuration, at a position.
type Problem = diag.Problem

// Error lists every problem found, not just the first.
type Error = diag.List

// Default is the configuration used when no file is given.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// Load reads and validates a configuration file. Validation failures are
// an *Error listing each problem with file:line:column.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; path names the file in problems and
// anchors relative paths.
func Parse(path string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			c := Default()
			c.File = path
			return c, nil
		}
		return nil, &Error{Problems: []Problem{{File: path, Msg: "YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	v := &validator{diag.YAMLChecker{File: path}}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	v.CheckKeys(doc, schema, "")
	v.checkGroupKeys(doc)
	c := &Config{File: path}
	if err := doc.Decode(c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				v.AddDecodeError(m)
			}
		} else {
			v.Add(doc, "%v", err)
		}
	}
	if len(v.Problems) == 0 {
		c.applyDefaults()
		c.resolvePaths(filepath.Dir(path))
		v.validate(c, doc)
	}
	if len(v.Problems) > 0 {
		return nil, &Error{Problems: v.Problems}
	}
	return c, nil
}

// schema lists the keys allowed in each mapping; "*" marks a section whose
// content is free (identity, inline JWKS); "[]" is the element of a list.
var schema = map[string]any{
	"listen": nil, "base_url": nil, "data_dir": nil, "manifest": nil,
	// identity: index.IdentityConfig's keys (a test keeps them in step)
	"identity": map[string]any{
		"rules": nil, "iis_authorities": nil, "mrn_types": nil, "placeholder_names": nil, "id_salt": nil},
	"sources": map[string]any{"[]": map[string]any{
		"name": nil, "kind": nil, "paths": nil, "mapping": nil, "encoding": nil,
		"driver": nil, "dsn": nil, "tables": "*", "memberships": nil}},
	"jobs": map[string]any{
		"concurrency": nil, "per_client": nil, "max_resources_per_file": nil,
		"max_bytes_per_file": nil, "expiry": nil, "retry_after": nil, "group_refresh": nil, "group_inactive_after": nil, "on_unreadable": nil},
	"auth": map[string]any{"file_urls": nil, "audit_log": nil, "metrics": nil,
		"clients": map[string]any{"[]": map[string]any{
			"client_id": nil, "jwks_url": nil, "jwks": "*", "scopes": nil, "groups": nil, "manifest": nil,
			"insecure_jwks_url": nil, "system_export": nil, "patient_export": nil, "file_urls": nil,
			"storage": storageKeys}}},
	"storage": storageKeys,
	"http": map[string]any{
		"read_header_timeout": nil, "read_timeout": nil, "write_timeout": nil, "idle_timeout": nil,
		"max_conns_per_client": nil},
	"groups": "*", // groupsList or groupsMap, checked by checkGroupKeys
}

var (
	groupsList = map[string]any{"[]": map[string]any{
		"id": nil, "name": nil, "org_key": nil, "members": nil}}
	triggerKeys = map[string]any{"vxu": nil, "query": nil, "unanswered_query": nil}
	groupsMap   = map[string]any{
		"static":   groupsList,
		"triggers": triggerKeys,
		"organizations": map[string]any{"[]": map[string]any{
			"key": nil, "name": nil, "senders": nil, "triggers": triggerKeys}},
	}
)

// checkGroupKeys checks the groups section in either of its forms.
func (v *validator) checkGroupKeys(doc *yaml.Node) {
	if doc.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "groups" {
			continue
		}
		n := doc.Content[i+1]
		if n.Kind == yaml.SequenceNode {
			v.CheckKeys(n, groupsList, "groups")
		} else {
			v.CheckKeys(n, groupsMap, "groups")
		}
	}
}

// storageKeys are the keys of a storage block (storage.Config's yaml tags
// and Storage's own).
var storageKeys = map[string]any{
	"kind": nil, "prefix": nil, "part_size": nil, "retries": nil, "retry_base": nil, "dir": nil,
	"bucket": nil, "endpoint": nil, "region": nil, "path_style": nil, "access_key_id": nil,
	"secret_access_key": nil, "session_token": nil, "account": nil, "container": nil, "account_key": nil,
	"credentials_file": nil, "service_account": nil, "anonymous": nil, "file_urls": nil, "url_ttl": nil,
}

// validator collects the file's problems (diag.YAMLChecker).
type validator struct{ diag.YAMLChecker }

// node finds the value node at a key path (list indexes as ints), or the
// nearest ancestor found, so a problem still points somewhere useful.
func node(n *yaml.Node, path ...any) *yaml.Node {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return n
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					n, found = n.Content[i+1], true
					break
				}
			}
			if !found {
				return n
			}
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return n
			}
			n = n.Content[k]
		}
	}
	return n
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Listen + "/fhir"
		c.baseDefaulted = true
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Manifest == "" {
		c.Manifest = DefaultManifestStyle
	}
	j := &c.Jobs
	if j.Concurrency == 0 {
		j.Concurrency = DefaultConcurrency
	}
	if j.PerClient == 0 {
		j.PerClient = DefaultPerClient
	}
	if j.MaxResources == 0 {
		j.MaxResources = DefaultMaxResources
	}
	if j.MaxBytes == 0 {
		j.MaxBytes = DefaultMaxBytes
	}
	if j.Expiry.raw == "" {
		j.Expiry.Duration = DefaultExpiry
	}
	if j.RetryAfter.raw == "" {
		j.RetryAfter.Duration = DefaultRetryAfter
	}
	if j.GroupRefresh.raw == "" {
		j.GroupRefresh.Duration = DefaultGroupRefresh
	}
	if j.OnUnreadable == "" {
		j.OnUnreadable = DefaultOnUnreadable
	}
	for i := range c.Sources {
		if c.Sources[i].Kind == "" {
			c.Sources[i].Kind = "v2archive"
		}
	}
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.DataDir = abs(c.DataDir)
	c.Auth.AuditLog = abs(c.Auth.AuditLog)
	c.Storage.CredentialsFile = abs(c.Storage.CredentialsFile)
	for i := range c.Sources {
		s := &c.Sources[i]
		s.Mapping = abs(s.Mapping)
		if s.Tables.Kind == yaml.ScalarNode && s.Tables.Tag != "!!null" {
			s.Tables.Value = abs(s.Tables.Value)
		}
		for j := range s.Paths {
			s.Paths[j] = abs(s.Paths[j])
		}
	}
}

var groupID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func (v *validator) validate(c *Config, doc *yaml.Node) {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		v.Add(node(doc, "listen"), "listen: want HOST:PORT: %v", err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.Add(node(doc, "listen"), "listen: bad port %q", port)
	}
	if host, _, err := net.SplitHostPort(c.Listen); err == nil && c.baseDefaulted {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			v.Add(node(doc, "listen"), "base_url is required when listening on all interfaces (%s): clients need a reachable URL", c.Listen)
		}
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		v.Add(node(doc, "base_url"), "base_url: want an absolute http(s) URL without query, e.g. https://iis.example.org/fhir")
	}
	if c.Manifest != "stu2" && c.Manifest != "stu4" {
		v.Add(node(doc, "manifest"), "manifest: want stu2 or stu4, not %q", c.Manifest)
	}
	if parent := filepath.Dir(filepath.Clean(c.DataDir)); !isDir(parent) {
		v.Add(node(doc, "data_dir"), "data_dir: parent directory %s does not exist", parent)
	}
	names := map[string]bool{}
	for i, s := range c.Sources {
		n := node(doc, "sources", i)
		if s.Name == "" {
			v.Add(n, "sources[%d]: name is required", i)
		} else if names[s.Name] {
			v.Add(node(doc, "sources", i, "name"), "sources[%d]: duplicate name %q", i, s.Name)
		}
		names[s.Name] = true
		switch s.Kind {
		case "sql":
			v.sqlSource(c, &c.Sources[i], doc, i)
			continue
		case "v2archive":
		default:
			v.Add(node(doc, "sources", i, "kind"), "sources[%d]: kind %q is not supported (want v2archive or sql)", i, s.Kind)
		}
		for _, k := range []string{"driver", "dsn", "tables", "memberships"} {
			if n := node(doc, "sources", i, k); n != node(doc, "sources", i) {
				v.Add(n, "sources[%d].%s: only for kind sql", i, k)
			}
		}
		if len(s.Paths) == 0 {
			v.Add(n, "sources[%d]: paths: at least one file or glob is required", i)
		}
		for j, p := range s.Paths {
			m, err := filepath.Glob(p)
			switch {
			case err != nil:
				v.Add(node(doc, "sources", i, "paths", j), "sources[%d].paths[%d]: bad glob: %v", i, j, err)
			case len(m) == 0:
				v.Add(node(doc, "sources", i, "paths", j), "sources[%d].paths[%d]: no file matches %s", i, j, p)
			}
		}
		if s.Mapping != "" {
			if _, err := os.Stat(s.Mapping); err != nil {
				v.Add(node(doc, "sources", i, "mapping"), "sources[%d].mapping: %v", i, err)
			}
		}
	}
	j := c.Jobs
	pos := func(k string) *yaml.Node { return node(doc, "jobs", k) }
	if j.Concurrency < 1 || j.Concurrency > 256 {
		v.Add(pos("concurrency"), "jobs.concurrency: want 1..256, not %d", j.Concurrency)
	}
	if j.PerClient < 1 {
		v.Add(pos("per_client"), "jobs.per_client: want at least 1, not %d", j.PerClient)
	}
	if j.MaxResources < 1 {
		v.Add(pos("max_resources_per_file"), "jobs.max_resources_per_file: want at least 1")
	}
	if j.MaxBytes < 4096 {
		v.Add(pos("max_bytes_per_file"), "jobs.max_bytes_per_file: want at least 4096")
	}
	v.duration(j.Expiry, "jobs.expiry", time.Minute, 0)
	v.duration(j.RetryAfter, "jobs.retry_after", time.Second, 120*time.Second)
	if j.RetryAfter.Duration%time.Second != 0 {
		v.Add(&yaml.Node{Line: j.RetryAfter.line, Column: j.RetryAfter.col}, "jobs.retry_after: want whole seconds (Retry-After is an integer)")
	}
	v.duration(j.GroupRefresh, "jobs.group_refresh", time.Second, 0)
	v.duration(j.GroupInactiveAfter, "jobs.group_inactive_after", 24*time.Hour, 0)
	if j.OnUnreadable != "fail" && j.OnUnreadable != "warn" {
		v.Add(pos("on_unreadable"), "jobs.on_unreadable: want fail or warn, not %q", j.OnUnreadable)
	}
	hc := c.HTTP
	v.duration(hc.ReadHeaderTimeout, "http.read_header_timeout", time.Second, time.Hour)
	v.duration(hc.ReadTimeout, "http.read_timeout", time.Second, time.Hour)
	v.duration(hc.WriteTimeout, "http.write_timeout", time.Second, time.Hour)
	v.duration(hc.IdleTimeout, "http.idle_timeout", time.Second, time.Hour)
	if n := hc.MaxConnsPerClient; n != nil && (*n < 1 || *n > 100000) {
		v.Add(node(doc, "http", "max_conns_per_client"), "http.max_conns_per_client: want 1..100000, not %d", *n)
	}

	ids := map[string]bool{}
	for i, cl := range c.Auth.Clients {
		n := node(doc, "auth", "clients", i)
		if cl.ClientID == "" {
			v.Add(n, "auth.clients[%d]: client_id is required", i)
		} else if ids[cl.ClientID] {
			v.Add(node(doc, "auth", "clients", i, "client_id"), "auth.clients[%d]: duplicate client_id %q", i, cl.ClientID)
		}
		ids[cl.ClientID] = true
		if (cl.JWKSURL == "") == (cl.JWKS == nil) {
			v.Add(n, "auth.clients[%d]: give exactly one of jwks_url and jwks", i)
		}
		if cl.JWKSURL != "" {
			if u, err := url.Parse(cl.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				v.Add(node(doc, "auth", "clients", i, "jwks_url"), "auth.clients[%d].jwks_url: want an absolute https URL", i)
			} else if u.Scheme == "http" && !cl.InsecureJWKSURL {
				v.Add(node(doc, "auth", "clients", i, "jwks_url"), "auth.clients[%d].jwks_url: want https (insecure_jwks_url: true allows http, for tests)", i)
			}
		} else if cl.InsecureJWKSURL {
			v.Add(node(doc, "auth", "clients", i, "insecure_jwks_url"), "auth.clients[%d].insecure_jwks_url: only meaningful with jwks_url", i)
		}
		if cl.JWKS != nil {
			if _, ok := cl.JWKS["keys"].([]any); !ok {
				v.Add(node(doc, "auth", "clients", i, "jwks"), "auth.clients[%d].jwks: want a JWKS object with a keys list", i)
			} else {
				for k, msg := range CheckJWKS(cl.JWKS) {
					v.Add(node(doc, "auth", "clients", i, "jwks", "keys", k), "auth.clients[%d].jwks.keys[%d]: %s", i, k, msg)
				}
			}
		}
		if len(cl.Scopes) == 0 {
			v.Add(n, "auth.clients[%d]: scopes: at least one scope is required", i)
		}
		for j, sc := range cl.Scopes {
			if _, err := scope.Parse(sc); err != nil {
				v.Add(node(doc, "auth", "clients", i, "scopes", j), "auth.clients[%d].scopes[%d]: %v", i, j, err)
			}
		}
		if len(cl.Groups) > 0 && (cl.SystemExport || cl.PatientExport) {
			v.Add(n, "auth.clients[%d]: system_export and patient_export reach every patient; a client bound to groups may not have them", i)
		}
		if cl.Manifest != "" && cl.Manifest != "stu2" && cl.Manifest != "stu4" {
			v.Add(node(doc, "auth", "clients", i, "manifest"), "auth.clients[%d].manifest: want stu2 or stu4", i)
		}
		if cl.FileURLs != "" && cl.FileURLs != "bearer" && cl.FileURLs != "signed" {
			v.Add(node(doc, "auth", "clients", i, "file_urls"), "auth.clients[%d].file_urls: want bearer or signed", i)
		}
	}
	v.storage(&c.Storage, doc, "storage")
	for i, cl := range c.Auth.Clients {
		if cl.Storage != nil {
			v.storage(cl.Storage, doc, "auth", "clients", i, "storage")
		}
	}
	if f := c.Auth.FileURLs; f != "" && f != "bearer" && f != "signed" {
		v.Add(node(doc, "auth", "file_urls"), "auth.file_urls: want bearer or signed, not %q", f)
	}
	if m := c.Auth.Metrics; m != "" && m != "token" && m != "open" {
		v.Add(node(doc, "auth", "metrics"), "auth.metrics: want token or open, not %q", m)
	}
	if a := c.Auth.AuditLog; a != "" && !isDir(filepath.Dir(a)) {
		v.Add(node(doc, "auth", "audit_log"), "auth.audit_log: directory %s does not exist", filepath.Dir(a))
	}
	v.groups(c, doc)
}

// groups checks the groups section; gpath finds a node under it in
// either form (a list is groups.static).
func (v *validator) groups(c *Config, doc *yaml.Node) {
	gdoc := node(doc, "groups")
	list := gdoc.Kind == yaml.SequenceNode
	gpath := func(p ...any) *yaml.Node {
		if list {
			return node(doc, append([]any{"groups"}, p[1:]...)...)
		}
		return node(doc, append([]any{"groups"}, p...)...)
	}
	trig := func(t *Triggers, at func(string) *yaml.Node, name string) {
		if t != nil && t.VXU != "" && t.VXU != "any" && t.VXU != "administered" && t.VXU != "off" {
			v.Add(at("vxu"), "%s.vxu: want any, administered or off, not %q", name, t.VXU)
		}
	}
	trig(&c.Groups.Triggers, func(k string) *yaml.Node { return node(doc, "groups", "triggers", k) }, "groups.triggers")
	orgKeys, senders := map[string]bool{}, map[string]string{}
	for i, o := range c.Groups.Organizations {
		n := node(doc, "groups", "organizations", i)
		if strings.TrimSpace(o.Key) == "" {
			v.Add(n, "groups.organizations[%d]: key is required (the Group's identifier)", i)
		} else if orgKeys[o.Key] {
			v.Add(node(doc, "groups", "organizations", i, "key"), "groups.organizations[%d]: duplicate key %q", i, o.Key)
		}
		orgKeys[o.Key] = true
		if len(o.Senders) == 0 {
			v.Add(n, "groups.organizations[%d]: senders: at least one MSH-22 id or MSH-4 value is required", i)
		}
		for j, sd := range o.Senders {
			k := strings.ToUpper(strings.TrimSpace(sd))
			at := node(doc, "groups", "organizations", i, "senders", j)
			switch {
			case k == "":
				v.Add(at, "groups.organizations[%d].senders[%d]: empty", i, j)
			case senders[k] != "" && senders[k] != o.Key:
				v.Add(at, "groups.organizations[%d].senders[%d]: %q is already organization %q's", i, j, sd, senders[k])
			}
			senders[k] = o.Key
		}
		trig(o.Triggers, func(k string) *yaml.Node { return node(doc, "groups", "organizations", i, "triggers", k) },
			fmt.Sprintf("groups.organizations[%d].triggers", i))
	}
	gids := map[string]bool{}
	for i := range c.Groups.Static {
		g := &c.Groups.Static[i]
		n := gpath("static", i)
		if g.Name == "" {
			v.Add(n, "groups[%d]: name is required", i)
		}
		if g.ID == "" {
			g.ID = Slug(g.Name)
		}
		if !groupID.MatchString(g.ID) {
			v.Add(n, "groups[%d]: id %q is not a FHIR id ([A-Za-z0-9-.], 1..64)", i, g.ID)
		} else if gids[g.ID] {
			v.Add(n, "groups[%d]: duplicate id %q", i, g.ID)
		}
		gids[g.ID] = true
		for j, m := range g.Members {
			if !groupID.MatchString(m) {
				v.Add(gpath("static", i, "members", j), "groups[%d].members[%d]: not a Patient id", i, j)
			}
		}
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// storage checks a storage block at path; a problem names keys and
// environment variables, never a value (some are secrets).
func (v *validator) storage(st *Storage, doc *yaml.Node, path ...any) {
	name := func(key string) string {
		b := ""
		for _, p := range path {
			if i, ok := p.(int); ok {
				b += fmt.Sprintf("[%d]", i)
			} else {
				b += "." + p.(string)
			}
		}
		return strings.TrimPrefix(b, ".") + "." + key
	}
	at := func(key string) *yaml.Node { return node(doc, append(append([]any{}, path...), key)...) }
	need := func(key, val string) {
		if val == "" {
			v.Add(node(doc, path...), "%s: required for kind %s", name(key), st.Kind)
		}
	}
	switch st.Kind {
	case "", "local":
		if st.Dir != "" {
			v.Add(at("dir"), "%s: local export files live in data_dir; leave dir out", name("dir"))
		}
		if st.FileURLs != "" {
			v.Add(at("file_urls"), "%s: only for object stores (local files follow auth.file_urls)", name("file_urls"))
		}
	case "s3":
		need("bucket", st.Bucket)
	case "azblob":
		need("account", st.Account)
		need("container", st.Container)
	case "gcs":
		need("bucket", st.Bucket)
	default:
		v.Add(at("kind"), "%s: want local, s3, azblob or gcs, not %q", name("kind"), st.Kind)
	}
	if f := st.FileURLs; f != "" && f != "presigned" && f != "redirect" {
		v.Add(at("file_urls"), "%s: want presigned or redirect, not %q", name("file_urls"), f)
	}
	v.duration(st.URLTTL, name("url_ttl"), time.Minute, 7*24*time.Hour)
	if p := st.PartSize; p != 0 && (p < storage.MinPartSize || p > storage.MaxPartSize) {
		v.Add(at("part_size"), "%s: want %d..%d bytes", name("part_size"), storage.MinPartSize, storage.MaxPartSize)
	}
	if st.Retries < 0 {
		v.Add(at("retries"), "%s: want 0 or more", name("retries"))
	}
	// ${ENV} references must resolve now, not at the first export.
	rv := reflect.ValueOf(st.Config)
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() != reflect.String {
			continue
		}
		key := strings.Split(rv.Type().Field(i).Tag.Get("yaml"), ",")[0]
		for _, m := range envRef.FindAllStringSubmatch(f.String(), -1) {
			if _, ok := os.LookupEnv(m[1]); !ok {
				v.Add(at(key), "%s: environment variable %s is not set", name(key), m[1])
			}
		}
	}
}

func (v *validator) duration(d Duration, name string, lo, hi time.Duration) {
	if d.raw == "" {
		return
	}
	n := &yaml.Node{Line: d.line, Column: d.col}
	if _, err := time.ParseDuration(d.raw); err != nil {
		v.Add(n, "%s: %q is not a duration (e.g. 90s, 15m, 1h)", name, d.raw)
		return
	}
	if d.Duration < lo || (hi > 0 && d.Duration > hi) {
		if hi > 0 {
			v.Add(n, "%s: want %v..%v, not %v", name, lo, hi, d.Duration)
		} else {
			v.Add(n, "%s: want at least %v, not %v", name, lo, d.Duration)
		}
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Slug turns a name into a FHIR id: lower-case letters, digits and '-'.
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 64 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// AuthEnabled says whether any client is registered (else the server runs
// without authorization, which serve allows on loopback only).
func (c *Config) AuthEnabled() bool { return len(c.Auth.Clients) > 0 }

// ManifestFor returns the manifest style for a client.
func (c *Config) ManifestFor(clientID string) string {
	for _, cl := range c.Auth.Clients {
		if cl.ClientID == clientID && cl.Manifest != "" {
			return cl.Manifest
		}
	}
	return c.Manifest
}

// Policy is the membership policy the groups section describes
// (organizations table, triggers over membership.DefaultTriggers).
func (g Groups) Policy() (*membership.Policy, error) {
	def := g.Triggers.over(membership.DefaultTriggers())
	var orgs []membership.Organization
	for _, o := range g.Organizations {
		mo := membership.Organization{Key: o.Key, Name: o.Name, Senders: o.Senders}
		if o.Triggers != nil {
			t := o.Triggers.over(def)
			mo.Triggers = &t
		}
		orgs = append(orgs, mo)
	}
	return membership.New(orgs, def)
}

func (t Triggers) over(base membership.Triggers) membership.Triggers {
	if t.VXU != "" {
		base.VXU = t.VXU
	}
	if t.Query != nil {
		base.Query = *t.Query
	}
	if t.UnansweredQuery != nil {
		base.UnansweredQuery = *t.UnansweredQuery
	}
	return base
}

// LoadGroups reads a file holding a groups section alone (the mapping
// form: organizations, triggers; `iisbridge index --groups`), checked as
// in a server configuration.
func LoadGroups(path string) (*membership.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Problems: []Problem{{File: path, Msg: "YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == 0 {
		return membership.Default(), nil
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "groups"}, n}}
	v := &validator{diag.YAMLChecker{File: path}}
	v.checkGroupKeys(doc)
	c := &Config{File: path}
	if err := doc.Decode(c); err != nil {
		v.Add(n, "%v", err)
	}
	if len(v.Problems) == 0 {
		v.groups(c, doc)
	}
	if len(v.Problems) > 0 {
		return nil, &Error{Problems: v.Problems}
	}
	return c.Groups.Policy()
}
