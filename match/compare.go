package match

// JaroWinkler is the Jaro-Winkler similarity of a and b (0 = nothing in
// common, 1 = equal), with the usual prefix scale 0.1 over at most 4
// runes. Names are compared after normalization, so runes are bytes in
// practice, but the function is correct for any UTF-8.
func JaroWinkler(a, b string) float64 {
	if a == b {
		if a == "" {
			return 0
		}
		return 1
	}
	ra, rb := []rune(a), []rune(b)
	j := jaro(ra, rb)
	prefix := 0
	for prefix < len(ra) && prefix < len(rb) && prefix < 4 && ra[prefix] == rb[prefix] {
		prefix++
	}
	return j + float64(prefix)*0.1*(1-j)
}

func jaro(a, b []rune) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	window := max(len(a), len(b))/2 - 1
	window = max(window, 0)
	var ma, mb [64]bool // names are short; longer strings fall back to slices
	var matchA, matchB []bool
	if len(a) > 64 || len(b) > 64 {
		matchA, matchB = make([]bool, len(a)), make([]bool, len(b))
	} else {
		matchA, matchB = ma[:len(a)], mb[:len(b)]
	}
	m := 0
	for i := range a {
		lo, hi := max(0, i-window), min(len(b), i+window+1)
		for k := lo; k < hi; k++ {
			if !matchB[k] && a[i] == b[k] {
				matchA[i], matchB[k] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, k := 0, 0
	for i := range a {
		if !matchA[i] {
			continue
		}
		for !matchB[k] {
			k++
		}
		if a[i] != b[k] {
			t++
		}
		k++
	}
	fm := float64(m)
	return (fm/float64(len(a)) + fm/float64(len(b)) + (fm-float64(t)/2)/fm) / 3
}

// Soundex is the American Soundex code of a normalized (lower-case ASCII)
// name: its first letter and three digits, "" for a name with no letter.
func Soundex(s string) string {
	const codes = "01230120022455012623010202" // a..z
	var out [4]byte
	n := 0
	var last byte
	for i := 0; i < len(s) && n < 4; i++ {
		c := s[i]
		if c < 'a' || c > 'z' {
			continue
		}
		d := codes[c-'a']
		if n == 0 {
			out[0] = c - 'a' + 'A'
			n, last = 1, d
			continue
		}
		if c == 'h' || c == 'w' { // do not separate equal codes
			continue
		}
		if d != '0' && d != last {
			out[n] = d
			n++
		}
		last = d
	}
	if n == 0 {
		return ""
	}
	for ; n < 4; n++ {
		out[n] = '0'
	}
	return string(out[:])
}

// oneEdit reports whether a and b (bytes) differ by exactly one
// substitution, insertion, deletion or swap of adjacent letters: the
// keying errors Jaro-Winkler undervalues in short names (Mia, Mya).
func oneEdit(a, b string) bool {
	if a == b {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	switch len(b) - len(a) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		if a[i+1:] == b[i+1:] {
			return true
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case 1:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}
