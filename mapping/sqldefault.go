package mapping

import (
	"io/fs"
	"sync"
)

// DefaultSQL is the shipped mapping of the default legacy IIS schema
// (sources/sql/default.yaml) to US Core Patient and Immunization:
// defaults/sql.yaml, whose content matches what the default v2 mapping
// gives for the same facts.
func DefaultSQL() *Mapping {
	defaultSQLOnce.Do(func() {
		data, err := fs.ReadFile(defaultFS, "defaults/sql.yaml")
		if err == nil {
			defaultSQL, err = compileMapping(data, "defaults/sql.yaml", defaultFS, "defaults")
		}
		if err != nil {
			panic("mapping: the shipped relational mapping is invalid: " + err.Error())
		}
	})
	return defaultSQL
}

// DefaultSQLSource is defaults/sql.yaml's text.
func DefaultSQLSource() []byte {
	b, _ := fs.ReadFile(defaultFS, "defaults/sql.yaml")
	return b
}

var (
	defaultSQLOnce sync.Once
	defaultSQL     *Mapping
)
