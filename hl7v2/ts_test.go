package hl7v2

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseTS(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	for _, tc := range []struct {
		in      string
		prec    Precision
		offset  bool
		dropped string
		date    string // FHIRDate
		dt      string // FHIRDateTime(New York)
		instant string // Time in RFC3339Nano, when it matters
	}{
		{"2023", PrecYear, false, "", "2023", "2023", ""},
		{"202301", PrecMonth, false, "", "2023-01", "2023-01", ""},
		{"20230105", PrecDay, false, "", "2023-01-05", "2023-01-05", "2023-01-05T00:00:00Z"},
		{"2023010514", PrecHour, false, "", "2023-01-05", "2023-01-05T14:00:00-05:00", ""},
		{"202301051430", PrecMinute, false, "", "2023-01-05", "2023-01-05T14:30:00-05:00", ""},
		{"20230705143012", PrecSecond, false, "", "2023-07-05", "2023-07-05T14:30:12-04:00", "2023-07-05T14:30:12Z"},
		{"20230105143012-0700", PrecSecond, true, "", "2023-01-05", "2023-01-05T14:30:12-07:00", "2023-01-05T14:30:12-07:00"},
		{"20230105143012+0530", PrecSecond, true, "", "2023-01-05", "2023-01-05T14:30:12+05:30", ""},
		{"20230105143012+0000", PrecSecond, true, "", "2023-01-05", "2023-01-05T14:30:12Z", ""},
		{"20230105143012.1", PrecFraction, false, "", "2023-01-05", "2023-01-05T14:30:12.1-05:00", "2023-01-05T14:30:12.1Z"},
		{"20230212081544.113-0700", PrecFraction, true, "", "2023-02-12", "2023-02-12T08:15:44.113-07:00", ""},
		{"20230212081544.1130", PrecFraction, false, "", "2023-02-12", "2023-02-12T08:15:44.1130-05:00", ""},
		{"20180531144917033", PrecFraction, false, "", "2018-05-31", "2018-05-31T14:49:17.033-04:00", "2018-05-31T14:49:17.033Z"},
		{"20180531144917033123456", PrecFraction, false, "", "2018-05-31", "2018-05-31T14:49:17.033123456-04:00", ""},
		{"20140701041038", PrecSecond, false, "", "2014-07-01", "2014-07-01T04:10:38-04:00", ""},
		{"20140701041038-0007", PrecSecond, false, "-0007", "2014-07-01", "2014-07-01T04:10:38-04:00", ""},
		{"20140701041038+0", PrecSecond, false, "+0", "2014-07-01", "2014-07-01T04:10:38-04:00", ""},
		{"20140701041038+2500", PrecSecond, false, "+2500", "2014-07-01", "2014-07-01T04:10:38-04:00", ""},
		{"20140701-0500", PrecDay, true, "", "2014-07-01", "2014-07-01", ""},
		{" 20200229 ", PrecDay, false, "", "2020-02-29", "2020-02-29", ""},
		{"201508", PrecMonth, false, "", "2015-08", "2015-08", ""},
		{"20321101", PrecDay, false, "", "2032-11-01", "2032-11-01", ""},
	} {
		ts, err := ParseTS(tc.in)
		if err != nil {
			t.Errorf("ParseTS(%q): %v", tc.in, err)
			continue
		}
		if ts.Precision != tc.prec || ts.HasOffset != tc.offset || ts.DroppedOffset != tc.dropped {
			t.Errorf("ParseTS(%q) = prec %d offset %v dropped %q", tc.in, ts.Precision, ts.HasOffset, ts.DroppedOffset)
		}
		if got := ts.FHIRDate(); got != tc.date {
			t.Errorf("ParseTS(%q).FHIRDate() = %q, want %q", tc.in, got, tc.date)
		}
		if got := ts.FHIRDateTime(ny); got != tc.dt {
			t.Errorf("ParseTS(%q).FHIRDateTime() = %q, want %q", tc.in, got, tc.dt)
		}
		if tc.instant != "" {
			if got := ts.Time.Format(time.RFC3339Nano); got != tc.instant {
				t.Errorf("ParseTS(%q).Time = %s, want %s", tc.in, got, tc.instant)
			}
		}
	}
	ts, _ := ParseTS("202301051430")
	if got := ts.FHIRDateTime(nil); got != "2023-01-05T14:30:00Z" {
		t.Errorf("FHIRDateTime(nil) = %q", got)
	}
	if got := (TS{}).FHIRDateTime(ny); got != "" {
		t.Errorf("zero TS FHIRDateTime = %q", got)
	}
}

func TestParseTSErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{"20111301", "month 13 does not exist"},
		{"00000101", "year 0000 does not exist"},
		{"20110001", "month 00 does not exist"},
		{"20230230", "day 30 does not exist in month 02"},
		{"20190229", "day 29 does not exist in month 02"},
		{"20091051132511", "day 51 does not exist"},
		{"20230105240000", "time 24:00:00 does not exist"},
		{"20230105236000", "time 23:60:00 does not exist"},
		{"20230105235960", "time 23:59:60 does not exist"},
		{"202", "3 digits"},
		{"2023010", "7 digits"},
		{"2023-01-05", "bad offset"},
		{"20230105T1430", "not YYYY"},
		{"2023010514.5", "fraction without seconds"},
		{"20230105143012.", "bad fraction"},
		{"20230105143012.12a", "bad fraction"},
		{"20230105143012.1234567890", "bad fraction"},
		{"abcd", "not YYYY"},
		{"20230105+05:00", "bad offset"},
		{"123456789012345678901234", "24 digits"},
	} {
		_, err := ParseTS(tc.in)
		if err == nil {
			t.Errorf("ParseTS(%q) succeeded, want %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTS(%q) error %q, want %q", tc.in, err, tc.want)
		}
		if len(tc.in) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
			t.Errorf("ParseTS(%q) error repeats the value: %q", tc.in, err)
		}
	}
}

// IsDay accepts exactly the eight-digit days ParseTS reads, whose
// FHIRDate is the digits with dashes.
func TestIsDay(t *testing.T) {
	n := 0
	for _, y := range []string{"0000", "0001", "0004", "0100", "1600", "1899", "1900", "2000", "2023", "2024", "2100", "2400", "9999"} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				s := fmt.Sprintf("%s%02d%02d", y, m, d)
				ts, err := ParseTS(s)
				if got, want := IsDay(s), err == nil; got != want {
					t.Fatalf("IsDay(%q) = %v, ParseTS error %v", s, got, err)
				}
				if err == nil {
					if want := s[:4] + "-" + s[4:6] + "-" + s[6:]; ts.FHIRDate() != want {
						t.Fatalf("%q: FHIRDate %q, want %q", s, ts.FHIRDate(), want)
					}
					n++
				}
			}
		}
	}
	for _, s := range []string{"", "2024031", "202403101", " 20240310", "20240310 ", "2024031a", "2024-03-", "20240310+0100"} {
		if IsDay(s) {
			t.Errorf("IsDay(%q) = true", s)
		}
	}
	if n < 4000 {
		t.Errorf("only %d days checked", n)
	}
}

// IsSecond against ParseTS: days at the bounds (IsDay's test covers the
// rest of the calendar) times hours, minutes and seconds at theirs.
func TestIsSecond(t *testing.T) {
	zone := time.FixedZone("", -5*3600)
	n := 0
	for _, day := range []string{"00000101", "00010101", "20240229", "20230229", "20241231", "20241301", "20240100", "99991231"} {
		for _, hms := range []string{"000000", "235959", "240000", "236000", "235960", "120000", "099999", "0a0000"} {
			s := day + hms
			ts, err := ParseTS(s)
			if got, want := IsSecond(s), err == nil; got != want {
				t.Fatalf("IsSecond(%q) = %v, ParseTS error %v", s, got, err)
			}
			if err == nil {
				want := s[:4] + "-" + s[4:6] + "-" + s[6:8] + "T" + s[8:10] + ":" + s[10:12] + ":" + s[12:] + "-05:00"
				if got := ts.FHIRDateTime(zone); got != want {
					t.Fatalf("%q: FHIRDateTime %q, want %q", s, got, want)
				}
				n++
			}
		}
	}
	for _, s := range []string{"", "2024031010150", "202403101015001", " 20240310101500", "20240310101500 ", "20240310101500-0500", "20240310101500.1"} {
		if IsSecond(s) {
			t.Errorf("IsSecond(%q) = true", s)
		}
	}
	if n < 12 {
		t.Errorf("only %d timestamps checked", n)
	}
}

// isDayRef is IsDay digit by digit.
func isDayRef(s string) bool {
	if len(s) != 8 || !allDigits(s) {
		return false
	}
	year, month, day := digits(s[:4]), digits(s[4:6]), digits(s[6:])
	return year != 0 && month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month)
}

// IsDay agrees with isDayRef on strings of digits and the bytes next to
// them (those a word-wide test could let through).
func TestIsDayBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("0123456789/:;?@ \x00\xff\x29\x3a\x3f\x40\x99\xb0\xb9")
	for range 200000 {
		b := []byte(fmt.Sprintf("%04d%02d%02d", r.IntN(10000), r.IntN(14), r.IntN(33)))
		if r.IntN(2) == 0 {
			b[r.IntN(8)] = alphabet[r.IntN(len(alphabet))]
		}
		if r.IntN(20) == 0 {
			b = b[:r.IntN(9)]
		}
		if got, want := IsDay(string(b)), isDayRef(string(b)); got != want {
			t.Fatalf("IsDay(%q) = %v, want %v", b, got, want)
		}
	}
}
