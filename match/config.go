package match

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
)

// Config is the matcher's YAML configuration; default.yaml (embedded) is
// the documented default and a file overrides any of its keys.
type Config struct {
	File      string `yaml:"-"`
	Normalize struct {
		Nicknames    bool   `yaml:"nicknames"`
		NicknameFile string `yaml:"nickname_file"`
	} `yaml:"normalize"`
	Fields     map[string]map[string]float64 `yaml:"fields"`
	Rules      []Rule                        `yaml:"rules"`
	Thresholds struct {
		Certain          float64 `yaml:"certain"`
		CertainMinWeight float64 `yaml:"certain_min_weight"`
		Probable         float64 `yaml:"probable"`
		Possible         float64 `yaml:"possible"`
	} `yaml:"thresholds"`
	Blocking struct {
		Keys          []string `yaml:"keys"`
		MaxBlock      int      `yaml:"max_block"`
		MaxCandidates int      `yaml:"max_candidates"`
	} `yaml:"blocking"`
}

// Rule is a deterministic rule: every Require condition and, when AnyOf is
// set, at least one of AnyOf.
type Rule struct {
	Name    string   `yaml:"name"`
	Require []string `yaml:"require"`
	AnyOf   []string `yaml:"any_of"`
}

//go:embed default.yaml
var defaultYAML []byte

// levels lists each field's comparison levels, best first.
var levels = map[string][]string{
	"given":      {"agree", "nickname", "similar", "initial", "disagree"},
	"family":     {"agree", "similar", "disagree"},
	"birth_date": {"agree", "transposed", "typo", "partial", "disagree"},
	"sex":        {"agree", "disagree"},
	"postal":     {"agree", "partial", "disagree"},
	"phone":      {"agree", "disagree"},
	"identifier": {"agree", "disagree"},
}

// fieldOrder fixes the order fields are compared and reported in.
var fieldOrder = []string{"given", "family", "birth_date", "sex", "postal", "phone", "identifier"}

// BlockingKeyKinds are the blocking keys a configuration may name.
var BlockingKeyKinds = []string{"identifier", "birth_date", "family_soundex_birth_year", "postal_given_initial", "phone", "given_family"}

var schema = map[string]any{
	"normalize":  map[string]any{"nicknames": nil, "nickname_file": nil},
	"fields":     nil, // checked against levels below
	"rules":      map[string]any{"[]": map[string]any{"name": nil, "require": nil, "any_of": nil}},
	"thresholds": map[string]any{"certain": nil, "certain_min_weight": nil, "probable": nil, "possible": nil},
	"blocking":   map[string]any{"keys": nil, "max_block": nil, "max_candidates": nil},
}

// DefaultConfig is the embedded default.yaml.
func DefaultConfig() *Config {
	c, err := Parse("default.yaml", nil)
	if err != nil {
		panic("match: the embedded default.yaml is invalid: " + err.Error())
	}
	return c
}

// Load reads a matcher configuration file over the defaults. Problems
// come back as a *diag.List with file:line:column.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read (nil: the defaults alone).
func Parse(path string, data []byte) (*Config, error) {
	c := &Config{}
	if err := decode("default.yaml", defaultYAML, c); err != nil {
		return nil, err
	}
	c.File = path
	if data != nil { // maps merge key by key; lists (rules, blocking keys) are replaced
		if err := decode(path, data, c); err != nil {
			return nil, err
		}
	}
	if c.Normalize.NicknameFile != "" && !filepath.IsAbs(c.Normalize.NicknameFile) {
		c.Normalize.NicknameFile = filepath.Join(filepath.Dir(path), c.Normalize.NicknameFile)
	}
	return c, nil
}

