package doctest

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestREADMEFolderTable keeps the README's folder table, where the next
// engineer looks for the architecture, in step with the tree: every row
// names a folder that exists, every package is a row or is named in the
// row of the folder it sits in (a package deeper than that is a detail of
// its parent's), and no row is left for a folder without Go code.
func TestREADMEFolderTable(t *testing.T) {
	const root = "../.."
	table := Table(t, Read(t, root+"/README.md"), "| folder | what it provides |")
	rows := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[2:] {
		cells := strings.Split(line, " | ")
		if len(cells) < 2 {
			t.Fatalf("folder table row %q: want | `folder` | what |", line)
		}
		folder := strings.Trim(strings.TrimPrefix(cells[0], "| "), "`")
		rows[strings.TrimSuffix(folder, "/")] = strings.Join(cells[1:], " | ")
	}

	var pkgs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			if rel = filepath.ToSlash(rel); !slices.Contains(pkgs, rel) {
				pkgs = append(pkgs, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages under %s: %v", len(pkgs), root, pkgs)
	}

	for _, p := range pkgs {
		if _, ok := rows[p]; ok {
			continue
		}
		parent := ""
		for f := range rows {
			if strings.HasPrefix(p, f+"/") && len(f) > len(parent) {
				parent = f
			}
		}
		if parent == "" {
			t.Errorf("package %s has no row in the README's folder table", p)
			continue
		}
		rel := strings.TrimPrefix(p, parent+"/")
		if strings.Contains(rel, "/") {
			continue
		}
		text := rows[parent]
		if !strings.Contains(text, "`"+rel+"`") && !strings.Contains(text, "`"+rel+"/`") &&
			!strings.Contains(text, "`"+p+"`") {
			t.Errorf("package %s is not named in the folder table's %s row (as `%s`)", p, parent, rel)
		}
	}
	for f := range rows {
		if fi, err := os.Stat(filepath.Join(root, f)); err != nil || !fi.IsDir() {
			t.Errorf("the folder table names %s, which is not a folder", f)
			continue
		}
		if !slices.ContainsFunc(pkgs, func(p string) bool { return p == f || strings.HasPrefix(p, f+"/") }) {
			t.Errorf("the folder table names %s, which holds no Go package", f)
		}
	}
}
