package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/iisbridge/iisbridge/mapping"
)

// previewOptions are mapping preview's display choices.
type previewOptions struct {
	wide, traceOnly bool
	rules           *ruleText
}

// source is the FROM column of a trace line: the source field, and the
// code tables the rule looked it up in (`ORDER[1] RXA-5 → cvx → 08`).
func (o previewOptions) source(t mapping.Trace) string {
	src := t.Source
	if src == "" {
		src = "(constant)"
	}
	if tables := o.rules.tables(t.Rule); len(tables) > 0 {
		if o.traceOnly { // the value is on the line already
			return src + " → " + strings.Join(tables, "|")
		}
		v := t.Value
		if !o.wide {
			v = clip(v, 24)
		}
		return src + " → " + strings.Join(tables, "|") + " → " + v
	}
	return src
}

// ruleText reads the tables a rule looks up from the mapping's text: the
// trace names the rule by file:line, and the engine keeps no more, so the
// rule's line is read for table("NAME", ...) calls, and when its value is
// one variable ($cvx), the nearest let line defining it above the rule.
// It sees what is on those lines (a rule written over several lines, or a
// variable built from other variables, shows no table).
type ruleText struct {
	file  string // the mapping's File()
	lines []string
}

func newRuleText(m *mapping.Mapping) *ruleText {
	var text []byte
	switch m {
	case mapping.Default():
		text = mapping.DefaultSource()
	case mapping.DefaultSQL():
		text = mapping.DefaultSQLSource()
	default:
		text, _ = os.ReadFile(m.File())
	}
	return &ruleText{file: m.File(), lines: strings.Split(string(text), "\n")}
}

var (
	tableCall = regexp.MustCompile(`\btable\(\s*"([^"]+)"`)
	oneVar    = regexp.MustCompile(`\bvalue:\s*'?\$([A-Za-z_][A-Za-z0-9_]*)'?\s*[},]?\s*$`)
)

// tables lists the tables the rule at file:line looks up, in order.
func (r *ruleText) tables(rule string) []string {
	if r == nil {
		return nil
	}
	i := strings.LastIndexByte(rule, ':')
	if i < 0 || rule[:i] != r.file {
		return nil
	}
	n, err := strconv.Atoi(rule[i+1:])
	if err != nil || n < 1 || n > len(r.lines) {
		return nil
	}
	line := r.lines[n-1]
	if names := tableNames(line); len(names) > 0 {
		return names
	}
	m := oneVar.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	def := regexp.MustCompile(`^\s+` + regexp.QuoteMeta(m[1]) + `:\s`)
	for k := n - 2; k >= 0; k-- {
		if def.MatchString(r.lines[k]) {
			return tableNames(r.lines[k])
		}
	}
	return nil
}

func tableNames(line string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range tableCall.FindAllStringSubmatch(line, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}
