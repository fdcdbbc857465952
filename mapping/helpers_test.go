package mapping

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// msg parses a message written with \n between segments.
func msg(t testing.TB, text string) *hl7v2.Message {
	t.Helper()
	m, err := hl7v2.Parse([]byte(strings.ReplaceAll(strings.TrimSpace(text), "\n", "\r")))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m
}

// readMsg parses a testdata message file.
func readMsg(t testing.TB, name string) *hl7v2.Message {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return msg(t, string(data))
}

// compileYAML compiles an in-memory mapping; files maps table file names.
func compileYAML(t testing.TB, yml string, files map[string]string) *Mapping {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	m, err := Parse([]byte(yml), "test.yaml", fsys, ".")
	if err != nil {
		t.Fatalf("compile:\n%v", err)
	}
	return m
}

// problems compiles yml and returns its problems as strings.
func problems(t testing.TB, yml string, files map[string]string) []string {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	_, err := Parse([]byte(yml), "test.yaml", fsys, ".")
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CheckError, got %v", err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	return out
}

func apply(m *Mapping, msg *hl7v2.Message) Output {
	return m.Apply(Input{Msg: msg, Loc: sources.Location{Source: "test.hl7", Line: 1, Index: 1}}, true)
}

// tree turns a resource into plain JSON values for jget.
func tree(t testing.TB, o *fhirout.Object) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(o.AppendJSON(nil), &v); err != nil {
		t.Fatalf("resource JSON: %v", err)
	}
	return v
}

var stepRx = regexp.MustCompile(`^(_?[A-Za-z]+)(?:\[(\d+)\])?$`)

// jget reads a dotted path with [i] indexes; nil when absent.
func jget(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		m := stepRx.FindStringSubmatch(part)
		obj, ok := v.(map[string]any)
		if m == nil || !ok {
			return nil
		}
		v = obj[m[1]]
		if m[2] != "" {
			arr, ok := v.([]any)
			i, _ := strconv.Atoi(m[2])
			if !ok || i >= len(arr) {
				return nil
			}
			v = arr[i]
		}
	}
	return v
}

func want(t testing.TB, res map[string]any, path string, expected any) {
	t.Helper()
	got := jget(res, path)
	if got != expected {
		t.Errorf("%s/%v: %s = %#v, want %#v", res["resourceType"], res["id"], path, got, expected)
	}
}

func absent(t testing.TB, res map[string]any, path string) {
	t.Helper()
	if got := jget(res, path); got != nil {
		t.Errorf("%s: %s = %#v, want absent", res["resourceType"], path, got)
	}
}

// byType returns the resources of one type as trees.
func byType(t testing.TB, out Output, typ string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, r := range out.Resources {
		if r.ResourceType() == typ {
			res = append(res, tree(t, r))
		}
	}
	return res
}

// findIssue returns the first issue whose diagnostics contain s.
func findIssue(out Output, s string) *fhirout.Issue {
	for i := range out.Issues {
		if strings.Contains(out.Issues[i].Diagnostics, s) {
			return &out.Issues[i]
		}
	}
	return nil
}
