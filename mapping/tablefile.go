package mapping

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
)

// BuiltinPrefix in a table's file: names a code table shipped in the
// binary (`file: builtin:cvx`), so a jurisdiction's copy of the mapping
// follows the project's CVX/MVX updates instead of keeping the tables of
// the day it was copied.
const BuiltinPrefix = "builtin:"

// builtinDir is where the shipped tables live in defaultFS.
const builtinDir = "defaults/tables"

// BuiltinTables lists the names usable after builtin: (the shipped table
// files without .csv), sorted.
func BuiltinTables() []string {
	ents, _ := fs.ReadDir(defaultFS, builtinDir)
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".csv"); ok && !e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// BuiltinTable returns the text of a shipped table (name as after
// builtin:).
func BuiltinTable(name string) ([]byte, error) {
	if !validBuiltin(name) {
		return nil, fmt.Errorf("no built-in table %q", name)
	}
	return fs.ReadFile(defaultFS, builtinDir+"/"+name+".csv")
}

func validBuiltin(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\.`)
}

// resolveTableFile maps a table file name (already joined with the
// mapping's folder) to the file system holding it: builtin:NAME is read
// from the binary, anything else from fsys.
func resolveTableFile(fsys fs.FS, name string) (fs.FS, string, bool) {
	base := path.Base(name)
	b, ok := strings.CutPrefix(base, BuiltinPrefix)
	if !ok {
		return fsys, name, false
	}
	if !validBuiltin(b) {
		b = "-" // not a shipped name: fails to open, reported as unknown
	}
	return defaultFS, builtinDir + "/" + b + ".csv", true
}

// tableFileProblem says a table file cannot be read. It is positioned on
// the mapping file but without a line: locateTableFiles, which has the
// YAML text, points it at the `file:` line that names the table.
func tableFileProblem(mappingFile, table, display string, builtin bool, err error) Problem {
	var msg string
	if builtin {
		name := strings.TrimPrefix(path.Base(display), BuiltinPrefix)
		msg = fmt.Sprintf("no built-in table %q%s (built-in: %s)", name,
			diag.DidYouMean(name, BuiltinTables()), strings.Join(BuiltinTables(), ", "))
	} else {
		reason := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err.Error()
		}
		msg = fmt.Sprintf("cannot read table file %s: %s (table file paths are relative to the folder of the mapping file; %sNAME names a table shipped in the binary)",
			display, reason, BuiltinPrefix)
	}
	return Problem{File: mappingFile, Msg: tableProblemPrefix(table) + msg}
}

func tableProblemPrefix(table string) string { return "table " + table + ": " }

// locateTableFiles gives the table-file problems of tableFileProblem the
// line and column of the `file:` value that names the file.
func locateTableFiles(data []byte, file string, problems []Problem) {
	var doc *yaml.Node
	for i := range problems {
		p := &problems[i]
		if p.Line != 0 || p.File != file || !strings.HasPrefix(p.Msg, "table ") {
			continue
		}
		name, _, ok := strings.Cut(strings.TrimPrefix(p.Msg, "table "), ": ")
		if !ok {
			continue
		}
		if doc == nil {
			doc = &yaml.Node{}
			if yaml.Unmarshal(data, doc) != nil {
				return
			}
		}
		p.Line, p.Col = 1, 1
		if n := tableFileNode(doc, name); n != nil {
			p.Line, p.Col = n.Line, n.Column
		}
	}
}

// tableFileNode finds tables.<name>.file in a parsed mapping.
func tableFileNode(doc *yaml.Node, name string) *yaml.Node {
	n := doc
	for _, key := range []string{"", "tables", name, "file"} {
		if key == "" {
			if n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
			continue
		}
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
