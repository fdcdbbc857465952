package sql

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
)

// Config describes one relational source: where the database is and which
// tables (or queries) hold a person and their child rows. Each table is
// read in key order; every child table points to the person key through
// its parent column.
type Config struct {
	Source    string  `yaml:"source"`     // the source's id: names it in problems and locators
	Driver    string  `yaml:"driver"`     // sqlite, mysql, pgx, sqlserver (empty: from the DSN's scheme)
	DSN       string  `yaml:"dsn"`        // ${NAME} is replaced by the environment variable NAME
	BatchSize int     `yaml:"batch_size"` // persons per batch; default 1000
	Persons   Table   `yaml:"persons"`    // the root: one row per person
	Children  []Table `yaml:"children"`   // rows of a person: names, addresses, identifiers, immunizations, ...
	Lookups   []Table `yaml:"lookups"`    // rows that child rows point to (lots, organizations), fetched per batch

	file string
	doc  *yaml.Node
}

// Table is one table or query of the description.
type Table struct {
	Name       string            `yaml:"name"`        // children and lookups: the name the mapping uses
	Table      string            `yaml:"table"`       // a table (schema.table allowed), or
	Query      string            `yaml:"query"`       // a SELECT whose result is read like a table
	Key        string            `yaml:"key"`         // the row's unique key (persons: the person key)
	Parent     string            `yaml:"parent"`      // children: the column holding the person key
	From       string            `yaml:"from"`        // lookups: child.column holding this table's key
	Modified   string            `yaml:"modified"`    // last-modified column (UTC), for _since/_until
	Deleted    *Deleted          `yaml:"deleted"`     // soft-delete flag
	MergedInto string            `yaml:"merged_into"` // persons: the column naming the surviving person
	Dates      map[string]string `yaml:"dates"`       // string columns holding dates, and their Go layout
	Timestamps []string          `yaml:"timestamps"`  // text columns holding UTC timestamps (SQLite)
}

// Deleted says which values of a column mark a row soft-deleted.
type Deleted struct {
	Column string   `yaml:"column"`
	Values []string `yaml:"values"`
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultConfig is the description of the default schema (default.yaml),
// with dsn and driver left to the caller.
func DefaultConfig() *Config {
	c, err := ParseConfig("sources/sql/default.yaml", defaultYAML)
	if err != nil {
		panic(err) // a test keeps default.yaml valid
	}
	return c
}

// LoadConfig reads and validates a source description.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, b)
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// ParseConfig parses and validates a description; every problem comes
// back in a *diag.List with file:line:column.
func ParseConfig(file string, b []byte) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlProblems(file, err)
	}
	c := &Config{file: file, doc: &doc}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, yamlProblems(file, err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func yamlProblems(file string, err error) error {
	var te *yaml.TypeError
	var ps []diag.Problem
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		p := diag.Problem{File: file, Msg: m}
		if g := lineRE.FindStringSubmatch(m); g != nil {
			p.Line, _ = strconv.Atoi(g[1])
			p.Col, p.Msg = 1, g[2]
		}
		ps = append(ps, p)
	}
	return &diag.List{Problems: ps}
}

