package mapping

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// Func is one mapping function. Its name, parameters and doc are declared
// once, here, and drive the compiler's argument checks, `iisbridge mapping
// docs` and the README section generated from it.
type Func struct {
	Name    string
	Params  string // as shown to admins, e.g. "table, code[, field]"
	Doc     string // one line
	MinArgs int
	MaxArgs int  // -1: any number
	Expand  bool // a path argument with [*] passes every value

	compile func(c *compiler, call *callExpr) error
	eval    func(e *env, s *scope, call *callExpr, args []string) (string, error)

	// pure: never an issue nor an error (pureCall decides per call).
	pure     bool
	pureCall func(call *callExpr) bool
	// lazy, when every argument of a call is pure, replaces eval and
	// evaluates only the arguments it needs (first_nonempty stops at the
	// first value, if at its branch, code_in reads its field itself).
	lazy func(e *env, s *scope, call *callExpr) (string, error)
}

func (f *Func) argCount() string {
	switch {
	case f.MaxArgs < 0:
		return fmt.Sprintf("at least %d argument(s)", f.MinArgs)
	case f.MinArgs == f.MaxArgs:
		return fmt.Sprintf("%d argument(s)", f.MinArgs)
	}
	return fmt.Sprintf("%d to %d arguments", f.MinArgs, f.MaxArgs)
}

var funcs = map[string]*Func{}

func registerFunc(f *Func) {
	if funcs[f.Name] != nil {
		panic("mapping: function registered twice: " + f.Name)
	}
	funcs[f.Name] = f
}

