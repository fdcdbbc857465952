package diag

import "strings"

// Nearest returns the candidate closest to s in edit distance, for a "did
// you mean" (a misspelt key, function, variable or element name), and
// false when none is near enough to be a likely typo: at most a third of
// s's length, and at least 1 and at most 3 edits. Case differences count
// as a single edit, so `BirthDate` finds `birthDate`.
func Nearest(s string, candidates []string) (string, bool) {
	if s == "" {
		return "", false
	}
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if c == s {
			return "", false // s is valid: nothing to suggest
		}
		d := EditDistance(s, c)
		if strings.EqualFold(s, c) {
			d = 1
		}
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > min(3, max(1, len(s)/3)) {
		return "", false
	}
	return best, true
}

// DidYouMean is Nearest as the tail of a message: `; did you mean "x"?`,
// or "" when nothing is near.
func DidYouMean(s string, candidates []string) string {
	if c, ok := Nearest(s, candidates); ok {
		return `; did you mean "` + c + `"?`
	}
	return ""
}

// EditDistance is the edit distance of a and b in bytes, counting a swap
// of two neighbours as one edit (optimal string alignment), the commonest
// typo.
func EditDistance(a, b string) int {
	pp := make([]int, len(b)+1) // row i-2
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[len(b)]
}
