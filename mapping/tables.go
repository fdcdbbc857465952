package mapping

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
)

// Policy says what a table lookup does with a code the table lacks. Like
// functions, policies are declared once here and drive check and docs.
type Policy struct {
	Name     string
	Doc      string
	Unmapped func(e *env, t *table, code string) (string, error)
}

var policies = map[string]*Policy{}

func registerPolicy(p *Policy) { policies[p.Name] = p }

// Policies lists the table policies by name.
func Policies() []*Policy {
	out := make([]*Policy, 0, len(policies))
	for _, p := range policies {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func init() {
	registerPolicy(&Policy{Name: "pass", Doc: "an unmapped code passes through unchanged",
		Unmapped: func(_ *env, _ *table, code string) (string, error) { return code, nil }})
	registerPolicy(&Policy{Name: "warn", Doc: "an unmapped code passes through, with a warning issue",
		Unmapped: func(e *env, t *table, code string) (string, error) {
			e.warnf("code-invalid", "code %s is not in table %s; kept as sent", quoteCode(code), t.name)
			return code, nil
		}})
	registerPolicy(&Policy{Name: "reject", Doc: "an unmapped code rejects the resource (error issue code-invalid); the rest of the record still converts",
		Unmapped: func(_ *env, t *table, code string) (string, error) {
			return "", &rejectError{code: "code-invalid", msg: fmt.Sprintf("code %s is not in table %s", quoteCode(code), t.name)}
		}})
	registerPolicy(&Policy{Name: "drop", Doc: "an unmapped code gives an empty value, with a warning issue",
		Unmapped: func(e *env, t *table, code string) (string, error) {
			e.warnf("code-invalid", "code %s is not in table %s; left out", quoteCode(code), t.name)
			return "", nil
		}})
	registerPolicy(&Policy{Name: "omit", Doc: "an unmapped code gives an empty value, silently (the element is left out, or first_nonempty/cases move on)",
		Unmapped: func(*env, *table, string) (string, error) { return "", nil }})
}

type tableEntry struct{ code, display, system string }

type table struct {
	name    string
	policy  *Policy
	entries map[string]tableEntry
	index   *codeIndex // entries, for lookup (made at link)
}

// lastLookup is the last lookup of a table whose code is read for
// several fields (tableRef.last): code's entry in t (nil: not in it),
// current when gen is env.gen.
type lastLookup struct {
	t    *table
	code string
	ent  *tableEntry
	gen  uint32
}

// lookup matches exactly, then case-insensitively (keys are stored as
// sent and upper-cased).
func (t *table) lookup(code string) *tableEntry {
	if t.index == nil {
		e, ok := t.entries[code]
		if !ok {
			e, ok = t.entries[strings.ToUpper(code)]
		}
		if !ok {
			return nil
		}
		return &e
	}
	if e := t.index.find(code); e != nil {
		return e
	}
	if u := strings.ToUpper(code); u != code {
		return t.index.find(u)
	}
	return nil
}

// codeIndex holds a table's entries in an open-addressed array hashed with
// FNV-1a: codes are short, and a Go map spends more on hashing them and,
// in a small map, on comparing every key of a miss.
type codeIndex struct {
	mask  uint32
	slots []codeSlot // a power of two, at least twice the entries
	ents  []tableEntry
}

type codeSlot struct {
	key string
	ent int32 // ents[ent-1]; 0: an empty slot
}

func newCodeIndex(entries map[string]tableEntry) *codeIndex {
	n := 8
	for n < 2*len(entries) {
		n *= 2
	}
	x := &codeIndex{mask: uint32(n - 1), slots: make([]codeSlot, n), ents: make([]tableEntry, 0, len(entries))}
	for k, e := range entries {
		i := fnv(k) & x.mask
		for x.slots[i].ent != 0 {
			i = (i + 1) & x.mask
		}
		x.ents = append(x.ents, e)
		x.slots[i] = codeSlot{key: k, ent: int32(len(x.ents))}
	}
	return x
}

func (x *codeIndex) get(code string) (tableEntry, bool) {
	if e := x.find(code); e != nil {
		return *e, true
	}
	return tableEntry{}, false
}

// find is the entry of code in place, or nil.
func (x *codeIndex) find(code string) *tableEntry {
	for i := fnv(code) & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.ent == 0 {
			return nil
		}
		if s.key == code {
			return &x.ents[s.ent-1]
		}
	}
}

func fnv(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func (t *table) add(from string, e tableEntry) {
	t.entries[from] = e
	if u := strings.ToUpper(from); u != from {
		if _, dup := t.entries[u]; !dup {
			t.entries[u] = e
		}
	}
}

// loadCSV reads a table file: header row, then from,code,display[,system][,status].
// A row whose status is "inactive" or "deprecated" still maps (old data
// carries old codes). Problems are reported with the file's own line.
func (c *compiler) loadCSV(t *table, fsys fs.FS, name, display string) {
	fsys, name, builtin := resolveTableFile(fsys, name)
	f, err := fsys.Open(name)
	if err != nil {
		c.problems = append(c.problems, tableFileProblem(c.file, t.name, display, builtin, err))
		return
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	header := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				c.problems = append(c.problems, Problem{File: display, Line: pe.Line, Col: pe.Column, Msg: "invalid CSV: " + pe.Err.Error()})
			} else {
				c.problems = append(c.problems, Problem{File: display, Line: 1, Col: 1, Msg: "invalid CSV: " + err.Error()})
			}
			return
		}
		line, col := r.FieldPos(0)
		if header {
			header = false
			if len(rec) < 2 || !strings.EqualFold(strings.TrimSpace(rec[0]), "from") || !strings.EqualFold(strings.TrimSpace(rec[1]), "code") {
				c.problems = append(c.problems, Problem{File: display, Line: line, Col: col, Msg: "header must be from,code,display[,system][,status]"})
				return
			}
			continue
		}
		if len(rec) < 2 || len(rec) > 5 {
			c.problems = append(c.problems, Problem{File: display, Line: line, Col: col, Msg: fmt.Sprintf("want 2 to 5 columns (from,code,display[,system][,status]), got %d", len(rec))})
			continue
		}
		from := strings.TrimSpace(rec[0])
		if from == "" {
			c.problems = append(c.problems, Problem{File: display, Line: line, Col: col, Msg: "empty from column"})
			continue
		}
		e := tableEntry{code: strings.TrimSpace(rec[1])}
		if len(rec) > 2 {
			e.display = strings.TrimSpace(rec[2])
		}
		if len(rec) > 3 {
			e.system = strings.TrimSpace(rec[3])
		}
		if _, dup := t.entries[from]; dup {
			c.problems = append(c.problems, Problem{File: display, Line: line, Col: col, Msg: fmt.Sprintf("code %q listed twice", from)})
			continue
		}
		t.add(from, e)
	}
}
