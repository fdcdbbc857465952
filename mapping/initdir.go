package mapping

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// tableFileRef matches a shipped table named by path in the default
// mapping, `file: tables/cvx.csv`, so WriteDefault can name it builtin:cvx.
var tableFileRef = regexp.MustCompile(`(file:\s*)tables/([A-Za-z0-9_-]+)\.csv\b`)

// WriteDefault writes the shipped mapping into dir as default.yaml, with
// its code tables in dir/tables (or, with builtinTables, none: the mapping
// then names each one builtin:NAME and follows the binary's tables). It
// never overwrites a file: an existing one is an error naming it, and
// nothing is written. It returns the files written, in order.
func WriteDefault(dir string, builtinTables bool) ([]string, error) {
	return writeShipped(dir, "default.yaml", DefaultSource(), builtinTables)
}

// WriteDefaultSQL is WriteDefault for the shipped relational mapping
// (sql.yaml, DefaultSQL).
func WriteDefaultSQL(dir string, builtinTables bool) ([]string, error) {
	return writeShipped(dir, "sql.yaml", DefaultSQLSource(), builtinTables)
}

func writeShipped(dir, file string, src []byte, builtinTables bool) ([]string, error) {
	files := map[string][]byte{}
	order := []string{file}
	if builtinTables {
		src = tableFileRef.ReplaceAll(src, []byte("${1}"+BuiltinPrefix+"${2}"))
	} else {
		ents, err := fs.ReadDir(defaultFS, builtinDir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			b, err := fs.ReadFile(defaultFS, builtinDir+"/"+e.Name())
			if err != nil {
				return nil, err
			}
			name := filepath.Join("tables", e.Name())
			files[name] = b
			order = append(order, name)
		}
	}
	files[file] = src
	for _, name := range order {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s exists already: nothing written (choose an empty folder, or move it away)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	var written []string
	for _, name := range order {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		// O_EXCL: a file that appeared since the check is still not overwritten.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return written, err
		}
		_, err = f.Write(files[name])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return written, fmt.Errorf("writing %s: %w", p, err)
		}
		written = append(written, p)
	}
	return written, nil
}

// DefaultFS holds the shipped mapping (default.yaml) and its tables
// (tables/*.csv), for compiling an edited copy of the default mapping
// held in memory: Parse(data, name, DefaultFS(), ".").
func DefaultFS() fs.FS {
	sub, err := fs.Sub(defaultFS, "defaults")
	if err != nil {
		panic(err) // the embedded folder is always there
	}
	return sub
}
