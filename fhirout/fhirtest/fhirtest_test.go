package fhirtest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func needSchema(t *testing.T) {
	t.Helper()
	if os.Getenv(SchemaEnv) == "" {
		t.Skip(ErrNoSchema.Error())
	}
}

func TestCheckValidAndInvalid(t *testing.T) {
	needSchema(t)
	valid := `{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"2019-04","name":[{"family":"X","given":["Y"]}]}`
	if err := Check([]byte(valid)); err != nil {
		t.Fatalf("valid Patient rejected: %v", err)
	}
	for _, tc := range []struct{ name, json, want string }{
		{"gender number", `{"resourceType":"Patient","id":"p2","gender":5}`, "Patient/p2"},
		{"gender enum", `{"resourceType":"Patient","id":"p3","gender":"f"}`, "/gender"},
		{"unknown element", `{"resourceType":"Immunization","id":"i1","status":"completed","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/p"},"occurrenceDateTime":"2020-01-01","lot":"A"}`, "Immunization/i1"},
		{"missing required", `{"resourceType":"Immunization","id":"i2","status":"completed"}`, "Immunization/i2"},
		{"empty string", `{"resourceType":"Patient","id":"p4","gender":"male","name":[{"family":""}]}`, "/name/0/family"},
		{"unknown type", `{"resourceType":"Nonsense","id":"n"}`, "Nonsense/n"},
	} {
		err := Check([]byte(tc.json))
		if err == nil {
			t.Errorf("%s: invalid resource accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}
}

// fakeTB records failures without stopping the real test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Error(args ...any)         { f.failed = true; f.msg = args[0].(error).Error() }
func (f *fakeTB) Skip(args ...any)          { f.skipped = true }
func (f *fakeTB) Errorf(s string, a ...any) { f.failed = true }

func TestValidateFailsTB(t *testing.T) {
	needSchema(t)
	ft := &fakeTB{}
	Validate(ft, []byte(`{"resourceType":"Patient","gender":5}`))
	if !ft.failed {
		t.Fatal("Validate did not fail on gender 5")
	}
	ft = &fakeTB{}
	Validate(ft, []byte(`{"resourceType":"Patient","gender":"other"}`))
	if ft.failed || ft.skipped {
		t.Fatalf("Validate failed a valid Patient: %s", ft.msg)
	}
}

func TestCheckNDJSON(t *testing.T) {
	needSchema(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ndjson")
	os.WriteFile(good, []byte(`{"resourceType":"Patient","id":"a"}`+"\n"+`{"resourceType":"Patient","id":"b","active":true}`+"\n"), 0o644)
	if err := CheckNDJSON(good); err != nil {
		t.Fatalf("valid file rejected: %v", err)
	}
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte(`{"resourceType":"Patient","id":"a"}`+"\n"+`{"resourceType":"Patient","id":"b","active":"yes"}`+"\n"+"{oops\n"), 0o644)
	err := CheckNDJSON(bad)
	if err == nil {
		t.Fatal("invalid file accepted")
	}
	for _, want := range []string{"bad.ndjson:2:", "bad.ndjson:3: not JSON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "bad.ndjson:1:") {
		t.Errorf("line 1 is valid but reported: %v", err)
	}
}

func TestSkipWithoutSchema(t *testing.T) {
	if os.Getenv(SchemaEnv) != "" {
		t.Skip("schema configured; the unset path is covered when it is not")
	}
	if err := Check([]byte(`{"resourceType":"Patient"}`)); !errors.Is(err, ErrNoSchema) {
		t.Fatalf("Check without schema = %v, want ErrNoSchema", err)
	}
	ft := &fakeTB{}
	Validate(ft, []byte(`{"resourceType":"Patient"}`))
	if !ft.skipped || ft.failed {
		t.Fatal("Validate should skip when the schema is unset")
	}
}

func TestCheckNotAResource(t *testing.T) {
	needSchema(t)
	for in, want := range map[string]string{
		`[1]`:                                  "want a JSON object",
		`{"id":"x"}`:                           `resourceType "" is not an R4 resource`,
		`{"resourceType":"Nonsense","id":"n"}`: `resourceType "Nonsense"`,
		`{"resourceType":"HumanName"}`:         `resourceType "HumanName"`,
		`{oops`:                                "not JSON",
	} {
		err := Check([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || len(err.Error()) > 200 {
			t.Errorf("Check(%s) = %v, want a short error with %q", in, err, want)
		}
	}
}