// Funcs lists the registered functions by name.
func Funcs() []*Func {
	out := make([]*Func, 0, len(funcs))
	for _, f := range funcs {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func init() {
	registerFunc(&Func{Name: "date", Params: "ts[, layout]", MinArgs: 1, MaxArgs: 2,
		Doc:  "v2 TS/DT → FHIR date at the sent precision, at most day (`201508` → `2015-08`); an impossible date is an error. Also reads ISO dates and timestamps (`2015-08-01`, as a relational source gives them), and, with a Go layout, dates held as text in any format (`date(birth, \"01/02/2006\")`)",
		eval: fnDate})
	registerFunc(&Func{Name: "datetime", Params: "ts", MinArgs: 1, MaxArgs: 1,
		Doc:  "v2 TS → FHIR dateTime at the sent precision; a time gets the value's offset, else MSH-7's, else settings.timezone. Also reads ISO dates and RFC 3339 timestamps (a relational source's)",
		eval: fnDateTime})
	registerFunc(&Func{Name: "hash", Params: "value, ...", MinArgs: 1, MaxArgs: -1,
		Doc:  "stable id: 32 lowercase hex chars of SHA-256 over the values; same input, same id on every run and machine",
		eval: fnHash})
	registerFunc(&Func{Name: "uuid", Params: "value, ...", MinArgs: 1, MaxArgs: -1,
		Doc:  "stable name-based UUID (version 5 layout) over the values",
		eval: fnUUID})
	registerFunc(&Func{Name: "concat", Params: "value, ...", MinArgs: 1, MaxArgs: -1, Expand: true,
		Doc:  "the values one after the other; empty when every value is empty",
		eval: fnConcat})
	registerFunc(&Func{Name: "join", Params: "separator, value, ...", MinArgs: 2, MaxArgs: -1, Expand: true,
		Doc:  "the non-empty values with separator between them; a path with [*] contributes every repetition",
		eval: fnJoin})
	registerFunc(&Func{Name: "first_nonempty", Params: "value, ...", MinArgs: 1, MaxArgs: -1, Expand: true,
		Doc:  "the first value that is not empty",
		eval: fnFirst})
	registerFunc(&Func{Name: "if", Params: "test, then[, else]", MinArgs: 2, MaxArgs: 3,
		Doc: "then when test is not empty, else the else value (or empty)",
		eval: func(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
			if a[0] != "" {
				return a[1], nil
			}
			if len(a) == 3 {
				return a[2], nil
			}
			return "", nil
		}})
	registerFunc(&Func{Name: "except", Params: "value, none, ...", MinArgs: 2, MaxArgs: -1,
		Doc: "value, or empty when it equals one of the none values (any case): except(ORC-3.1, \"0\", \"9999\")",
		eval: func(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
			for _, n := range a[1:] {
				if strings.EqualFold(a[0], n) {
					return "", nil
				}
			}
			return a[0], nil
		}})
	registerFunc(&Func{Name: "trim", Params: "value", MinArgs: 1, MaxArgs: 1,
		Doc:  "value without leading and trailing spaces",
		eval: func(_ *env, _ *scope, _ *callExpr, a []string) (string, error) { return strings.TrimSpace(a[0]), nil }})
	registerFunc(&Func{Name: "upper", Params: "value", MinArgs: 1, MaxArgs: 1,
		Doc:  "value in upper case",
		eval: func(_ *env, _ *scope, _ *callExpr, a []string) (string, error) { return strings.ToUpper(a[0]), nil }})
	registerFunc(&Func{Name: "lower", Params: "value", MinArgs: 1, MaxArgs: 1,
		Doc:  "value in lower case",
		eval: func(_ *env, _ *scope, _ *callExpr, a []string) (string, error) { return strings.ToLower(a[0]), nil }})
	registerFunc(&Func{Name: "slug", Params: "value", MinArgs: 1, MaxArgs: 1,
		Doc:  "value usable inside a URI: lower case, every character but a-z 0-9 . - becomes -",
		eval: fnSlug})
	registerFunc(&Func{Name: "number", Params: "value", MinArgs: 1, MaxArgs: 1,
		Doc:  "a decimal number as sent (`0.50` stays `0.50`, `.5` → `0.5`); anything else is an error",
		eval: fnNumber})
	registerFunc(&Func{Name: "boolean", Params: "value", MinArgs: 1, MaxArgs: 1,
		Doc:  "Y/YES/T/TRUE/1 → true, N/NO/F/FALSE/0 → false (any case); anything else is an error",
		eval: fnBoolean})
	registerFunc(&Func{Name: "table", Params: "table, code[, field]", MinArgs: 2, MaxArgs: 3,
		Doc:     "looks code up in a table; field is code (default), display or system; an unmapped code follows the table's policy (only the code lookup applies it)",
		compile: compileTable, eval: fnTable})
	registerFunc(&Func{Name: "cvx", Params: "code", MinArgs: 1, MaxArgs: 1,
		Doc:  "normalizes a numeric CVX code to its table form (`045` → `45`, `3` → `03`); other text is returned trimmed",
		eval: fnCVX})
	registerFunc(&Func{Name: "ndc", Params: "code", MinArgs: 1, MaxArgs: 1,
		Doc:  "normalizes an NDC (10-digit hyphenated 4-4-2, 5-3-2, 5-4-1, or 11-digit) to 11 digits without hyphens; anything else is an error",
		eval: fnNDC})
	registerFunc(&Func{Name: "code_in", Params: "field, system, ...", MinArgs: 2, MaxArgs: -1,
		Doc:     "code of the first CWE/CE triplet (1-3, then 4-6) of a v2 field whose coding system is one of the systems (any case; \"\" = none sent)",
		compile: compileCodeIn, eval: fnCodeIn})
	registerFunc(&Func{Name: "text_in", Params: "field, system, ...", MinArgs: 2, MaxArgs: -1,
		Doc:     "text of the first CWE/CE triplet of a v2 field whose coding system is one of the systems",
		compile: compileCodeIn, eval: fnCodeIn})
	registerFunc(&Func{Name: "replace", Params: "value, regexp, replacement", MinArgs: 3, MaxArgs: 3,
		Doc:     "value with every match of a regular expression (a literal, checked at load) replaced ($1 refers to a group)",
		compile: compileReplace, eval: fnReplace})
}

// ---- dates ----

func fnDate(e *env, _ *scope, _ *callExpr, a []string) (string, error) {
	if a[0] == "" {
		return "", nil
	}
	if len(a) > 1 || isISO(a[0]) {
		return isoDate(a) // sqlpaths.go
	}
	if hl7v2.IsDay(a[0]) {
		return e.day(a[0]), nil
	}
	ts, err := hl7v2.ParseTS(a[0])
	if err != nil {
		return "", errors.New("not a valid v2 date")
	}
	if ts.DroppedOffset != "" {
		e.offsetDropped("the date is read as sent")
	}
	return e.fhirDate(ts), nil
}

// offsetDropped warns that a timestamp's offset was implausible ("+0",
// "-0007") and ignored. The issue names the rule's element and source
// field, never the value (it may be a birth date). Ids and lets evaluate
// quietly: the rules that write the same field report it.
func (e *env) offsetDropped(what string) {
	if e == nil || e.quiet {
		return
	}
	e.warnf("value", "timestamp offset is not ±HHMM; dropped, %s", what)
}

func fnDateTime(e *env, _ *scope, _ *callExpr, a []string) (string, error) {
	if a[0] == "" {
		return "", nil
	}
	if isISO(a[0]) {
		return isoDateTime(a[0]) // sqlpaths.go
	}
	if hl7v2.IsDay(a[0]) { // a date alone is read as sent, without a zone
		return e.day(a[0]), nil
	}
	if hl7v2.IsSecond(a[0]) { // most times sent: in a fixed zone, no time.Time
		if e.defaultZone(); e.zoneFixed {
			return e.second(a[0], e.zoneOff), nil
		}
	}
	ts, err := hl7v2.ParseTS(a[0])
	if err != nil {
		return "", errors.New("not a valid v2 timestamp")
	}
	if ts.HasOffset || ts.Precision < hl7v2.PrecHour {
		if ts.DroppedOffset != "" {
			e.offsetDropped("the date is read as sent")
		}
		return e.fhirDateTime(ts, time.UTC), nil
	}
	if ts.DroppedOffset != "" {
		e.offsetDropped("the zone of MSH-7 or settings.timezone used")
	}
	return e.fhirDateTime(ts, e.defaultZone()), nil
}

// fhirDate is ts.FHIRDate() written into the arena: time.Format costs an
// allocation and a layout walk per value, and every dose has dates.
func (e *env) fhirDate(ts hl7v2.TS) string {
	if ts.Precision == 0 {
		return ""
	}
	y, mo, d := ts.Time.Date()
	if y < 0 || y > 9999 {
		return ts.FHIRDate()
	}
	e.reserve(10)
	start := len(e.arena)
	e.arena = appendDigits(e.arena, y, 4)
	if ts.Precision >= hl7v2.PrecMonth {
		e.arena = appendDigits(append(e.arena, '-'), int(mo), 2)
	}
	if ts.Precision >= hl7v2.PrecDay {
		e.arena = appendDigits(append(e.arena, '-'), d, 2)
	}
	e.arenaUsed += len(e.arena) - start
	return unsafe.String(&e.arena[start], len(e.arena)-start)
}

// day is the FHIR date of a v2 day (hl7v2.IsDay), written into the arena
// without parsing it into a timestamp.
func (e *env) day(s string) string {
	e.reserve(10)
	start := len(e.arena)
	e.arena = appendDay(e.arena, s)
	e.arenaUsed += 10
	return unsafe.String(&e.arena[start], 10)
}

// appendDay appends the YYYY-MM-DD of the YYYYMMDD that s starts with.
// Byte by byte: one append, not five (three of them copy calls).
func appendDay(b []byte, s string) []byte {
	s = s[:8]
	return append(b, s[0], s[1], s[2], s[3], '-', s[4], s[5], '-', s[6], s[7])
}

// fhirDateTime is ts.FHIRDateTime(def) written into the arena, up to
// second precision (a fraction keeps hl7v2's own formatting).
func (e *env) fhirDateTime(ts hl7v2.TS, def *time.Location) string {
	if ts.Precision <= hl7v2.PrecDay {
		return e.fhirDate(ts)
	}
	if ts.Precision > hl7v2.PrecSecond {
		return ts.FHIRDateTime(def)
	}
	tm := ts.Time
	if !ts.HasOffset {
		if def == nil {
			def = time.UTC
		}
		tm = time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), def)
	}
	y, mo, d := tm.Date()
	if y < 0 || y > 9999 {
		return ts.FHIRDateTime(def)
	}
	h, mi, sec := tm.Clock()
	_, off := tm.Zone()
	// Layout 2006-01-02T15:04:05Z07:00: Z for a zero offset, else ±hh:mm.
	e.reserve(25)
	start := len(e.arena)
	b := appendDigits(e.arena, y, 4)
	b = appendDigits(append(b, '-'), int(mo), 2)
	b = appendDigits(append(b, '-'), d, 2)
	b = appendDigits(append(b, 'T'), h, 2)
	b = appendDigits(append(b, ':'), mi, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	e.arena = appendOffset(b, off)
	e.arenaUsed += len(e.arena) - start
	return unsafe.String(&e.arena[start], len(e.arena)-start)
}

// appendOffset appends a dateTime's offset of off seconds: Z for zero,
// else ±hh:mm (layout Z07:00).
func appendOffset(b []byte, off int) []byte {
	if off == 0 {
		return append(b, 'Z')
	}
	zone, sign := off/60, byte('+') // minutes, truncated as Format does
	if zone < 0 {
		zone, sign = -zone, '-'
	}
	b = appendDigits(append(b, sign), zone/60, 2)
	return appendDigits(append(b, ':'), zone%60, 2)
}

// second is the FHIR dateTime of a v2 time of second precision without
// offset (hl7v2.IsSecond) in a zone of offset off seconds, written from
// its digits (in a fixed zone the wall clock is the one sent).
func (e *env) second(s string, off int) string {
	e.reserve(25)
	start := len(e.arena)
	b := appendDay(e.arena, s)
	s = s[:14]
	b = append(b, 'T', s[8], s[9], ':', s[10], s[11], ':', s[12], s[13])
	e.arena = appendOffset(b, off)
	e.arenaUsed += len(e.arena) - start
	return unsafe.String(&e.arena[start], len(e.arena)-start)
}

// appendDigits appends n (0 <= n) zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var buf [8]byte
	i := len(buf)
	for n >= 10 || width > 1 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	buf[i] = byte('0' + n)
	return append(b, buf[i:]...)
}

