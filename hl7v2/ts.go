package hl7v2

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Precision of a TS/DTM/DT value as sent.
type Precision int

const (
	PrecYear Precision = iota + 1
	PrecMonth
	PrecDay
	PrecHour
	PrecMinute
	PrecSecond
	PrecFraction
)

// TS is a parsed TS/DTM/DT: YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ].
type TS struct {
	Time      time.Time // in the value's own offset, or UTC when it has none
	Precision Precision
	HasOffset bool
	// DroppedOffset is an offset that was sent but ignored as implausible
	// ("+0", "-0007", "+2500"): the value is read without offset. Callers
	// should warn about it.
	DroppedOffset string
	fracDigits    int // digits of the fraction as sent (PrecFraction)
}

// ParseTS parses a TS/DTM/DT value (surrounding spaces ignored). Errors
// describe the problem without repeating the value (it may be a birth date).
//
// Rules where real feeds stray from the standard:
//   - More than 14 digits without a dot (up to 23): digits past the
//     seconds are a fraction (20180531144917033 is 14:49:17.033).
//   - An offset must be + or - and 4 digits, hours up to 14 and minutes 00,
//     15, 30 or 45; anything else is dropped (DroppedOffset), not an error.
//   - Impossible dates and times (20111301, 20091051, hour 24) are errors,
//     as is anything that is not digits in the layout above.
func ParseTS(s string) (TS, error) {
	var t TS
	s = strings.TrimSpace(s)
	if s == "" {
		return t, fmt.Errorf("hl7v2: empty timestamp")
	}
	loc := time.UTC
	if k := indexSign(s); k >= 0 {
		off := s[k:]
		s = s[:k]
		if secs, ok := parseOffset(off); ok {
			t.HasOffset = true
			loc = fixedZone(secs)
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
	// s is all digits: read them without strconv.
	num := func(a, b, def int) int {
		if len(s) < b {
			return def
		}
		return digits(s[a:b])
	}
	year, month, day := num(0, 4, 0), num(4, 6, 1), num(6, 8, 1)
	hour, minute, sec := num(8, 10, 0), num(10, 12, 0), num(12, 14, 0)
	ns := 0
	if frac != "" {
		t.Precision = PrecFraction
		t.fracDigits = len(frac)
		ns = digits(frac)
		for k := len(frac); k < 9; k++ {
			ns *= 10
		}
	}
	switch {
	case year == 0:
		return TS{}, errors.New("hl7v2: timestamp: year 0000 does not exist")
	case month < 1 || month > 12:
		return TS{}, fmt.Errorf("hl7v2: timestamp: month %02d does not exist", month)
	case day < 1 || day > daysIn(year, month):
		return TS{}, fmt.Errorf("hl7v2: timestamp: day %02d does not exist in month %02d", day, month)
	case hour > 23 || minute > 59 || sec > 59:
		return TS{}, fmt.Errorf("hl7v2: timestamp: time %02d:%02d:%02d does not exist", hour, minute, sec)
	}
	t.Time = time.Date(year, time.Month(month), day, hour, minute, sec, ns, loc)
	return t, nil
}

// indexSign is strings.IndexAny(s, "+-") without its set building.
func indexSign(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '+' || s[i] == '-' {
			return i
		}
	}
	return -1
}

// digits is the value of s, all decimal digits (at most 9 of them).
func digits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// IsDay reports whether s is a date of day precision, YYYYMMDD, that
// ParseTS reads without error and without trimming (a day that exists):
// its FHIRDate is then s as YYYY-MM-DD, and callers may write it so
// without parsing a TS (most dates sent are such days).
//
// The eight bytes are read as one word, tested and split into digits
// all at once: date() and datetime() of a mapping ask for every value.
func IsDay(s string) bool {
	if len(s) != 8 {
		return false
	}
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	// Digits: every byte is 0x30-0x3f, and still is with 6 added (no
	// carry leaves a byte: its low half is at most 0xf).
	const hi, threes, sixes = 0xf0f0f0f0f0f0f0f0, 0x3030303030303030, 0x0606060606060606
	if w&hi != threes || (w+sixes)&hi != threes {
		return false
	}
	d := w - threes // byte i: digit i of s
	dig := func(i int) int { return int(d >> (8 * i) & 0xff) }
	year := dig(0)*1000 + dig(1)*100 + dig(2)*10 + dig(3)
	month, day := dig(4)*10+dig(5), dig(6)*10+dig(7)
	return year != 0 && month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month)
}