// node finds the YAML node at path (map keys and list indexes), or the
// closest existing ancestor, for positions.
func (c *Config) node(path ...any) *yaml.Node {
	n := c.doc
	if n == nil {
		return &yaml.Node{}
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

const (
	defaultBatch = 1000
	maxBatch     = 2000 // the IN lists stay under SQL Server's 2100 parameters
)

func (c *Config) validate() error {
	var ps []diag.Problem
	add := func(n *yaml.Node, format string, args ...any) {
		ps = append(ps, diag.Problem{File: c.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Source == "" {
		add(c.node(), "source: give the source an id (it names the source in problems and locators)")
	}
	if c.Driver != "" {
		if _, err := DialectFor(c.Driver); err != nil {
			add(c.node("driver"), "driver: %v", err)
		}
	}
	switch {
	case c.BatchSize == 0:
		c.BatchSize = defaultBatch
	case c.BatchSize < 1 || c.BatchSize > maxBatch:
		add(c.node("batch_size"), "batch_size: want 1..%d, got %d", maxBatch, c.BatchSize)
	}
	check := func(t *Table, path []any, role string) {
		at := func(k string) *yaml.Node { return c.node(append(path, k)...) }
		if (t.Table == "") == (t.Query == "") {
			add(c.node(path...), "%s: give either table or query", role)
		}
		if t.Key == "" {
			add(c.node(path...), "%s: key: name the column that identifies a row", role)
		}
		if role != "persons" {
			if t.Name == "" || !identRE.MatchString(t.Name) {
				add(at("name"), "%s: name: want a name of letters, digits and _", role)
			}
			if t.MergedInto != "" {
				add(at("merged_into"), "%s: merged_into applies to persons only", role)
			}
		}
		if role == "children" && t.Parent == "" {
			add(c.node(path...), "children: %s: parent: name the column holding the person key", t.Name)
		}
		if role != "children" && t.Parent != "" {
			add(at("parent"), "%s: parent applies to children only", role)
		}
		if role == "lookups" {
			child, col, ok := strings.Cut(t.From, ".")
			if !ok || col == "" || !c.hasChild(child) {
				add(at("from"), "lookups: %s: from: want CHILD.COLUMN naming one of the children, got %q", t.Name, t.From)
			}
			if t.Modified != "" {
				add(at("modified"), "lookups: %s: modified is not used: a lookup row is shared, not a person's", t.Name)
			}
		} else if t.From != "" {
			add(at("from"), "%s: from applies to lookups only", role)
		}
		if t.Deleted != nil && (t.Deleted.Column == "" || len(t.Deleted.Values) == 0) {
			add(at("deleted"), "%s: deleted: want column and values", role)
		}
		for col, layout := range t.Dates {
			probe := time.Date(2001, 2, 3, 0, 0, 0, 0, time.UTC)
			if back, err := time.Parse(layout, probe.Format(layout)); err != nil || !back.Equal(probe) {
				add(c.node(append(path, "dates", col)...), "%s: dates: %s: layout %q does not hold a full date (write 2 January 2006 as the layout shows it, e.g. 01/02/2006)", role, col, layout)
			}
		}
	}
	check(&c.Persons, []any{"persons"}, "persons")
	seen := map[string]bool{}
	for i := range c.Children {
		check(&c.Children[i], []any{"children", i}, "children")
		if n := c.Children[i].Name; seen[n] {
			add(c.node("children", i, "name"), "children: name %q is used twice", n)
		}
		seen[c.Children[i].Name] = true
	}
	for i := range c.Lookups {
		check(&c.Lookups[i], []any{"lookups", i}, "lookups")
		if n := c.Lookups[i].Name; seen[n] {
			add(c.node("lookups", i, "name"), "lookups: name %q is used twice", n)
		}
		seen[c.Lookups[i].Name] = true
	}
	if len(ps) > 0 {
		return &diag.List{Problems: ps}
	}
	return nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) hasChild(name string) bool {
	for _, t := range c.Children {
		if t.Name == name {
			return true
		}
	}
	return false
}

// expandDSN replaces ${NAME} with the environment variable NAME (only that
// form: a bare $ is common in passwords) and returns the values put in,
// which redact() keeps out of every message.
func expandDSN(dsn string) (string, []string, error) {
	var out strings.Builder
	var secrets []string
	for {
		i := strings.Index(dsn, "${")
		if i < 0 {
			out.WriteString(dsn)
			break
		}
		j := strings.IndexByte(dsn[i:], '}')
		if j < 0 {
			return "", nil, errors.New("dsn: unclosed ${")
		}
		name := dsn[i+2 : i+j]
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", nil, fmt.Errorf("dsn: environment variable %s is not set", name)
		}
		out.WriteString(dsn[:i])
		out.WriteString(v)
		if v != "" {
			secrets = append(secrets, v)
		}
		dsn = dsn[i+j+1:]
	}
	return out.String(), secrets, nil
}