// defaultZone is the zone of a timestamp without offset: MSH-7's offset
// when it has one, else settings.timezone. Computed once per record.
func (e *env) defaultZone() *time.Location {
	if e.zone != nil {
		return e.zone
	}
	e.zone = e.m.tz
	e.zoneOff, e.zoneFixed = 0, e.zone == nil || e.zone == time.UTC
	if e.msg != nil {
		if msh, ok := e.msg.Segments().Find("MSH", 1); ok {
			// textOf: Value.String trimmed, in the arena (no allocation);
			// an empty or null MSH-7 gives no offset either way.
			if ts, err := hl7v2.ParseTS(e.textOf(msh.Field(7).Rep(1).Component(1))); err == nil && ts.HasOffset {
				_, off := ts.Time.Zone()
				e.zone = time.FixedZone("", off)
				e.zoneOff, e.zoneFixed = off, true
			}
		}
	}
	return e.zone
}

// ---- ids ----

func fnHash(e *env, _ *scope, _ *callExpr, a []string) (string, error) {
	// The values joined by 0x1f, hashed in one call (a streaming
	// hash.Hash is an allocation and two writes per value).
	var buf []byte
	if e != nil {
		buf = e.scratch[:0]
	}
	for i, s := range a {
		if i > 0 {
			buf = append(buf, 0x1f)
		}
		buf = append(buf, s...)
	}
	sum := sha256.Sum256(buf)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	if e == nil {
		return string(out[:]), nil
	}
	e.scratch = buf
	return e.keep(out[:]), nil
}

