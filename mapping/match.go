package mapping

import (
	"regexp"
	"regexp/syntax"
)

// A matches: condition runs once per item it tests (the unit of every
// dose, the OBX-5 of every OBX, every telecom repetition), and the
// expressions admins write there are mostly short fixed shapes:
// '^V[0-9]{2}$', '(?i)^(ml|milliliters?|millilitres?)$', '\{\{'. Such a
// pattern is a finite set of fixed-length byte sequences, which
// fastMatcher tests directly; anything else, and any input that is not
// ASCII (where (?i) folds Unicode), goes to the regexp.

// matcher is a compiled matches: pattern.
type matcher struct {
	re   *regexp.Regexp
	fast *fastMatcher // nil: use re
}

func newMatcher(re *regexp.Regexp) *matcher {
	return &matcher{re: re, fast: compileFast(re.String())}
}

func (m *matcher) MatchString(s string) bool {
	if m.fast != nil && ascii(s) {
		return m.fast.match(s)
	}
	return m.re.MatchString(s)
}

// byteSet is a set of ASCII bytes.
type byteSet [2]uint64

func (b *byteSet) add(c rune) {
	if c < 128 {
		b[c>>6] |= 1 << (c & 63)
	}
}

func (b *byteSet) has(c byte) bool { return c < 128 && b[c>>6]&(1<<(c&63)) != 0 }

// fastMatcher: the pattern matches when one of seqs matches at the
// start (begin), at the end (end) or anywhere.
type fastMatcher struct {
	seqs       [][]byteSet
	begin, end bool
}

// maxSeqs bounds the expansion (x?y?z? ... doubles it each time).
const maxSeqs = 64

func compileFast(expr string) *fastMatcher {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	f := &fastMatcher{}
	if len(parts) > 0 && parts[0].Op == syntax.OpBeginText {
		f.begin, parts = true, parts[1:]
	}
	if len(parts) > 0 && parts[len(parts)-1].Op == syntax.OpEndText {
		f.end, parts = true, parts[:len(parts)-1]
	}
	seqs := [][]byteSet{nil}
	for _, p := range parts {
		if seqs = expand(seqs, p); seqs == nil {
			return nil
		}
	}
	f.seqs = seqs
	return f
}

// expand appends every sequence re matches to each of seqs (nil when re
// is not a finite set of fixed sequences of ASCII bytes, or too many).
func expand(seqs [][]byteSet, re *syntax.Regexp) [][]byteSet {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return seqs
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			var b byteSet
			if r >= 128 {
				return nil
			}
			b.add(r)
			if re.Flags&syntax.FoldCase != 0 {
				switch {
				case r >= 'a' && r <= 'z':
					b.add(r - 'a' + 'A')
				case r >= 'A' && r <= 'Z':
					b.add(r - 'A' + 'a')
				}
			}
			seqs = appendSet(seqs, b)
		}
		return seqs
	case syntax.OpCharClass:
		var b byteSet
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < 128; r++ {
				b.add(r)
			}
		}
		return appendSet(seqs, b)
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		var b byteSet
		for r := rune(0); r < 128; r++ {
			if r != '\n' || re.Op == syntax.OpAnyChar {
				b.add(r)
			}
		}
		return appendSet(seqs, b)
	case syntax.OpCapture:
		return expand(seqs, re.Sub[0])
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if seqs = expand(seqs, s); seqs == nil {
				return nil
			}
		}
		return seqs
	case syntax.OpAlternate, syntax.OpQuest:
		var out [][]byteSet
		if re.Op == syntax.OpQuest {
			out = append(out, copySeqs(seqs)...)
		}
		for _, s := range re.Sub {
			alt := expand(copySeqs(seqs), s)
			if alt == nil {
				return nil
			}
			out = append(out, alt...)
		}
		if len(out) > maxSeqs {
			return nil
		}
		return out
	}
	return nil
}

func appendSet(seqs [][]byteSet, b byteSet) [][]byteSet {
	for i := range seqs {
		seqs[i] = append(seqs[i], b)
	}
	return seqs
}

func copySeqs(seqs [][]byteSet) [][]byteSet {
	out := make([][]byteSet, len(seqs))
	for i, s := range seqs {
		out[i] = append([]byteSet(nil), s...)
	}
	return out
}

func (f *fastMatcher) match(s string) bool {
	for _, seq := range f.seqs {
		switch {
		case f.begin && f.end:
			if len(s) == len(seq) && matchAt(seq, s, 0) {
				return true
			}
		case f.begin:
			if len(s) >= len(seq) && matchAt(seq, s, 0) {
				return true
			}
		case f.end:
			if len(s) >= len(seq) && matchAt(seq, s, len(s)-len(seq)) {
				return true
			}
		default:
			for i := 0; i+len(seq) <= len(s); i++ {
				if matchAt(seq, s, i) {
					return true
				}
			}
		}
	}
	return false
}

func matchAt(seq []byteSet, s string, at int) bool {
	for k := range seq {
		if !seq[k].has(s[at+k]) {
			return false
		}
	}
	return true
}
