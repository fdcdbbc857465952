package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteDefaultCopiesAndLoads(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteDefault(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1+len(BuiltinTables())+1 { // default.yaml, the tables and their README
		t.Errorf("wrote %d files: %v", len(files), files)
	}
	m, err := Load(filepath.Join(dir, "default.yaml"))
	if err != nil {
		t.Fatalf("the written mapping does not load: %v", err)
	}
	if a, b := mapsTo(t, m), mapsTo(t, Default()); a != b {
		t.Errorf("the written mapping maps differently from the default:\n%s\n%s", a, b)
	}
	// A second init never overwrites.
	if _, err := WriteDefault(dir, false); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second WriteDefault: %v", err)
	}
}

func TestWriteDefaultBuiltinTables(t *testing.T) {
	dir := t.TempDir()
	files, err := WriteDefault(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Errorf("with built-in tables only the mapping is written: %v", files)
	}
	src, _ := os.ReadFile(filepath.Join(dir, "default.yaml"))
	if !strings.Contains(string(src), "file: builtin:cvx") || strings.Contains(string(src), "tables/cvx.csv") {
		t.Error("the written mapping should name builtin:cvx")
	}
	m, err := Load(filepath.Join(dir, "default.yaml"))
	if err != nil {
		t.Fatalf("the written mapping does not load: %v", err)
	}
	if a, b := mapsTo(t, m), mapsTo(t, Default()); a != b {
		t.Errorf("the builtin-table mapping maps differently from the default")
	}
}

func TestBuiltinTableUnknownAndMissingFile(t *testing.T) {
	dir := t.TempDir()
	yml := "# line 1\ntables:\n  vaccines:\n    file: builtin:cvz\n  local:\n    policy: warn\n    file: local/cvx.csv\nresources:\n  - resource: Patient\n    rules:\n      - {target: gender, value: 'table(\"vaccines\", PID-8)'}\n      - {target: id, value: 'table(\"local\", PID-8)'}\n"
	p := filepath.Join(dir, "m.yaml")
	os.WriteFile(p, []byte(yml), 0o644)
	_, err := Load(p)
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CheckError, got %v", err)
	}
	var got []string
	for _, pr := range ce.Problems {
		got = append(got, strings.TrimPrefix(pr.String(), dir+"/"))
	}
	want := []string{
		`m.yaml:4:11: table vaccines: no built-in table "cvz"; did you mean "cvx"? (built-in: ` + strings.Join(BuiltinTables(), ", ") + `)`,
		`m.yaml:7:11: table local: cannot read table file ` + dir + `/local/cvx.csv: no such file or directory (table file paths are relative to the folder of the mapping file; builtin:NAME names a table shipped in the binary)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := BuiltinTable("../default"); err == nil {
		t.Error("BuiltinTable must refuse a path")
	}
}

// mapsTo maps the test messages and returns the JSON, so two
// mappings can be compared by what they do.
func mapsTo(t *testing.T, m *Mapping) string {
	t.Helper()
	var b strings.Builder
	for _, f := range []string{"vxu_full.hl7", "vxu_badcodes.hl7", "vxu_misc.hl7", "rsp_z42.hl7"} {
		{
			out := m.Apply(Input{Msg: readMsg(t, f)}, false)
			for _, r := range out.Resources {
				b.Write(r.AppendJSON(nil))
				b.WriteByte('\n')
			}
			for _, is := range out.Issues {
				b.WriteString(is.Diagnostics + "\n")
			}
		}
	}
	return b.String()
}