// uuidNamespace is fixed so ids are stable across versions.
var uuidNamespace = []byte("iisbridge.mapping.uuid")

func fnUUID(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
	h := sha1.New()
	h.Write(uuidNamespace)
	for _, s := range a {
		h.Write([]byte{0x1f})
		h.Write([]byte(s))
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32], nil
}

// ---- strings ----

func fnConcat(e *env, _ *scope, _ *callExpr, a []string) (string, error) {
	n := 0
	for _, s := range a {
		n += len(s)
	}
	if n == 0 {
		return "", nil
	}
	e.reserve(n)
	start := len(e.arena)
	for _, s := range a {
		e.arena = append(e.arena, s...)
	}
	e.arenaUsed += n
	return unsafe.String(&e.arena[start], n), nil
}

func fnJoin(e *env, _ *scope, _ *callExpr, a []string) (string, error) {
	n, k := 0, 0
	var only string
	for _, s := range a[1:] {
		if s != "" {
			n += len(s)
			k++
			only = s
		}
	}
	switch k {
	case 0:
		return "", nil
	case 1:
		return only, nil
	}
	n += (k - 1) * len(a[0])
	// Built in the arena (see fnConcat).
	e.reserve(n)
	start := len(e.arena)
	for _, s := range a[1:] {
		if s == "" {
			continue
		}
		if len(e.arena) > start {
			e.arena = append(e.arena, a[0]...)
		}
		e.arena = append(e.arena, s...)
	}
	e.arenaUsed += n
	return unsafe.String(&e.arena[start], n), nil
}

