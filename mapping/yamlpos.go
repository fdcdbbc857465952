package mapping

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// refineYAMLError moves a YAML syntax error to the line that breaks the
// document. The YAML parser reports some errors at the start of the
// enclosing block ("did not find expected key" at the first line of a
// list whose 200th line is indented one space too far); the first prefix
// of the file, in whole lines, that no longer parses ends at the line
// that broke it. Found by bisection (a dozen parses of a prefix), and
// only used when it lies after the parser's line: truncating inside a
// multi-line flow collection or quoted string also fails to parse, and
// such a cut before the parser's line is not the error.
func refineYAMLError(data []byte, p *Problem) {
	if !strings.HasPrefix(p.Msg, "invalid YAML: ") || p.Line < 1 {
		return
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	fails := func(k int) bool {
		var n yaml.Node
		return yaml.Unmarshal(bytes.Join(lines[:k], nil), &n) != nil
	}
	if !fails(len(lines)) {
		return
	}
	lo, hi := p.Line, len(lines) // lo: the parser's line, hi: fails
	if fails(lo) {
		return // the prefix up to the reported line already fails: it is right
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	text := string(bytes.TrimRight(lines[hi-1], "\r\n"))
	col := len(text) - len(strings.TrimLeft(text, " \t")) + 1
	p.Msg += fmt.Sprintf(" (the parser noticed it at line %d, where the block it breaks begins; check this line's indentation)", p.Line)
	p.Line, p.Col = hi, col
}
