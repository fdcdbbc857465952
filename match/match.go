package match

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// Grade is the FHIR match-grade of a candidate
// (http://hl7.org/fhir/StructureDefinition/match-grade).
type Grade string

const (
	Certain      Grade = "certain"
	Probable     Grade = "probable"
	Possible     Grade = "possible"
	CertainlyNot Grade = "certainly-not"
)

// Outcome says what became of one input.
type Outcome string

const (
	Matched   Outcome = "matched"   // exactly one certain candidate
	Ambiguous Outcome = "ambiguous" // several certain candidates, or only probable/possible ones
	NotFound  Outcome = "not-found" // no candidate graded possible or better
)

// Candidates is the person side of matching: the bridge's persons (or a
// test population). Implementations file every person under the keys
// Matcher.BlockingKeys gives for it, and must be safe for concurrent use.
type Candidates interface {
	// Lookup returns the ids filed under key, or more = true (and no ids)
	// when there are over limit: a block too common to use.
	Lookup(ctx context.Context, key string, limit int) (ids []string, more bool, err error)
	// Person returns the demographics of one person; ok is false for an
	// id no longer known.
	Person(ctx context.Context, id string) (r Record, ok bool, err error)
}

// RecordLookup is implemented by stores that read a block's persons
// with their demographics in one query (SQLStore): Match then asks for
// no person one by one.
type RecordLookup interface {
	LookupRecords(ctx context.Context, key string, limit int) (recs []Record, more bool, err error)
}

// Candidate is one person an input may be.
type Candidate struct {
	ID     string  `json:"id"`
	Score  float64 `json:"score"` // 0..1, the FHIR search.score
	Grade  Grade   `json:"grade"`
	Weight float64 `json:"weight"`         // the summed field weights behind the score
	Rule   string  `json:"rule,omitempty"` // the deterministic rule that made it certain
	// Levels is each compared field's level (missing fields left out).
	Levels map[string]string `json:"levels,omitempty"`

	lv [nFields]level
}

func (c *Candidate) fillLevels() {
	c.Levels = map[string]string{}
	for f, l := range c.lv {
		if l != missing {
			c.Levels[fieldOrder[f]] = levels[fieldOrder[f]][l]
		}
	}
}

// Result is the report on one input; every input gets one.
type Result struct {
	Input      string      `json:"input"`
	Outcome    Outcome     `json:"outcome"`
	Candidates []Candidate `json:"candidates,omitempty"` // best first; grade possible or better
	Compared   int         `json:"compared"`             // candidates scored
	// SkippedBlocks counts blocking keys over blocking.max_block persons;
	// Truncated is set when blocking.max_candidates stopped the search.
	SkippedBlocks int  `json:"skipped_blocks,omitempty"`
	Truncated     bool `json:"truncated,omitempty"`
}

// Best is the matched candidate, or nil unless Outcome is Matched.
func (r *Result) Best() *Candidate {
	if r.Outcome != Matched {
		return nil
	}
	return &r.Candidates[0]
}

// Matcher compares inputs with candidates under one Config. It is safe
// for concurrent use.
type Matcher struct {
	cfg      *Config
	nick     *nicknames
	weights  [nFields][maxLevels]float64
	simGiven float64
	simFam   float64
	rules    []compiledRule
}

const (
	fGiven = iota
	fFamily
	fBirth
	fSex
	fPostal
	fPhone
	fIdent
	nFields
	maxLevels = 5
)

// level values index levels[field]; missing is -1.
type level int8

const missing level = -1

type cond struct {
	field int
	worst level // the condition holds at this level or better (lower index)
}

type compiledRule struct {
	name         string
	require, any []cond
}