func fnFirst(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
	for _, s := range a {
		if s != "" {
			return s, nil
		}
	}
	return "", nil
}

func fnSlug(e *env, _ *scope, _ *callExpr, a []string) (string, error) {
	if ascii(a[0]) {
		// The common case, built in the arena: the same bytes as below.
		e.reserve(len(a[0]))
		start := len(e.arena)
		for i := 0; i < len(a[0]); i++ {
			c := a[0][i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
				c = '-'
			}
			e.arena = append(e.arena, c)
		}
		e.arenaUsed += len(a[0])
		if len(a[0]) == 0 {
			return "", nil
		}
		return unsafe.String(&e.arena[start], len(a[0])), nil
	}
	b := []byte(strings.ToLower(a[0]))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b), nil
}

var decimalRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// isDecimal is decimalRE.MatchString by hand (a regexp match costs more
// than the rest of writing a number; a test keeps the two in step).
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = skipDigits(s, i+1)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := skipDigits(s, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := skipDigits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func fnNumber(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
	s := a[0]
	if s == "" {
		return "", nil
	}
	s = strings.TrimPrefix(s, "+")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	// Leading zeros are not JSON: 007 → 7, 00.5 → 0.5.
	for len(s) > 1 && s[0] == '0' && s[1] != '.' {
		s = s[1:]
	}
	if neg {
		s = "-" + s
	}
	if !isDecimal(s) {
		return "", errors.New("not a number")
	}
	return s, nil
}

func fnBoolean(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
	switch strings.ToUpper(a[0]) {
	case "":
		return "", nil
	case "Y", "YES", "T", "TRUE", "1":
		return "true", nil
	case "N", "NO", "F", "FALSE", "0":
		return "false", nil
	}
	return "", errors.New("not a yes/no value")
}

func fnCVX(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
	s := a[0]
	if !isDigits(s) {
		return s, nil
	}
	// Without leading zeros, padded to two digits: a substring of s
	// whenever s has two digits or more, so nothing is allocated.
	t := strings.TrimLeft(s, "0")
	switch {
	case len(t) >= 2:
		return t, nil
	case len(s) >= 2:
		return s[len(s)-2:], nil // "08", "008" → "08"; "00" → "00"
	}
	return cvxPadded[s[0]-'0'], nil
}

var cvxPadded = [10]string{"00", "01", "02", "03", "04", "05", "06", "07", "08", "09"}

func fnNDC(_ *env, _ *scope, _ *callExpr, a []string) (string, error) {
	s := a[0]
	if s == "" {
		return "", nil
	}
	parts := strings.Split(s, "-")
	switch len(parts) {
	case 1:
		if len(s) == 11 && isDigits(s) {
			return s, nil
		}
	case 3:
		if isDigits(parts[0]) && isDigits(parts[1]) && isDigits(parts[2]) {
			l := [3]int{len(parts[0]), len(parts[1]), len(parts[2])}
			switch l {
			case [3]int{4, 4, 2}, [3]int{5, 3, 2}, [3]int{5, 4, 1}, [3]int{5, 4, 2}:
				return pad(parts[0], 5) + pad(parts[1], 4) + pad(parts[2], 2), nil
			}
		}
	}
	return "", errors.New("not an NDC (10-digit hyphenated or 11-digit)")
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

// ---- coded fields ----

type codeInData struct {
	path    *pathExpr
	systems []foldLiteral
	text    bool
	// comps are the paths of the field's components 1-6 (RXA-5.1 ...
	// RXA-5.6), interned like any path: code_in and text_in over one
	// field (six calls per dose in the default mapping) and the rules
	// reading RXA-5.1 or RXA-5.2 share each component's remembered text.
	comps [6]*pathExpr
}

func compileCodeIn(c *compiler, call *callExpr) error {
	p, ok := call.args[0].(*pathExpr)
	if !ok || p.wildcard() {
		return errors.New("the first argument must be a v2 field path without [*], e.g. RXA-5")
	}
	if !p.rel && p.p.Component != 0 {
		return errors.New("the first argument must name a whole field or repetition (RXA-5, not RXA-5.1)")
	}
	if p.rel && p.comp != 0 {
		return errors.New("the first argument must name a whole repetition")
	}
	d := &codeInData{path: p, text: call.fn.Name == "text_in"}
	for k := range d.comps {
		d.comps[k] = c.componentPath(p, k+1)
	}
	for _, a := range call.args[1:] {
		l, ok := a.(*litExpr)
		if !ok {
			return errors.New("systems must be quoted literals, e.g. \"CVX\"")
		}
		d.systems = append(d.systems, foldLit(l.s))
	}
	call.data = d
	return nil
}

func fnCodeIn(e *env, s *scope, call *callExpr, _ []string) (string, error) {
	d := call.data.(*codeInData)
	// The components' texts are most often remembered (every code_in of
	// a field reads the same ones): str's first test inlined.
	comp := func(i int) string {
		p := d.comps[i]
		if v, ok := p.known(e, s); ok {
			return v
		}
		return p.strMiss(e, s)
	}
	for _, base := range [2]int{0, 3} {
		code, text := comp(base), comp(base+1)
		if code == "" && text == "" {
			continue
		}
		sys := comp(base + 2)
		for i := range d.systems {
			if d.systems[i].equal(sys) {
				if d.text {
					return text, nil
				}
				return code, nil
			}
		}
	}
	return "", nil
}

// ---- replace ----

func compileReplace(c *compiler, call *callExpr) error {
	l, ok := call.args[1].(*litExpr)
	if !ok {
		return errors.New("the regular expression must be a quoted literal")
	}
	re, err := regexp.Compile(l.s)
	if err != nil {
		return fmt.Errorf("bad regular expression: %v", err)
	}
	call.data = re
	return nil
}

func fnReplace(_ *env, _ *scope, call *callExpr, a []string) (string, error) {
	return call.data.(*regexp.Regexp).ReplaceAllString(a[0], a[2]), nil
}

// ---- tables ----

func compileTable(c *compiler, call *callExpr) error {
	l, ok := call.args[0].(*litExpr)
	if !ok {
		return errors.New("the table name must be a quoted literal, e.g. table(\"cvx\", RXA-5.1)")
	}
	t := c.tables[l.s]
	if t == nil {
		return fmt.Errorf("unknown table %q (declare it under tables:)", l.s)
	}
	field := "code"
	if len(call.args) == 3 {
		f, ok := call.args[2].(*litExpr)
		if !ok || (f.s != "code" && f.s != "display" && f.s != "system") {
			return errors.New(`field must be "code", "display" or "system"`)
		}
		field = f.s
	}
	ref := &tableRef{t: t, field: field}
	call.data = ref
	// Calls reading other fields of the same table for the same code
	// find one entry (tableRef.last).
	var key strings.Builder
	key.WriteString(l.s + "\x00" + call.args[1].String())
	fingerprint(call.args[1], &key)
	if c.tableReads == nil {
		c.tableReads = map[string][]*tableRef{}
	}
	refs := append(c.tableReads[key.String()], ref)
	c.tableReads[key.String()] = refs
	for _, r := range refs {
		if r.field != field {
			for _, r := range refs {
				r.last = true
			}
			break
		}
	}
	return nil
}

type tableRef struct {
	t     *table
	field string
	// last: other calls read another field of this table for the same
	// code argument, one after the other: the entry found is kept in
	// env.lastTable for them (codes are strings of the current Apply,
	// unchanged until its end).
	last bool
}

func fnTable(e *env, s *scope, call *callExpr, a []string) (string, error) {
	return call.data.(*tableRef).value(e, a[1])
}

// value is the table's field for code, or what its policy says of an
// unmapped code.
func (ref *tableRef) value(e *env, code string) (string, error) {
	if code == "" {
		return "", nil
	}
	// The entry in place: a copy of three strings goes through memory.
	// The same code is most often the same string (a path's text,
	// remembered in its scope): compared by address, without a call.
	var ent *tableEntry
	if m := &e.lastTable; ref.last && m.t == ref.t && m.gen == e.gen && unsafe.StringData(m.code) == unsafe.StringData(code) && len(m.code) == len(code) {
		ent = m.ent
	} else {
		ent = ref.t.lookup(code)
		if ref.last {
			m.t, m.code, m.ent, m.gen = ref.t, code, ent, e.gen
		}
	}
	if ent != nil {
		switch ref.field {
		case "display":
			return ent.display, nil
		case "system":
			return ent.system, nil
		}
		return ent.code, nil
	}
	if ref.field != "code" {
		return "", nil
	}
	return ref.t.policy.Unmapped(e, ref.t, code)
}

// rejectError is a value error that rejects the whole resource (table
// policy reject); other function errors only drop the element.
type rejectError struct {
	code string
	msg  string
}

func (r *rejectError) Error() string { return r.msg }

func quoteCode(s string) string { return strconv.Quote(s) }

// Purity and lazy forms (see Func). Runs after the registrations above
// (init functions of one file run in order).
func init() {
	for _, name := range []string{"hash", "uuid", "concat", "join", "first_nonempty", "if", "except",
		"trim", "upper", "lower", "slug", "cvx", "code_in", "text_in", "replace"} {
		funcs[name].pure = true
	}
	// A table lookup is pure unless an unmapped code warns or rejects.
	funcs["table"].pureCall = func(call *callExpr) bool {
		ref := call.data.(*tableRef)
		switch ref.t.policy.Name {
		case "pass", "omit":
			return true
		}
		return ref.field != "code"
	}
	funcs["first_nonempty"].lazy = lazyFirst
	funcs["if"].lazy = lazyIf
	funcs["code_in"].lazy = lazyCodeIn
	funcs["text_in"].lazy = lazyCodeIn
}

func lazyFirst(e *env, s *scope, call *callExpr) (string, error) {
	for _, a := range call.args {
		if p, ok := a.(*pathExpr); ok && p.wildcard() {
			base := len(e.stack)
			e.stack = p.appendValues(e, s, e.stack)
			vs := e.stack[base:]
			e.stack = e.stack[:base]
			for _, v := range vs {
				if v != "" {
					return v, nil
				}
			}
			continue
		}
		if v, _ := a.eval(e, s); v != "" {
			return v, nil
		}
	}
	return "", nil
}

func lazyIf(e *env, s *scope, call *callExpr) (string, error) {
	if t, _ := call.args[0].eval(e, s); t != "" {
		return call.args[1].eval(e, s)
	}
	if len(call.args) == 3 {
		return call.args[2].eval(e, s)
	}
	return "", nil
}

// lazyCodeIn is code_in / text_in without evaluating the arguments, which
// compileCodeIn already holds.
func lazyCodeIn(e *env, s *scope, call *callExpr) (string, error) {
	return fnCodeIn(e, s, call, nil)
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
