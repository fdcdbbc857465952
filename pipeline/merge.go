package pipeline

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/iisbridge/iisbridge/fhirout"
)

// MergePatients merges the Patient resources mapped from one person's
// messages, given newest first (MSH-7, then arrival). The newest message
// wins element by element; an element the newer messages do not carry is
// taken from the newest older one that does (empty = not sent keeps the
// stored value). Identifiers are the union of all messages; names and
// addresses that the newer messages no longer carry are kept with use
// "old". The result is the first object, modified.
//
// What a mapping had to send absent is not a value either: an identifier
// or name that only carries the data-absent-reason extension gives way to
// real ones from any message, and gender "unknown" to a known gender.
func MergePatients(newestFirst []*fhirout.Object) *fhirout.Object {
	if len(newestFirst) == 0 {
		return nil
	}
	out := newestFirst[0]
	if len(newestFirst) == 1 {
		return out
	}
	absentIDs, absentNames := dropAbsent(out, "identifier"), dropAbsent(out, "name")
	// The keys out's lists hold, by list, kept from one older Patient to
	// the next: only mergeList changes those lists here.
	var ids, names, addrs, exts map[string]bool
	var buf []byte // the key being built
	for _, old := range newestFirst[1:] {
		for k, v := range old.All() {
			switch k {
			case "resourceType", "id", "meta":
				continue
			case "identifier":
				mergeList(out, k, realEntries(v), identifierKey, "", &ids, &buf)
			case "name":
				// No real name yet: the newest older one's are current.
				use := "old"
				if _, ok := out.Get(k); !ok {
					use = ""
				}
				mergeList(out, k, realEntries(v), nameKey, use, &names, &buf)
			case "address":
				mergeList(out, k, v, addressKey, "old", &addrs, &buf)
			case "extension":
				// Each extension (by url) is an element of its own: a
				// message without PD1 does not drop the registry status.
				mergeList(out, k, v, extensionKey, "", &exts, &buf)
			case "gender":
				if g := str(out, k); g == "" || g == "unknown" {
					out.Set(k, v)
				}
			default:
				if _, ok := out.Get(k); !ok {
					out.Set(k, v)
				}
			}
		}
	}
	for _, a := range [...]struct {
		k      string
		absent any
	}{{"identifier", absentIDs}, {"name", absentNames}} {
		if _, ok := out.Get(a.k); !ok && a.absent != nil {
			out.Set(a.k, a.absent)
		}
	}
	return out
}

// absentOnly says an identifier or name carries nothing but extensions
// (the data-absent-reason the mapping sends when the source had none).
func absentOnly(o *fhirout.Object) bool {
	for k := range o.All() {
		switch k {
		case "extension", "_system", "_value":
		default:
			return false
		}
	}
	return true
}

// realEntries is v (an array of objects) without its absent-only entries.
func realEntries(v any) any {
	l, _ := v.([]any)
	if l != nil && !slices.ContainsFunc(l, isAbsent) {
		return v // the usual case: nothing to leave out, nothing to copy
	}
	var out []any
	for _, e := range l {
		if o, ok := e.(*fhirout.Object); ok && absentOnly(o) {
			continue
		}
		out = append(out, e)
	}
	return out
}

func isAbsent(e any) bool {
	o, ok := e.(*fhirout.Object)
	return ok && absentOnly(o)
}

// dropAbsent removes the absent-only entries of out's array k and returns
// the array as it was when it held nothing else (nil otherwise).
func dropAbsent(out *fhirout.Object, k string) any {
	v, ok := out.Get(k)
	if !ok {
		return nil
	}
	real, _ := realEntries(v).([]any)
	if len(real) == len(list(out, k)) {
		return nil
	}
	if len(real) == 0 {
		out.Delete(k)
		return v
	}
	out.Set(k, real)
	return nil
}

// mergeList appends the entries of older (an array of objects) that out's
// array at k lacks, by key; use, when set, marks them non-current. *keys
// is the keys of out's array: made from it on the first call, kept up to
// date after (out's array must change only here in between). key appends
// an entry's key to *buf, a buffer reused from key to key.
func mergeList(out *fhirout.Object, k string, older any, key func([]byte, *fhirout.Object) []byte, use string, keys *map[string]bool, buf *[]byte) {
	olds, _ := older.([]any)
	if len(olds) == 0 {
		return
	}
	if *keys == nil {
		*keys = map[string]bool{}
		cur, _ := out.Get(k)
		curs, _ := cur.([]any)
		for _, c := range curs {
			if o, ok := c.(*fhirout.Object); ok {
				*buf = key((*buf)[:0], o)
				(*keys)[string(*buf)] = true
			}
		}
	}
	have := *keys
	for _, e := range olds {
		o, ok := e.(*fhirout.Object)
		if !ok {
			continue
		}
		*buf = key((*buf)[:0], o)
		if have[string(*buf)] {
			continue
		}
		have[string(*buf)] = true
		if use != "" {
			o.Set("use", use)
		}
		out.Append(k, o)
	}
}

func str(o *fhirout.Object, k string) string {
	if o == nil {
		return ""
	}
	v, _ := o.Get(k)
	s, _ := v.(string)
	return s
}

func child(o *fhirout.Object, k string) *fhirout.Object {
	if o == nil {
		return nil
	}
	v, _ := o.Get(k)
	c, _ := v.(*fhirout.Object)
	return c
}

func list(o *fhirout.Object, k string) []any {
	if o == nil {
		return nil
	}
	v, _ := o.Get(k)
	l, _ := v.([]any)
	return l
}

// appendStrs appends o's strings at k joined by spaces.
func appendStrs(b []byte, o *fhirout.Object, k string) []byte {
	first := true
	for _, v := range list(o, k) {
		if s, ok := v.(string); ok {
			if !first {
				b = append(b, ' ')
			}
			b, first = append(b, s...), false
		}
	}
	return b
}

// upperFrom upper-cases b[from:] as strings.ToUpper does: in place when
// it is ASCII.
func upperFrom(b []byte, from int) []byte {
	for i := from; i < len(b); i++ {
		c := b[i]
		if c >= utf8.RuneSelf {
			return append(b[:from], strings.ToUpper(string(b[from:]))...)
		}
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return b
}

func identifierKey(b []byte, o *fhirout.Object) []byte {
	t := ""
	for _, c := range list(child(o, "type"), "coding") {
		if co, ok := c.(*fhirout.Object); ok {
			t = str(co, "code")
			break
		}
	}
	b = append(append(append(b, str(o, "system")...), '|'), str(o, "value")...)
	return append(append(b, '|'), t...)
}

func extensionKey(b []byte, o *fhirout.Object) []byte { return append(b, str(o, "url")...) }

func nameKey(b []byte, o *fhirout.Object) []byte {
	from := len(b)
	b = append(append(b, str(o, "family")...), '|')
	b = append(appendStrs(b, o, "given"), '|')
	b = append(appendStrs(b, o, "prefix"), '|')
	return upperFrom(appendStrs(b, o, "suffix"), from)
}

func addressKey(b []byte, o *fhirout.Object) []byte {
	from := len(b)
	b = append(appendStrs(b, o, "line"), '|')
	for _, k := range [...]string{"city", "district", "state", "postalCode"} {
		b = append(append(b, str(o, k)...), '|')
	}
	return upperFrom(append(b, str(o, "country")...), from)
}
