package sql

import (
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
)

// ParseConfigNode reads a description written inline in another YAML file
// (the server config's `tables:`), so every problem points into that file
// at the right line and column. source, driver and dsn come from the
// caller, not the node.
func ParseConfigNode(file string, n *yaml.Node, source, driver, dsn string) (*Config, error) {
	chk := &diag.YAMLChecker{File: file}
	chk.CheckKeys(n, keySpec(reflect.TypeOf(Config{})), "tables")
	c := &Config{file: file, doc: n}
	if len(chk.Problems) == 0 {
		if err := n.Decode(c); err != nil {
			if te, ok := err.(*yaml.TypeError); ok {
				for _, m := range te.Errors {
					chk.AddDecodeError(m)
				}
			} else {
				chk.Add(n, "tables: %v", err)
			}
		}
	}
	if len(chk.Problems) > 0 {
		return nil, &diag.List{Problems: chk.Problems}
	}
	c.Source, c.Driver, c.DSN = source, driver, dsn
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// keySpec is the diag.CheckKeys spec of a struct's yaml keys, from its
// tags (one place says which keys a description has).
func keySpec(t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		if e := keySpec(t.Elem()); e != nil {
			return map[string]any{"[]": e}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	spec := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		spec[name] = keySpec(f.Type)
	}
	return spec
}