// IsSecond reports whether s is a timestamp of second precision without
// offset, YYYYMMDDHHMMSS, that ParseTS reads without error and without
// trimming: its FHIRDateTime in a fixed zone is then its digits with the
// zone's offset, and callers may write it so without parsing a TS.
func IsSecond(s string) bool {
	return len(s) == 14 && IsDay(s[:8]) && allDigits(s[8:]) &&
		digits(s[8:10]) <= 23 && digits(s[10:12]) <= 59 && digits(s[12:]) <= 59
}

// daysIn is the number of days of month (1-12) of year (1-9999) in the
// proleptic Gregorian calendar, as time.Date counts them.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseOffset reads +HHMM / -HHMM with a plausible value.
func parseOffset(off string) (int, bool) {
	if len(off) != 5 || (off[0] != '+' && off[0] != '-') || !allDigits(off[1:]) {
		return 0, false
	}
	h, m := digits(off[1:3]), digits(off[3:5])
	if h > 14 || m%15 != 0 {
		return 0, false
	}
	secs := h*3600 + m*60
	if off[0] == '-' {
		secs = -secs
	}
	return secs, true
}

// zones holds the unnamed fixed zones of the offsets parseOffset accepts
// (quarter hours from -14:45 to +14:45), made on first use: time.FixedZone
// allocates a new Location each call for the ones it does not cache
// itself (half hours, -13, -14). The zones are equal to FixedZone's.
var zones [2*maxOffsetQuarters + 1]atomic.Pointer[time.Location]

const maxOffsetQuarters = 14*4 + 3

func fixedZone(secs int) *time.Location {
	if secs == 0 {
		return time.UTC
	}
	q := secs / 900
	if q*900 != secs || q < -maxOffsetQuarters || q > maxOffsetQuarters {
		return time.FixedZone("", secs)
	}
	z := &zones[q+maxOffsetQuarters]
	if loc := z.Load(); loc != nil {
		return loc
	}
	loc := time.FixedZone("", secs)
	if !z.CompareAndSwap(nil, loc) {
		loc = z.Load()
	}
	return loc
}

// FHIRDate renders at most day precision: 2023, 2023-01, 2023-01-05.
func (t TS) FHIRDate() string {
	switch t.Precision {
	case 0:
		return ""
	case PrecYear:
		return t.Time.Format("2006")
	case PrecMonth:
		return t.Time.Format("2006-01")
	}
	return t.Time.Format("2006-01-02")
}

// FHIRDateTime renders a FHIR dateTime at the sent precision; with a time
// part, seconds are padded and the offset is the value's own, else def's
// (the wall clock is read in def, so daylight saving applies; nil def is
// UTC). A fraction keeps the digits sent.
func (t TS) FHIRDateTime(def *time.Location) string {
	if t.Precision <= PrecDay {
		return t.FHIRDate()
	}
	tm := t.Time
	if !t.HasOffset {
		if def == nil {
			def = time.UTC
		}
		tm = time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), def)
	}
	layout := "2006-01-02T15:04:05Z07:00"
	if t.Precision == PrecFraction {
		digits := t.fracDigits
		if digits == 0 {
			digits = 9
		}
		layout = "2006-01-02T15:04:05." + strings.Repeat("0", digits) + "Z07:00"
	}
	return tm.Format(layout)
}
