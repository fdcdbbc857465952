package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/mapping"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// sqliteWorld writes a small generated world into a SQLite database in
// the default legacy schema and returns its path.
func sqliteWorld(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := synth.Generate(filepath.Join(dir, "world"), synth.Config{Seed: 5, People: 20}); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "iis.db")
	if _, _, err := sqlsrc.LoadDSN(context.Background(), "sqlite", db, filepath.Join(dir, "world", "truth.json")); err != nil {
		t.Fatal(err)
	}
	return db
}

// shippedCopy writes the shipped mappings and tables into a directory an
// admin could edit, with edit applied to sql.yaml.
func shippedCopy(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(mapping.DefaultFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(mapping.DefaultFS(), p)
		if err != nil {
			return err
		}
		if filepath.Base(p) == "sql.yaml" {
			b = []byte(edit(string(b)))
		}
		out := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(out), 0o755)
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "sql.yaml")
}

func TestMappingCheckSQL(t *testing.T) {
	db := sqliteWorld(t)
	var out, errb bytes.Buffer
	if code := mappingCheck([]string{"--dsn", db}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "ok: 2 resources") {
		t.Fatalf("shipped mapping: exit %d\n%s%s", code, out.String(), errb.String())
	}
	// A column and a lookup the database does not have: each at its
	// file:line:column with a did-you-mean; the mapping itself is valid.
	file := shippedCopy(t, func(s string) string {
		s = strings.ReplaceAll(s, "patient_name_first", "patient_name_frist")
		return strings.ReplaceAll(s, "lots", "lot")
	})
	out.Reset()
	errb.Reset()
	code := mappingCheck([]string{"--dsn", db, file}, &out, &errb)
	got := out.String()
	for _, want := range []string{
		file + `:18:32: persons (table patient_master) has no column "patient_name_frist"; did you mean "patient_name_first"?`,
		file + `:27:3: table "lot" is not in source iis (it has persons, aliases, addresses, phones, identifiers, guardians, immunizations, reports, lots, facilities, administered_by, ordered_by); did you mean "lots"?`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if code != 1 || !strings.Contains(errb.String(), "2 problem(s)") {
		t.Errorf("exit %d, stderr %s", code, errb.String())
	}
	// A child table declared as a lookup.
	file = shippedCopy(t, func(s string) string {
		return strings.Replace(s, "  facilities: {", "  reports: {via: immunizations, columns: [org_id]}\n  facilities: {", 1)
	})
	out.Reset()
	if code := mappingCheck([]string{"--dsn", db, file}, &out, &errb); code != 1 || !strings.Contains(out.String(), ":28:3: reports is not a lookup of source iis") {
		t.Errorf("child as lookup: exit %d\n%s", code, out.String())
	}
	// An unreachable database: one clear line, no secret.
	out.Reset()
	errb.Reset()
	t.Setenv("IISB_TEST_PW", "s3cret-pw")
	code = mappingCheck([]string{"--dsn", "postgres://u:${IISB_TEST_PW}@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}, &out, &errb)
	if code != 1 || strings.Contains(out.String()+errb.String(), "s3cret-pw") || !strings.Contains(errb.String(), "source iis: connecting") {
		t.Errorf("unreachable: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

func TestMappingPreviewSQL(t *testing.T) {
	db := sqliteWorld(t)
	var out, errb bytes.Buffer
	if code := mappingPreview([]string{"--dsn", db, "--trace-only", "--key", "2"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := out.String()
	for _, want := range []string{
		"Person 2 of source iis",
		"=== Patient/",
		"=== Immunization/",
		"Patient.name[0].family = ",
		"<- persons.patient_name_last (key 2)  defaults/sql.yaml:",
		"Immunization.vaccineCode.coding[0].code = ",
		"<- immunizations.vaccine_cvx_code (key ",
		") → cvx  defaults/sql.yaml:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("preview lacks %q:\n%s", want, got)
		}
	}
	out.Reset()
	errb.Reset()
	if code := mappingPreview([]string{"--dsn", db, "--key", "999999"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no person with key 999999") {
		t.Errorf("unknown key: exit %d %s", code, errb.String())
	}
	if code := mappingPreview([]string{"--dsn", db}, &out, &errb); code != 2 {
		t.Errorf("no --key: exit %d", code)
	}
	// A relational mapping cannot map messages: said, not an empty result.
	errb.Reset()
	file := shippedCopy(t, func(s string) string { return s })
	if code := mappingPreview([]string{"--mapping", file, "one.hl7"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "maps a relational source (source: sql), not messages") {
		t.Errorf("relational mapping over a message: exit %d %s", code, errb.String())
	}
}

// TestMappingInitRelational: the relational mapping written by mapping
// init (tables copied or builtin:) checks clean against a database of the
// default schema.
func TestMappingInitRelational(t *testing.T) {
	db := sqliteWorld(t)
	for _, builtin := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "m")
		args := []string{"--relational", dir}
		if builtin {
			args = append([]string{"--builtin-tables"}, args...)
		}
		var out, errb bytes.Buffer
		if code := mappingInit(args, &out, &errb); code != 0 || !strings.Contains(out.String(), filepath.Join(dir, "sql.yaml")) {
			t.Fatalf("init %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		out.Reset()
		if code := mappingCheck([]string{"--dsn", db, filepath.Join(dir, "sql.yaml")}, &out, &errb); code != 0 {
			t.Errorf("check of the copy (builtin %v): exit %d\n%s%s", builtin, code, out.String(), errb.String())
		}
	}
}

// TestMappingSQLServerConfig: a kind: sql source of a server config names
// the database, tables and mapping that check and preview use.
func TestMappingSQLServerConfig(t *testing.T) {
	db := sqliteWorld(t)
	broken := shippedCopy(t, func(s string) string { return strings.ReplaceAll(s, "patient_sex", "patient_sx") })
	dir := t.TempDir()
	cfg := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfg, []byte("sources:\n  - name: reg\n    kind: sql\n    driver: sqlite\n    dsn: "+db+"\n  - name: other\n    kind: sql\n    driver: sqlite\n    dsn: "+db+"\n    mapping: "+broken+"\n"), 0o644)
	var out, errb bytes.Buffer
	if code := mappingCheck([]string{"--config", cfg, "--source", "reg"}, &out, &errb); code != 0 {
		t.Errorf("reg: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := mappingCheck([]string{"--config", cfg, "--source", "other"}, &out, &errb); code != 1 || !strings.Contains(out.String(), `has no column "patient_sx"; did you mean "patient_sex"?`) {
		t.Errorf("other (its own mapping): exit %d\n%s", code, out.String())
	}
	errb.Reset()
	if code := mappingCheck([]string{"--config", cfg}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "give --source, one of its kind: sql sources (reg, other)") {
		t.Errorf("two sources, no --source: exit %d %s", code, errb.String())
	}
	out.Reset()
	if code := mappingPreview([]string{"--config", cfg, "--source", "reg", "--key", "2"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Person 2 of source reg") {
		t.Errorf("preview: exit %d\n%s", code, out.String())
	}
}
