package index

import (
	"path/filepath"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// open opens an index over v2 archives (the source the tests index),
// with the identity rules of o.
func open(dir string, o Options) (*Index, error) {
	if o.Source == nil {
		s, err := v2archive.NewSource(v2archive.Options{SpoolDir: filepath.Join(dir, "spool")}, o.Identity, mapping.Default())
		if err != nil {
			return nil, err
		}
		o.Source = s
	}
	return Open(dir, o)
}
