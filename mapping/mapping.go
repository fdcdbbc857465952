// Package mapping turns source records (v2 messages, SQL rows) into FHIR
// resources with declarative YAML mappings that IIS admins edit.
//
// The language is described in README.md; the default mappings for CDC
// VXU^V04 and RSP^K11 are in defaults/.
package mapping

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// Mapping is a compiled mapping: validated once, applied per record,
// safe for concurrent use.
type Mapping struct {
	impl    *mappingImpl
	exclude *exclusion // the exclude: list (exclude.go), nil when none
}

// Problem is one thing wrong with a mapping file, at a position.
type Problem = diag.Problem

// CheckError lists every problem found in a mapping (not just the first).
type CheckError = diag.List

// Load reads, validates and compiles a mapping file (and the code-table
// files it names, relative to it). Validation errors are a *CheckError.
func Load(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return compileMapping(data, path, dirFS(filepath.Dir(path)), ".")
}

// Parse compiles a mapping held in memory; table files are read from fsys
// relative to dir. name is the file name shown in problems.
func Parse(data []byte, name string, fsys fs.FS, dir string) (*Mapping, error) {
	return compileMapping(data, name, fsys, dir)
}

func compileMapping(data []byte, name string, fsys fs.FS, dir string) (*Mapping, error) {
	data, exNode := splitExclude(data)
	impl, problems := compile(data, name, fsys, dir)
	locateTableFiles(data, name, problems)
	if len(problems) == 1 {
		refineYAMLError(data, &problems[0])
	}
	var ex *exclusion
	if exNode != nil {
		var ps []Problem
		ex, ps = compileExclude(exNode, name)
		problems = append(problems, ps...)
	}
	if len(problems) > 0 {
		return nil, &CheckError{Problems: problems}
	}
	return &Mapping{impl: impl, exclude: ex}, nil
}

// Stats says how big a compiled mapping is (for `mapping check`).
func (m *Mapping) Stats() (resources, rules int) {
	return len(m.impl.resources), m.impl.nRules
}

// Constant is the value of one of the mapping's constants.
func (m *Mapping) Constant(name string) (string, bool) {
	v, ok := m.impl.consts[name]
	return v, ok
}

// File is the mapping's file name as given to Load ("defaults/default.yaml"
// for the shipped one).
func (m *Mapping) File() string { return m.impl.file }

// dirFS opens files relative to a directory, ".." included (a table may
// be shared by several mappings).
type dirFS string

func (d dirFS) Open(name string) (fs.File, error) {
	return os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
}

// Default is the shipped mapping for CDC IIS v2.5.1 VXU^V04 / RSP^K11.
func Default() *Mapping {
	defaultOnce.Do(func() {
		data, err := fs.ReadFile(defaultFS, "defaults/default.yaml")
		if err == nil {
			defaultMapping, err = compileMapping(data, "defaults/default.yaml", defaultFS, "defaults")
		}
		if err != nil {
			panic("mapping: the shipped default mapping is invalid: " + err.Error())
		}
	})
	return defaultMapping
}

//go:embed defaults
var defaultFS embed.FS

var (
	defaultOnce    sync.Once
	defaultMapping *Mapping
)

// Row is one relational record: column name to value (the SQL source
// implements it later).
type Row interface {
	Column(name string) (value string, ok bool)
}

// IndexedRow is what a Row may add (optional; found by type assertion):
// reads by position. Rows of one Layout (e.g. one query's result) hold
// the same columns at the same positions, so the mapping finds a
// column's position once per layout and then reads it by index instead
// of by name.
type IndexedRow interface {
	Row
	Layout() ColumnLayout
	// ColumnAt is the value at position i (from Layout().ColumnIndex);
	// ok is false for NULL or a position < 0.
	ColumnAt(i int) (value string, ok bool)
}

// ColumnLayout is the column list of a set of IndexedRows; compared by
// identity (==), so it must be a comparable value, typically a pointer.
type ColumnLayout interface {
	// ColumnIndex is the column's position, or -1 when there is none.
	ColumnIndex(name string) int
}

// Input is one source record plus what the identity layer knows of it.
type Input struct {
	Msg *hl7v2.Message // v2 sources
	Row Row            // relational sources: one row (`columns:` a list)
	// Person is a relational source's person with their child and lookup
	// rows (`columns:` by table); it takes the place of Row. Loc.Source
	// must be the source's id: the default mapping hashes it into
	// Immunization ids so that two sources' ids cannot collide.
	Person Person
	Loc    sources.Location
	// PatientID is the identity layer's id for this record's person; when
	// empty the mapping derives a stable id from the record itself.
	PatientID string
	// LastUpdated becomes meta.lastUpdated of every resource; zero = omit.
	LastUpdated time.Time
	// Want, when set, is asked before each resource is built: its type and,
	// for a resource made per ORDER group, the group's 0-based index in
	// Msg.Orders(), for one made per child row (foreach: CHILD), the row's
	// 0-based index in Person.Rows(CHILD) (else -1). Returning false skips the resource at no cost,
	// so a caller that already knows which doses it needs (the history
	// reduction) maps only those.
	Want func(resourceType string, order int) bool
}

// Trace says which rule produced one FHIR element, from which source value.
type Trace struct {
	Element string // e.g. Patient.name[0].family
	Rule    string // file:line
	Source  string // e.g. PID-5.1
	Value   string
	// Resource is the resource the element belongs to, "Patient/<id>".
	Resource string
}

// Output is what one record became. Resources in emission order (Patient
// first). A rejected resource is absent from Resources and has an error
// Issue; the rest of the record still converts.
type Output struct {
	Resources []*fhirout.Object
	Issues    []fhirout.Issue
	Trace     []Trace // only when asked for
}

// Apply converts one record. It never panics on bad input.
func (m *Mapping) Apply(in Input, trace bool) Output {
	out := m.apply(in, trace)
	m.exclude.apply(&out)
	return out
}

// DefaultSource is the shipped mapping's YAML text (the server names the
// live mapping by the hash of its text).
func DefaultSource() []byte {
	b, _ := fs.ReadFile(defaultFS, "defaults/default.yaml")
	return b
}
