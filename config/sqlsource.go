package config

import (
	"errors"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
)

// sqlSource checks a `kind: sql` source: driver and DSN (never quoted in
// a problem: it may hold a secret), the environment variables the DSN
// names, the tables description (a file or inline, its problems at their
// own positions) and the mapping file. It sets s.SQL.
func (v *validator) sqlSource(c *Config, s *Source, doc *yaml.Node, i int) {
	at := func(k string) *yaml.Node { return node(doc, "sources", i, k) }
	for _, k := range []string{"paths", "encoding"} {
		if n := at(k); n != node(doc, "sources", i) {
			v.Add(n, "sources[%d].%s: not for kind sql (a database is read through driver and dsn)", i, k)
		}
	}
	ok := true
	if s.DSN == "" {
		v.Add(node(doc, "sources", i), "sources[%d]: dsn is required for kind sql (e.g. user:${IIS_DB_PASSWORD}@tcp(host:3306)/iis for mysql)", i)
		ok = false
	} else {
		if m := envRef.FindAllStringSubmatch(s.DSN, -1); m != nil {
			for _, g := range m {
				if _, set := os.LookupEnv(g[1]); !set {
					v.Add(at("dsn"), "sources[%d].dsn: environment variable %s is not set", i, g[1])
					ok = false
				}
			}
		}
		if ok {
			// The driver and the DSN's form only: the secret is not
			// expanded here, and nothing of the DSN is quoted.
			if _, _, err := sqlsrc.SplitDSN(s.Driver, envRef.ReplaceAllString(s.DSN, "x")); err != nil {
				v.Add(at("driver"), "sources[%d]: driver: %s", i, redactDSN(err, s.DSN))
			}
		}
	}
	var cfg *sqlsrc.Config
	var err error
	switch t := &s.Tables; {
	case t.Kind == 0 || (t.Kind == yaml.ScalarNode && t.Tag == "!!null"):
		cfg = sqlsrc.DefaultConfig()
	case t.Kind == yaml.ScalarNode:
		if cfg, err = sqlsrc.LoadConfig(t.Value); err != nil && errors.Is(err, os.ErrNotExist) {
			v.Add(t, "sources[%d].tables: %s does not exist", i, t.Value)
			err = nil
		}
	case t.Kind == yaml.MappingNode:
		cfg, err = sqlsrc.ParseConfigNode(c.File, t, s.Name, s.Driver, s.DSN)
	default:
		v.Add(t, "sources[%d].tables: want a description file or the description inline", i)
	}
	var dl *diag.List
	switch {
	case errors.As(err, &dl):
		v.Problems = append(v.Problems, dl.Problems...)
	case err != nil:
		v.Add(&s.Tables, "sources[%d].tables: %v", i, err)
	case cfg != nil:
		cfg.Source, cfg.Driver, cfg.DSN = s.Name, s.Driver, s.DSN
		s.SQL = cfg
	}
	if s.Mapping != "" {
		if _, err := os.Stat(s.Mapping); err != nil {
			v.Add(at("mapping"), "sources[%d].mapping: %v", i, err)
		}
	}
}

// redactDSN keeps the DSN out of an error's text.
func redactDSN(err error, dsn string) string {
	msg := err.Error()
	if dsn != "" {
		msg = regexp.MustCompile(regexp.QuoteMeta(dsn)).ReplaceAllString(msg, "(dsn)")
	}
	return msg
}
