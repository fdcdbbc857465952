package fhirout

// The default code tables (mapping/defaults/tables) are data files written
// with this package; this test keeps them well-formed, since the mapping
// engine loads them at start and a broken row would stop every export.

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func tablesDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "mapping", "defaults", "tables")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no code tables at %s", dir)
	}
	return dir
}

var wantTables = []string{
	"cvx.csv", "mvx.csv", "route-0162.csv", "route-v3.csv", "site-0163.csv", "nip001.csv", "nip002.csv",
	"vfc-0064.csv", "funding-source.csv", "identifier-type-0203.csv", "relationship-0063.csv",
	"race-cdcrec.csv", "ethnicity-cdcrec.csv", "registry-status-0441.csv", "publicity-0215.csv",
	"name-type-0200.csv", "telecom-use-0201.csv", "sex-0001.csv",
}

// readTable parses a table strictly and returns rows keyed by from.
func readTable(t *testing.T, path string) (header []string, rows map[string][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err = r.Read()
	if err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	full := []string{"from", "code", "display", "system", "status"}
	if len(header) < 3 || !slices.Equal(header, full[:len(header)]) {
		t.Fatalf("%s: header %v, want a prefix of %v (at least from,code,display)", path, header, full)
	}
	rows = map[string][]string{}
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			t.Fatalf("%s: %v", path, err) // also catches a wrong column count
		}
		for i, v := range rec {
			if v != strings.TrimSpace(v) {
				t.Errorf("%s:%d: column %s has surrounding spaces", path, line, header[i])
			}
		}
		from, code, display := rec[0], rec[1], rec[2]
		if from == "" || code == "" || display == "" {
			t.Errorf("%s:%d: empty from, code or display", path, line)
		}
		if prev, dup := seen[strings.ToUpper(from)]; dup {
			t.Errorf("%s:%d: from %q already on line %d", path, line, from, prev)
		}
		seen[strings.ToUpper(from)] = line
		if len(rec) > 3 && rec[3] != "" {
			if u, err := url.Parse(rec[3]); err != nil || u.Scheme == "" || strings.ContainsAny(rec[3], " |") {
				t.Errorf("%s:%d: system %q is not an absolute URI", path, line, rec[3])
			}
		}
		if len(rec) > 4 {
			switch rec[4] {
			case "Active", "Inactive", "Never Active", "Non-US", "Pending", "Deprecated":
			default:
				t.Errorf("%s:%d: unknown status %q", path, line, rec[4])
			}
		}
		rows[from] = rec
	}
	if len(rows) == 0 {
		t.Errorf("%s: no rows", path)
	}
	return header, rows
}

func TestCodeTablesWellFormed(t *testing.T) {
	dir := tablesDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		readTable(t, f)
	}
	for _, w := range wantTables {
		if !slices.Contains(names, w) {
			t.Errorf("table %s missing", w)
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("README.md does not describe %s", n)
		}
	}
}

func TestCodeTableFacts(t *testing.T) {
	dir := tablesDir(t)
	get := func(table, from string) []string {
		_, rows := readTable(t, filepath.Join(dir, table))
		r, ok := rows[from]
		if !ok {
			t.Errorf("%s: no row for %q", table, from)
			return make([]string, 5)
		}
		return r
	}
	for _, tc := range []struct{ table, from, code, system string }{
		{"cvx.csv", "08", "08", ""},
		{"cvx.csv", "140", "140", ""},
		{"route-v3.csv", "SC", "SQ", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"},
		{"route-v3.csv", "ID", "IDINJ", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"},
		{"route-v3.csv", "C28161", "IM", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"},
		{"route-0162.csv", "C38299", "SC", ""},
		{"relationship-0063.csv", "GRD", "GUARD", "http://terminology.hl7.org/CodeSystem/v3-RoleCode"},
		{"relationship-0063.csv", "SPO", "SPS", "http://terminology.hl7.org/CodeSystem/v3-RoleCode"},
		{"ethnicity-cdcrec.csv", "H", "2135-2", "urn:oid:2.16.840.1.113883.6.238"},
		{"ethnicity-cdcrec.csv", "U", "UNK", "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"},
		{"sex-0001.csv", "A", "other", ""},
		{"name-type-0200.csv", "L", "official", ""},
		{"telecom-use-0201.csv", "PRS", "mobile", ""},
	} {
		r := get(tc.table, tc.from)
		sys := ""
		if len(r) > 3 {
			sys = r[3]
		}
		if r[1] != tc.code || sys != tc.system {
			t.Errorf("%s %s → %s %s, want %s %s", tc.table, tc.from, r[1], sys, tc.code, tc.system)
		}
	}
	// FHIR target codes must be in their value sets.
	check := func(table string, allowed ...string) {
		_, rows := readTable(t, filepath.Join(dir, table))
		for from, r := range rows {
			if !slices.Contains(allowed, r[1]) {
				t.Errorf("%s: %s → %q is not one of %v", table, from, r[1], allowed)
			}
		}
	}
	check("sex-0001.csv", "male", "female", "other", "unknown")
	check("name-type-0200.csv", "usual", "official", "temp", "nickname", "anonymous", "old", "maiden")
	check("telecom-use-0201.csv", "home", "work", "temp", "old", "mobile")
	check("route-v3.csv", "IDINJ", "IM", "NASINHLC", "IVINJ", "PO", "SQ", "TRNSDERM")
}

// TestCodeTablesMatchCorpus checks cvx.csv and mvx.csv against the CDC
// tables in the shared corpus: every code present, same status.
func TestCodeTablesMatchCorpus(t *testing.T) {
	dir := tablesDir(t)
	corpus := os.Getenv("IISBRIDGE_CORPUS")
	if corpus == "" {
		corpus = filepath.Join(dir, "..", "..", "..", "..", "shared", "corpus")
	}
	for _, tc := range []struct {
		table, src string
		statusCol  int
	}{{"cvx.csv", "cvx.txt", 4}, {"mvx.csv", "mvx.txt", 3}} {
		f, err := os.Open(filepath.Join(corpus, "codes", tc.src))
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("corpus code table %s absent (set IISBRIDGE_CORPUS)", tc.src)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, rows := readTable(t, filepath.Join(dir, tc.table))
		n := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			p := strings.Split(sc.Text(), "|")
			if len(p) <= tc.statusCol {
				continue
			}
			code, status := strings.TrimSpace(p[0]), strings.TrimSpace(p[tc.statusCol])
			n++
			r, ok := rows[code]
			if !ok {
				t.Errorf("%s: code %s of %s missing", tc.table, code, tc.src)
				continue
			}
			if r[4] != status {
				t.Errorf("%s: %s status %q, CDC table says %q", tc.table, code, r[4], status)
			}
		}
		f.Close()
		if n != len(rows) {
			t.Errorf("%s has %d rows, %s has %d codes", tc.table, len(rows), tc.src, n)
		}
		if tc.table == "cvx.csv" {
			for code := range rows {
				if _, err := strconv.Atoi(code); err != nil {
					t.Errorf("cvx.csv: code %q is not numeric", code)
				}
			}
		}
	}
}
