package diag

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// YAMLChecker collects the problems of one YAML file an admin edits, each
// at the position of the node it concerns.
type YAMLChecker struct {
	File     string
	Problems []Problem
}

// Add records a problem at node n (nil: the whole file).
func (c *YAMLChecker) Add(n *yaml.Node, format string, args ...any) {
	p := Problem{File: c.File, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	c.Problems = append(c.Problems, p)
}

var yamlLineMsg = regexp.MustCompile(`^line (\d+): (.*)$`)

// AddDecodeError records one of yaml.v3's "line N: msg" decode errors at
// its line.
func (c *YAMLChecker) AddDecodeError(m string) {
	if g := yamlLineMsg.FindStringSubmatch(m); g != nil {
		l, _ := strconv.Atoi(g[1])
		c.Problems = append(c.Problems, Problem{File: c.File, Line: l, Col: 1, Msg: g[2]})
		return
	}
	c.Problems = append(c.Problems, Problem{File: c.File, Msg: m})
}

// CheckKeys reports every key of n that spec does not allow. A spec is a
// map of allowed keys to the spec of their values (nil: any value), with
// the key "[]" for a list of elements of that spec; any other spec (a
// string) leaves the value free-form. path names n in messages.
func (c *YAMLChecker) CheckKeys(n *yaml.Node, spec any, path string) {
	s, ok := spec.(map[string]any)
	if !ok {
		return
	}
	null := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	if elem, ok := s["[]"]; ok {
		if n.Kind != yaml.SequenceNode {
			if !null {
				c.Add(n, "%s: want a list", strings.TrimPrefix(path, "."))
			}
			return
		}
		for i, e := range n.Content {
			c.CheckKeys(e, elem, fmt.Sprintf("%s[%d]", path, i))
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		if !null {
			c.Add(n, "%s: want a mapping", strings.TrimPrefix(path, "."))
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		sub, ok := s[k.Value]
		if !ok {
			in := ""
			if path != "" {
				in = " in " + strings.TrimPrefix(path, ".")
			}
			c.Add(k, "unknown key %q%s", k.Value, in)
			continue
		}
		if sub != nil {
			c.CheckKeys(val, sub, path+"."+k.Value)
		}
	}
}
