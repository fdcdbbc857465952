package sql

import (
	"strings"
	"testing"
	"time"
)

// TestDateLayout: the fast reader of dates: layouts answers as time.Parse
// does wherever it answers, and answers for every plain date of its
// layouts (every day of a leap and a common year, months in any case);
// other layouts are left to time.Parse.
func TestDateLayout(t *testing.T) {
	for _, l := range []string{"2006-002", "January 2, 2006", "01/02/06", "2006-01", "2006-01-02 15:04", "02.01.2006 Mon", "2006-01-01", "Jan-Jan-2006"} {
		if compileDateLayout(l) != nil {
			t.Errorf("layout %q compiled: it has more than 2006, 01, 02, Jan and separators", l)
		}
	}
	check := func(layout, v string, wantFast bool) {
		t.Helper()
		f := compileDateLayout(layout)
		if f == nil {
			t.Fatalf("layout %q not compiled", layout)
		}
		got, ok := f.appendISO(nil, v)
		pt, err := time.Parse(layout, v)
		switch {
		case ok && err != nil:
			t.Errorf("%q in %q: fast %s, time.Parse fails: %v", v, layout, got, err)
		case ok && string(got) != pt.Format(time.DateOnly):
			t.Errorf("%q in %q: fast %s, time.Parse %s", v, layout, got, pt.Format(time.DateOnly))
		case !ok && wantFast:
			t.Errorf("%q in %q: not read fast", v, layout)
		}
	}
	layouts := []string{"01/02/2006", "02-Jan-2006", "20060102", "2006-01-02", "Jan 02 2006", "2006.01.02", "02/01/2006"}
	for _, layout := range layouts {
		for _, y := range []int{1900, 2020, 2023, 2000, 1} {
			for d := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == y; d = d.AddDate(0, 0, 1) {
				v := d.Format(layout)
				check(layout, v, true)
				check(layout, strings.ToUpper(v), true)
				check(layout, strings.ToLower(v), true)
			}
		}
		for _, bad := range []string{"", "31-FEB-2020", "29-Feb-2021", "29-Feb-2020", "30-Feb-2020", "00/10/2020", "13/01/2020",
			"10/00/2020", "1/2/2020", "01/02/+123", "01/02/-123", "2020010", "202001022", "20201301", "20200230", "20200229", "2020-1-02",
			"31-Dez-2020", "31-dec-2020", "31-DEC-2020", "31 DEC 2020", "Feb 29 2021", "Feb 29 2024", "2020.02.31", "31/12/2020", "12/31/2020",
			"0a/01/2020", "01/0a/2020", "2O20-01-01", "31-J\xe1n-2020"} {
			check(layout, bad, false)
		}
	}
}

// BenchmarkDateLayout: a dates: value normalized by time.Parse and
// Format, and by the layout's fast reader (three per vaccination row).
func BenchmarkDateLayout(b *testing.B) {
	const layout, v = "02-Jan-2006", "31-DEC-2017"
	for _, bc := range []struct {
		name string
		fast *dateLayout
	}{{"time.Parse", nil}, {"fast", compileDateLayout(layout)}} {
		b.Run(bc.name, func(b *testing.B) {
			var s rowSlab
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.normalize('d', layout, bc.fast, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