// New builds a Matcher from a validated Config (nil: the defaults).
func New(cfg *Config) (*Matcher, error) {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	m := &Matcher{cfg: cfg}
	for fi, f := range fieldOrder {
		for li, l := range levels[f] {
			m.weights[fi][li] = cfg.Fields[f][l]
		}
	}
	m.simGiven = orDefault(cfg.Fields["given"]["similar_at"], 0.88)
	m.simFam = orDefault(cfg.Fields["family"]["similar_at"], 0.92)
	if cfg.Normalize.Nicknames || cfg.Normalize.NicknameFile != "" {
		m.nick = &nicknames{}
		if cfg.Normalize.Nicknames {
			if err := parseNicknames(strings.NewReader(shippedNicknames), m.nick, "nicknames.csv"); err != nil {
				return nil, err
			}
		}
		if p := cfg.Normalize.NicknameFile; p != "" {
			f, err := os.Open(p)
			if err != nil {
				return nil, fmt.Errorf("%s: normalize.nickname_file: %w", cfg.File, err)
			}
			err = parseNicknames(f, m.nick, p)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	for _, r := range cfg.Rules {
		cr := compiledRule{name: r.Name}
		for _, c := range r.Require {
			cr.require = append(cr.require, compileCond(c))
		}
		for _, c := range r.AnyOf {
			cr.any = append(cr.any, compileCond(c))
		}
		m.rules = append(m.rules, cr)
	}
	return m, nil
}

func orDefault(x, d float64) float64 {
	if x == 0 {
		return d
	}
	return x
}

func compileCond(s string) cond {
	f, l, _ := strings.Cut(s, ":")
	c := cond{field: slices.Index(fieldOrder, f)}
	if l == "" {
		l = "agree"
	}
	c.worst = level(slices.Index(levels[f], l))
	return c
}

// Config is the configuration the Matcher runs with.
func (m *Matcher) Config() *Config { return m.cfg }

// BlockingKeys are the keys a person is filed under and an input looks
// up, per blocking.keys. They hold PHI: never log them.
func (m *Matcher) BlockingKeys(r Record) []string {
	n := m.normalize(&r)
	return m.blockingKeys(&n, nil)
}

func (m *Matcher) blockingKeys(n *normalized, dst []string) []string {
	for _, k := range m.cfg.Blocking.Keys {
		switch k {
		case "identifier":
			for _, id := range n.ids {
				dst = append(dst, "I|"+id)
			}
		case "birth_date":
			if n.birth != "" {
				dst = append(dst, "B|"+n.birth)
			}
		case "family_soundex_birth_year":
			if sx := Soundex(n.family); sx != "" && n.birth != "" {
				dst = append(dst, "S|"+sx+"|"+n.birth[:4])
			}
		case "postal_given_initial":
			if n.postal != "" && n.given != "" {
				dst = append(dst, "P|"+n.postal+"|"+n.given[:1])
			}
		case "phone":
			if len(n.phone) == 10 {
				dst = append(dst, "T|"+n.phone)
			}
		case "given_family":
			if n.given != "" && n.family != "" {
				dst = append(dst, "N|"+n.given+"|"+n.family)
			}
		}
	}
	return dst
}

// Match finds the candidates of one input and grades them.
func (m *Matcher) Match(ctx context.Context, c Candidates, in Record) (Result, error) {
	res := Result{Input: in.ID}
	n := m.normalize(&in)
	if ms, ok := c.(*MemStore); ok && ms.m == m {
		return m.matchMem(ms, &n, res), nil
	}
	seen := map[string]struct{}{}
	var ids []string
	var recs []Record // from a RecordLookup, in step with ids
	rl, _ := c.(RecordLookup)
	bc := m.cfg.Blocking
	for _, k := range m.blockingKeys(&n, nil) {
		var got []string
		var gotRecs []Record
		var more bool
		var err error
		if rl != nil {
			gotRecs, more, err = rl.LookupRecords(ctx, k, bc.MaxBlock)
		} else {
			got, more, err = c.Lookup(ctx, k, bc.MaxBlock)
		}
		if err != nil {
			return res, fmt.Errorf("matching input %q: candidate lookup: %w", in.ID, err)
		}
		if more {
			res.SkippedBlocks++
			continue
		}
		for i := range max(len(got), len(gotRecs)) {
			var id string
			if rl != nil {
				id = gotRecs[i].ID
			} else {
				id = got[i]
			}
			if _, dup := seen[id]; dup {
				continue
			}
			if len(ids) >= bc.MaxCandidates {
				res.Truncated = true
				break
			}
			seen[id] = struct{}{}
			ids = append(ids, id)
			if rl != nil {
				recs = append(recs, gotRecs[i])
			}
		}
	}
	for i, id := range ids {
		var cn *normalized
		if rl != nil {
			x := m.normalize(&recs[i])
			cn = &x
		} else {
			r, found, err := c.Person(ctx, id)
			if err != nil {
				return res, fmt.Errorf("matching input %q: reading candidate: %w", in.ID, err)
			}
			if !found {
				continue
			}
			x := m.normalize(&r)
			cn = &x
		}
		res.Compared++
		cand := m.score(&n, cn)
		if cand.Grade == CertainlyNot {
			continue
		}
		cand.ID = id
		cand.fillLevels()
		res.Candidates = append(res.Candidates, cand)
	}
	m.grade(&res)
	return res, nil
}

// grade orders the candidates, best first, and sets the outcome.
func (m *Matcher) grade(res *Result) {
	slices.SortFunc(res.Candidates, func(a, b Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Weight, a.Weight); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	certain := 0
	for _, c := range res.Candidates {
		if c.Grade == Certain {
			certain++
		}
	}
	switch {
	case certain == 1:
		res.Outcome = Matched
	case len(res.Candidates) > 0:
		res.Outcome = Ambiguous
	default:
		res.Outcome = NotFound
	}
}

// matchMem is Match over a MemStore of this Matcher: blocks read as
// record indexes and persons already normalized, no id looked up.
func (m *Matcher) matchMem(s *MemStore, n *normalized, res Result) Result {
	s.mu.RLock()
	if !s.sorted {
		s.mu.RUnlock()
		s.sort()
		s.mu.RLock()
	}
	defer s.mu.RUnlock()
	bc := m.cfg.Blocking
	seen := map[int32]struct{}{}
	var idx []int32
	for _, k := range m.blockingKeys(n, nil) {
		lo, hi := s.block(k)
		if hi-lo > bc.MaxBlock {
			res.SkippedBlocks++
			continue
		}
		for j := lo; j < hi; j++ {
			i := s.keys[j].i
			if _, dup := seen[i]; dup {
				continue
			}
			if len(idx) >= bc.MaxCandidates {
				res.Truncated = true
				break
			}
			seen[i] = struct{}{}
			idx = append(idx, i)
		}
	}
	for _, i := range idx {
		res.Compared++
		cand := m.score(n, &s.norms[i])
		if cand.Grade == CertainlyNot {
			continue
		}
		cand.ID = s.recs[i].ID
		cand.fillLevels()
		res.Candidates = append(res.Candidates, cand)
	}
	m.grade(&res)
	return res
}

// Compare scores one pair of records (for tests and for explaining a
// match to an admin).
func (m *Matcher) Compare(in, person Record) Candidate {
	a, b := m.normalize(&in), m.normalize(&person)
	c := m.score(&a, &b)
	c.ID = person.ID
	c.fillLevels()
	return c
}

func (m *Matcher) score(a, b *normalized) Candidate {
	var lv [nFields]level
	lv[fGiven] = m.cmpGiven(a, b)
	lv[fFamily] = m.cmpFamily(a, b)
	lv[fBirth] = cmpDate(a.birth, b.birth)
	lv[fSex] = missing
	if a.sex != 0 && b.sex != 0 {
		lv[fSex] = pick(a.sex == b.sex, 0, 1)
	}
	lv[fPostal] = missing
	if a.postal != "" && b.postal != "" {
		switch {
		case a.postal == b.postal:
			lv[fPostal] = 0
		case a.postal[:3] == b.postal[:3]:
			lv[fPostal] = 1
		default:
			lv[fPostal] = 2
		}
	}
	lv[fPhone] = missing
	if a.phone != "" && b.phone != "" {
		same := a.phone == b.phone || a.phone[len(a.phone)-7:] == b.phone[len(b.phone)-7:]
		lv[fPhone] = pick(same, 0, 1)
	}
	lv[fIdent] = cmpIDs(a.ids, b.ids)

	var w, maxW float64
	present := [nFields]bool{a.given != "", a.family != "", a.birth != "", a.sex != 0, a.postal != "", a.phone != "", len(a.ids) > 0}
	c := Candidate{lv: lv}
	for f := range nFields {
		if present[f] {
			maxW += m.weights[f][0]
		}
		if lv[f] != missing {
			w += m.weights[f][lv[f]]
		}
	}
	c.Weight = math.Round(w*100) / 100
	if maxW > 0 {
		c.Score = math.Round(min(1, max(0, w/maxW))*1000) / 1000
	}
	for _, r := range m.rules {
		if r.holds(&lv) {
			c.Rule, c.Score, c.Grade = r.name, 1, Certain
			return c
		}
	}
	t := m.cfg.Thresholds
	switch {
	case c.Score >= t.Certain && w >= t.CertainMinWeight:
		c.Grade = Certain
	case c.Score >= t.Probable:
		c.Grade = Probable
	case c.Score >= t.Possible:
		c.Grade = Possible
	default:
		c.Grade = CertainlyNot
	}
	return c
}

func (r *compiledRule) holds(lv *[nFields]level) bool {
	ok := func(c cond) bool { l := lv[c.field]; return l != missing && l <= c.worst }
	for _, c := range r.require {
		if !ok(c) {
			return false
		}
	}
	if len(r.any) == 0 {
		return true
	}
	return slices.ContainsFunc(r.any, ok)
}

func pick(b bool, yes, no level) level {
	if b {
		return yes
	}
	return no
}

// given levels: agree, nickname, similar, initial, disagree
func (m *Matcher) cmpGiven(a, b *normalized) level {
	if a.given == "" || b.given == "" {
		return missing
	}
	switch {
	case a.given == b.given:
		return 0
	case sameGroup(a.givenGroups, b.givenGroups):
		return 1
	case JaroWinkler(a.given, b.given) >= m.simGiven, len(a.given) > 2 && oneEdit(a.given, b.given),
		a.middle != "" && a.middle == b.given, b.middle != "" && b.middle == a.given: // goes by the middle name
		return 2
	case (len(a.given) == 1 || len(b.given) == 1) && a.given[0] == b.given[0]:
		return 3
	}
	return 4
}

// family levels: agree, similar, disagree
func (m *Matcher) cmpFamily(a, b *normalized) level {
	if a.family == "" || b.family == "" {
		return missing
	}
	if a.family == b.family {
		return 0
	}
	if JaroWinkler(a.family, b.family) >= m.simFam || len(a.family) > 2 && oneEdit(a.family, b.family) {
		return 1
	}
	// one word of a compound name (Garcia Lopez ~ Garcia)
	for _, t := range a.familyTokens {
		if t == b.family || slices.Contains(b.familyTokens, t) {
			return 1
		}
	}
	if slices.Contains(b.familyTokens, a.family) {
		return 1
	}
	return 2
}

// cmpDate levels: agree, transposed (month and day swapped, or two
// adjacent digits), typo (one digit), partial (year and month, or month
// and day, equal), disagree.
func cmpDate(a, b string) level {
	if a == "" || b == "" {
		return missing
	}
	if a == b {
		return 0
	}
	if a[:4] == b[:4] && a[4:6] == b[6:8] && a[6:8] == b[4:6] {
		return 1
	}
	diff := 0
	var at [8]int
	for i := range 8 {
		if a[i] != b[i] {
			at[diff] = i
			diff++
		}
	}
	if diff == 2 && at[1] == at[0]+1 && a[at[0]] == b[at[1]] && a[at[1]] == b[at[0]] {
		return 1
	}
	if diff == 1 {
		return 2
	}
	if a[:6] == b[:6] || a[4:] == b[4:] {
		return 3
	}
	return 4
}

// cmpIDs: agree when the two share an identifier; disagree when they
// have one of the same system with different values and none shared.
func cmpIDs(a, b []string) level {
	if len(a) == 0 || len(b) == 0 {
		return missing
	}
	conflict := false
	for _, x := range a {
		sx, _, _ := strings.Cut(x, "|")
		for _, y := range b {
			if x == y {
				return 0
			}
			if sy, _, _ := strings.Cut(y, "|"); sx == sy {
				conflict = true
			}
		}
	}
	if conflict {
		return 1
	}
	return missing
}

// IdentifierKey is the blocking key under which persons carrying id are
// filed: "" when the matcher does not block on identifiers or id has no
// value. Lookup by it finds candidates; an exact comparison decides.
func (m *Matcher) IdentifierKey(id Identifier) string {
	if !slices.Contains(m.cfg.Blocking.Keys, "identifier") {
		return ""
	}
	if k := normIdentifier(id); k != "" {
		return "I|" + k
	}
	return ""
}
