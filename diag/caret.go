package diag

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Quote renders a problem the way compilers do: its file:line:column and
// message, then the line of src it points at and a caret under the
// column. src is the text of p.File; when the line is not in src (or the
// problem has no line) only the first line is returned. Tabs before the
// column are kept in the caret line so the caret stays aligned.
func Quote(src []byte, p Problem) string {
	head := p.String()
	line, ok := lineOf(src, p.Line)
	if !ok {
		return head
	}
	line = strings.TrimRight(line, "\r")
	col := max(p.Col, 1)
	var pad strings.Builder
	n := 0 // columns are counted in characters, as the YAML parser does
	for _, r := range line {
		if n >= col-1 {
			break
		}
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
		n++
	}
	for ; n < col-1; n++ { // a column past the end of the line
		pad.WriteByte(' ')
	}
	gutter := fmt.Sprintf("%5d | ", p.Line)
	return fmt.Sprintf("%s\n%s%s\n%s%s^", head, gutter, line, strings.Repeat(" ", len(gutter)-2)+"| ", pad.String())
}

// lineOf returns the 1-based line n of src.
func lineOf(src []byte, n int) (string, bool) {
	if n < 1 {
		return "", false
	}
	for i := 1; ; i++ {
		end := bytes.IndexByte(src, '\n')
		if i == n {
			if end < 0 {
				if len(src) == 0 {
					return "", false
				}
				end = len(src)
			}
			if !utf8.Valid(src[:end]) {
				return "", false
			}
			return string(src[:end]), true
		}
		if end < 0 {
			return "", false
		}
		src = src[end+1:]
	}
}
