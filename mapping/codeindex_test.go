package mapping

import "testing"

// Every table of the default mapping finds through its index what its map
// holds, and nothing else.
func TestCodeIndexMatchesEntries(t *testing.T) {
	n := 0
	for name, tb := range defaultTables(t) {
		if tb.index == nil {
			t.Fatalf("table %s has no index", name)
		}
		for k, want := range tb.entries {
			if got, ok := tb.index.get(k); !ok || got != want {
				t.Errorf("%s[%q] = %v %v, want %v", name, k, got, ok, want)
			}
			for _, miss := range []string{k + "x", "x" + k, k[:len(k)/2]} {
				if _, in := tb.entries[miss]; !in {
					if got, ok := tb.index.get(miss); ok {
						t.Errorf("%s[%q] = %v, not in the table", name, miss, got)
					}
				}
			}
			n++
		}
	}
	if n < 500 {
		t.Errorf("only %d codes checked", n)
	}
}

// defaultTables are the tables the default mapping's calls look up.
func defaultTables(t *testing.T) map[string]*table {
	out := map[string]*table{}
	var walk func(x expr)
	walk = func(x expr) {
		if c, ok := x.(*callExpr); ok {
			if ref, ok := c.data.(*tableRef); ok {
				out[ref.t.name] = ref.t
			}
			for _, a := range c.args {
				walk(a)
			}
		}
	}
	var rules func(rs []*rule)
	rules = func(rs []*rule) {
		for _, r := range rs {
			if r.value != nil {
				walk(r.value)
			}
			for _, c := range r.cases {
				if c.value != nil {
					walk(c.value)
				}
			}
			rules(r.children)
		}
	}
	impl := Default().impl
	for _, l := range impl.lets {
		walk(l.x)
	}
	for _, r := range impl.resources {
		for _, l := range r.lets {
			walk(l.x)
		}
		rules(r.rules)
	}
	if len(out) < 10 {
		t.Fatalf("only %d tables found", len(out))
	}
	return out
}
