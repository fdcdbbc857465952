// Package fhirtest checks FHIR JSON in tests: against the FHIR R4 JSON
// schema (Check, Validate) and against the US Core 6.1 rules the project
// promises for Patient and Immunization (USCore, Conformant). The schema
// path comes from env IISBRIDGE_FHIR_SCHEMA; schema checks skip when it is
// unset. The schema is compiled once per process.
package fhirtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// SchemaEnv names the environment variable holding the schema path.
const SchemaEnv = "IISBRIDGE_FHIR_SCHEMA"

// ErrNoSchema is returned by Check when SchemaEnv is unset.
var ErrNoSchema = errors.New(SchemaEnv + " not set: point it at the FHIR R4 fhir.schema.json to validate resources")

var (
	once      sync.Once
	loadErr   error
	compiler  *jsonschema.Compiler
	schemaID  string
	resources map[string]bool // resource types of the schema

	mu     sync.Mutex // guards compiler and byType
	byType = map[string]*jsonschema.Schema{}
)

func load() {
	path := os.Getenv(SchemaEnv)
	if path == "" {
		loadErr = ErrNoSchema
		return
	}
	f, err := os.Open(path)
	if err != nil {
		loadErr = fmt.Errorf("fhirtest: %w", err)
		return
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(bufio.NewReader(f))
	if err != nil {
		loadErr = fmt.Errorf("fhirtest: parse %s: %w", path, err)
		return
	}
	m, ok := doc.(map[string]any)
	if !ok {
		loadErr = fmt.Errorf("fhirtest: %s: not a JSON schema object", path)
		return
	}
	resources = map[string]bool{}
	if defs, ok := m["definitions"].(map[string]any); ok {
		if rl, ok := defs["ResourceList"].(map[string]any); ok {
			if one, ok := rl["oneOf"].([]any); ok {
				for _, r := range one {
					if ref, ok := r.(map[string]any)["$ref"].(string); ok {
						resources[strings.TrimPrefix(ref, "#/definitions/")] = true
					}
				}
			}
		}
	}
	if len(resources) == 0 {
		loadErr = fmt.Errorf("fhirtest: %s: no definitions/ResourceList: not the FHIR JSON schema", path)
		return
	}
	schemaID, _ = m["id"].(string)
	if schemaID == "" {
		schemaID = "file:///fhir.schema.json"
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		loadErr = fmt.Errorf("fhirtest: load %s: %w", path, err)
		return
	}
	compiler = c
}

// schemaFor returns the compiled definition of a resource type (known to
// be one of the schema's resources).
func schemaFor(resourceType string) (*jsonschema.Schema, error) {
	mu.Lock()
	defer mu.Unlock()
	if s, ok := byType[resourceType]; ok {
		return s, nil
	}
	s, err := compiler.Compile(schemaID + "#/definitions/" + resourceType)
	if err != nil {
		return nil, fmt.Errorf("fhirtest: compile schema for %s: %w", resourceType, err)
	}
	byType[resourceType] = s
	return s, nil
}

// Check validates one resource's JSON. It returns ErrNoSchema when the
// schema is not configured, and otherwise an error naming the resource
// type/id and listing every schema violation.
func Check(resourceJSON []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(resourceJSON))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	once.Do(load)
	if loadErr != nil {
		return loadErr
	}
	m, ok := inst.(map[string]any)
	if !ok {
		return fmt.Errorf("not a FHIR resource: want a JSON object")
	}
	rt, _ := m["resourceType"].(string)
	id, _ := m["id"].(string)
	if !resources[rt] {
		// The schema's root would say so too, once per resource type.
		return fmt.Errorf("%s/%s is not valid FHIR R4: resourceType %q is not an R4 resource", orNone(rt), orNone(id), rt)
	}
	sch, err := schemaFor(rt)
	if err != nil {
		return err
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s/%s is not valid FHIR R4:\n%s", orNone(rt), orNone(id), strings.Join(leaves(ve), "\n"))
		}
		return fmt.Errorf("%s/%s: %w", orNone(rt), orNone(id), err)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// leaves lists the innermost failures as "at /path: message": the full
// tree repeats every enclosing $ref.
func leaves(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		return []string{fmt.Sprintf("  at /%s: %s", strings.Join(ve.InstanceLocation, "/"), ve.ErrorKind.LocalizedString(printer))}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// Validate fails t when resourceJSON is not a valid FHIR R4 resource, and
// skips t when IISBRIDGE_FHIR_SCHEMA is unset.
func Validate(t testing.TB, resourceJSON []byte) {
	t.Helper()
	if err := Check(resourceJSON); err != nil {
		if errors.Is(err, ErrNoSchema) {
			t.Skip(err.Error())
			return
		}
		t.Error(err)
	}
}

// CheckNDJSON validates every line of an NDJSON file; errors carry
// path:line.
func CheckNDJSON(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var errs []error
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			errs = append(errs, fmt.Errorf("%s:%d: empty line", path, n))
			continue
		}
		if !json.Valid(line) {
			errs = append(errs, fmt.Errorf("%s:%d: not JSON", path, n))
			continue
		}
		if err := Check(line); err != nil {
			if errors.Is(err, ErrNoSchema) {
				return err
			}
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, n, err))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	return errors.Join(errs...)
}

// ValidateNDJSON fails t for every invalid line of the NDJSON file at
// path, and skips t when IISBRIDGE_FHIR_SCHEMA is unset.
func ValidateNDJSON(t testing.TB, path string) {
	t.Helper()
	if err := CheckNDJSON(path); err != nil {
		if errors.Is(err, ErrNoSchema) {
			t.Skip(err.Error())
			return
		}
		t.Error(err)
	}
}