func decode(path string, data []byte, c *Config) error {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return &diag.List{Problems: []diag.Problem{{File: path, Msg: "YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	v := &validator{diag.YAMLChecker{File: path}}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	v.CheckKeys(doc, schema, "")
	v.checkFields(doc)
	if len(v.Problems) == 0 {
		old := c.Fields
		c.Fields = nil
		defer func() { // a file's field levels override the defaults one by one
			for f, lv := range old {
				if c.Fields == nil {
					c.Fields = map[string]map[string]float64{}
				}
				if c.Fields[f] == nil {
					c.Fields[f] = lv
					continue
				}
				for l, w := range lv {
					if _, set := c.Fields[f][l]; !set {
						c.Fields[f][l] = w
					}
				}
			}
		}()
		if err := doc.Decode(c); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				for _, m := range te.Errors {
					v.AddDecodeError(m)
				}
			} else {
				v.Add(doc, "%v", err)
			}
		}
	}
	if len(v.Problems) == 0 {
		v.validate(c, doc)
	}
	if len(v.Problems) > 0 {
		return &diag.List{Problems: v.Problems}
	}
	return nil
}

// validator collects the file's problems (diag.YAMLChecker).
type validator struct{ diag.YAMLChecker }

// checkFields checks fields.<field>.<level> names and that weights are numbers.
func (v *validator) checkFields(doc *yaml.Node) {
	f := child(doc, "fields")
	if f == nil || f.Kind != yaml.MappingNode {
		if f != nil && f.Tag != "!!null" {
			v.Add(f, "fields: want a mapping of field to level weights")
		}
		return
	}
	for i := 0; i+1 < len(f.Content); i += 2 {
		k, val := f.Content[i], f.Content[i+1]
		lv, ok := levels[k.Value]
		if !ok {
			v.Add(k, "unknown field %q in fields (known: %s)", k.Value, strings.Join(fieldOrder, ", "))
			continue
		}
		if val.Kind != yaml.MappingNode {
			v.Add(val, "fields.%s: want a mapping of level to weight", k.Value)
			continue
		}
		for j := 0; j+1 < len(val.Content); j += 2 {
			lk, lval := val.Content[j], val.Content[j+1]
			if lk.Value == "similar_at" && (k.Value == "given" || k.Value == "family") {
				if x, err := strconv.ParseFloat(lval.Value, 64); err != nil || lval.Kind != yaml.ScalarNode || x <= 0 || x > 1 {
					v.Add(lval, "fields.%s.similar_at: want a Jaro-Winkler similarity in (0, 1]", k.Value)
				}
				continue
			}
			if !slices.Contains(lv, lk.Value) {
				v.Add(lk, "unknown level %q in fields.%s (known: %s)", lk.Value, k.Value, strings.Join(lv, ", "))
				continue
			}
			if _, err := strconv.ParseFloat(lval.Value, 64); err != nil || lval.Kind != yaml.ScalarNode {
				v.Add(lval, "fields.%s.%s: want a number", k.Value, lk.Value)
			}
		}
	}
}

func child(n *yaml.Node, path ...any) *yaml.Node {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n == nil || n.Kind != yaml.MappingNode {
				return nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
				}
			}
			n = next
		case int:
			if n == nil || n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return nil
			}
			n = n.Content[k]
		}
	}
	return n
}

// at is child, or the document when the key is not in this file (a value
// from the defaults).
func at(doc *yaml.Node, path ...any) *yaml.Node {
	if n := child(doc, path...); n != nil {
		return n
	}
	return nil
}

func (v *validator) validate(c *Config, doc *yaml.Node) {
	t := c.Thresholds
	th := func(k string) *yaml.Node { return at(doc, "thresholds", k) }
	for _, x := range []struct {
		k string
		v float64
	}{{"certain", t.Certain}, {"probable", t.Probable}, {"possible", t.Possible}} {
		if x.v <= 0 || x.v > 1 {
			v.Add(th(x.k), "thresholds.%s: want a score in (0, 1], got %g", x.k, x.v)
		}
	}
	if !(t.Possible <= t.Probable && t.Probable <= t.Certain) {
		v.Add(th("probable"), "thresholds: want possible ≤ probable ≤ certain, got %g, %g, %g", t.Possible, t.Probable, t.Certain)
	}
	for f, lv := range c.Fields {
		if lv["agree"] < 0 {
			v.Add(at(doc, "fields", f, "agree"), "fields.%s.agree: want a weight ≥ 0", f)
		}
	}
	for i, r := range c.Rules {
		if r.Name == "" {
			v.Add(at(doc, "rules", i), "rules[%d]: want a name", i)
		}
		if len(r.Require) == 0 {
			v.Add(at(doc, "rules", i), "rules[%d] %q: want at least one require condition", i, r.Name)
		}
		for j, cond := range r.Require {
			if err := checkCond(cond); err != nil {
				v.Add(at(doc, "rules", i, "require", j), "rules[%d].require: %v", i, err)
			}
		}
		for j, cond := range r.AnyOf {
			if err := checkCond(cond); err != nil {
				v.Add(at(doc, "rules", i, "any_of", j), "rules[%d].any_of: %v", i, err)
			}
		}
	}
	b := c.Blocking
	if len(b.Keys) == 0 {
		v.Add(at(doc, "blocking", "keys"), "blocking.keys: want at least one key (known: %s)", strings.Join(BlockingKeyKinds, ", "))
	}
	for i, k := range b.Keys {
		if !slices.Contains(BlockingKeyKinds, k) {
			v.Add(at(doc, "blocking", "keys", i), "blocking.keys: unknown key %q (known: %s)", k, strings.Join(BlockingKeyKinds, ", "))
		}
	}
	if b.MaxBlock < 1 {
		v.Add(at(doc, "blocking", "max_block"), "blocking.max_block: want a positive count")
	}
	if b.MaxCandidates < 1 {
		v.Add(at(doc, "blocking", "max_candidates"), "blocking.max_candidates: want a positive count")
	}
}

func checkCond(s string) error {
	f, l, _ := strings.Cut(s, ":")
	lv, ok := levels[f]
	if !ok {
		return fmt.Errorf("unknown field %q (known: %s)", f, strings.Join(fieldOrder, ", "))
	}
	if l != "" && !slices.Contains(lv, l) {
		return fmt.Errorf("unknown level %q of %s (known: %s)", l, f, strings.Join(lv, ", "))
	}
	return nil
}
