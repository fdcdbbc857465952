package hl7v2

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// parseTSRef is ParseTS as first written (strconv, time.Date for month
// lengths, a new FixedZone per offset): the fast ParseTS must agree with
// it on every input, errors included.
func parseTSRef(s string) (TS, error) {
	var t TS
	s = strings.TrimSpace(s)
	if s == "" {
		return t, fmt.Errorf("hl7v2: empty timestamp")
	}
	loc := time.UTC
	if k := strings.IndexAny(s, "+-"); k >= 0 {
		off := s[k:]
		s = s[:k]
		if secs, ok := parseOffsetRef(off); ok {
			t.HasOffset = true
			loc = time.UTC
			if secs != 0 {
				loc = time.FixedZone("", secs)
			}
		} else if len(off) <= 5 && allDigits(off[1:]) {
			t.DroppedOffset = off
		} else {
			return TS{}, fmt.Errorf("hl7v2: timestamp: bad offset, want +/-ZZZZ")
		}
	}
	frac := ""
	if k := strings.IndexByte(s, '.'); k >= 0 {
		frac = s[k+1:]
		s = s[:k]
		if len(s) != 14 {
			return TS{}, fmt.Errorf("hl7v2: timestamp: fraction without seconds")
		}
		if frac == "" || len(frac) > 9 || !allDigits(frac) {
			return TS{}, fmt.Errorf("hl7v2: timestamp: bad fraction")
		}
	} else if len(s) > 14 && len(s) <= 14+9 && allDigits(s) {
		s, frac = s[:14], s[14:]
	}
	if !allDigits(s) {
		return TS{}, fmt.Errorf("hl7v2: timestamp: not YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]")
	}
	switch len(s) {
	case 4:
		t.Precision = PrecYear
	case 6:
		t.Precision = PrecMonth
	case 8:
		t.Precision = PrecDay
	case 10:
		t.Precision = PrecHour
	case 12:
		t.Precision = PrecMinute
	case 14:
		t.Precision = PrecSecond
	default:
		return TS{}, fmt.Errorf("hl7v2: timestamp: %d digits before the fraction/offset, want 4, 6, 8, 10, 12 or 14", len(s))
	}
	num := func(a, b, def int) int {
		if len(s) < b {
			return def
		}
		n, _ := strconv.Atoi(s[a:b])
		return n
	}
	year, month, day := num(0, 4, 0), num(4, 6, 1), num(6, 8, 1)
	hour, minute, sec := num(8, 10, 0), num(10, 12, 0), num(12, 14, 0)
	ns := 0
	if frac != "" {
		t.Precision = PrecFraction
		t.fracDigits = len(frac)
		ns, _ = strconv.Atoi(frac)
		for k := len(frac); k < 9; k++ {
			ns *= 10
		}
	}
	switch {
	case year == 0:
		return TS{}, errors.New("hl7v2: timestamp: year 0000 does not exist")
	case month < 1 || month > 12:
		return TS{}, fmt.Errorf("hl7v2: timestamp: month %02d does not exist", month)
	case day < 1 || day > daysInRef(year, month):
		return TS{}, fmt.Errorf("hl7v2: timestamp: day %02d does not exist in month %02d", day, month)
	case hour > 23 || minute > 59 || sec > 59:
		return TS{}, fmt.Errorf("hl7v2: timestamp: time %02d:%02d:%02d does not exist", hour, minute, sec)
	}
	t.Time = time.Date(year, time.Month(month), day, hour, minute, sec, ns, loc)
	return t, nil
}

func daysInRef(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func parseOffsetRef(off string) (int, bool) {
	if len(off) != 5 || (off[0] != '+' && off[0] != '-') || !allDigits(off[1:]) {
		return 0, false
	}
	h, _ := strconv.Atoi(off[1:3])
	m, _ := strconv.Atoi(off[3:5])
	if h > 14 || m%15 != 0 {
		return 0, false
	}
	secs := h*3600 + m*60
	if off[0] == '-' {
		secs = -secs
	}
	return secs, true
}

// sameTS compares two results field by field; the zones by name and
// offset (the fast ParseTS shares its Locations).
func sameTS(a TS, aerr error, b TS, berr error) error {
	if (aerr == nil) != (berr == nil) || aerr != nil && aerr.Error() != berr.Error() {
		return fmt.Errorf("error %v, want %v", aerr, berr)
	}
	an, ao := a.Time.Zone()
	bn, bo := b.Time.Zone()
	if !a.Time.Equal(b.Time) || an != bn || ao != bo || a.Time.Location().String() != b.Time.Location().String() ||
		a.Time.String() != b.Time.String() || a.Precision != b.Precision || a.HasOffset != b.HasOffset ||
		a.DroppedOffset != b.DroppedOffset || a.fracDigits != b.fracDigits {
		return fmt.Errorf("%+v (%s), want %+v (%s)", a, a.Time, b, b.Time)
	}
	if a.FHIRDate() != b.FHIRDate() || a.FHIRDateTime(nil) != b.FHIRDateTime(nil) {
		return fmt.Errorf("renders %s %s, want %s %s", a.FHIRDate(), a.FHIRDateTime(nil), b.FHIRDate(), b.FHIRDateTime(nil))
	}
	return nil
}

func TestParseTSMatchesReference(t *testing.T) {
	ins := []string{"", " ", "2023", "202301", "20230105", "2023010514", "202301051430", "20230105143012",
		"20230105143012.1", "20230105143012.123456789", "20230105143012.1234567890", "20230105143012.",
		"2023010514301", "20180531144917033", "201805311449170331234567890", "00000101", "20231301", "20230229",
		"20240229", "19000229", "20000229", "20230431", "20230132", "2023010524", "202301051260", "20230105143060",
		"20230105-0600", "20230105143012-0600", "20230105143012+0530", "20230105143012-0330", "20230105143012+1445",
		"20230105143012-1400", "20230105143012-1300", "20230105143012+1500", "20230105143012+0007", "20230105+0",
		"20230105-0", "20230105-", "20230105+00000", "20230105-06:00", "2023-01-05", "20230105143012.5+0100",
		"2023.5", "abcd", " 20230105 ", "\t20230105143012-0500\n", "+0000", "20230105143012+0000", "20230105143012-0000",
		"99991231235959.999999999+1445", "00010101",
	}
	for h := -15; h <= 15; h++ {
		for _, m := range []int{0, 15, 30, 45, 7} {
			sign := byte('+')
			if h < 0 {
				sign = '-'
			}
			ins = append(ins, fmt.Sprintf("202306151200%c%02d%02d", sign, max(h, -h), m))
		}
	}
	for _, s := range ins {
		a, aerr := ParseTS(s)
		b, berr := parseTSRef(s)
		if err := sameTS(a, aerr, b, berr); err != nil {
			t.Errorf("ParseTS(%q): %v", s, err)
		}
	}
}

func TestDaysIn(t *testing.T) {
	for y := 1; y <= 9999; y++ {
		for m := 1; m <= 12; m++ {
			if got, want := daysIn(y, m), daysInRef(y, m); got != want {
				t.Fatalf("daysIn(%d, %d) = %d, want %d", y, m, got, want)
			}
		}
	}
}

func TestFixedZoneShared(t *testing.T) {
	for q := -maxOffsetQuarters; q <= maxOffsetQuarters; q++ {
		secs := q * 900
		a, b := fixedZone(secs), fixedZone(secs)
		if a != b {
			t.Errorf("offset %d: two Locations", secs)
		}
		ref := time.FixedZone("", secs)
		if secs == 0 {
			ref = time.UTC
		}
		when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		an, ao := when.In(a).Zone()
		rn, ro := when.In(ref).Zone()
		if an != rn || ao != ro || a.String() != ref.String() {
			t.Errorf("offset %d: zone %q %d, want %q %d", secs, an, ao, rn, ro)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ParseTS("20230105143012+0530") }); n != 0 {
		t.Errorf("ParseTS with a half-hour offset allocates %v times", n)
	}
	// Concurrent first uses agree on one Location (run with -race).
	var wg sync.WaitGroup
	locs := make([]*time.Location, 8)
	for i := range locs {
		wg.Go(func() {
			ts, _ := ParseTS("20230105143012-0945")
			locs[i] = ts.Time.Location()
		})
	}
	wg.Wait()
	for _, l := range locs {
		if l != locs[0] {
			t.Error("concurrent first uses made two Locations")
		}
	}
}
