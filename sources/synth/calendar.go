package synth

// Dates and times are plain integers so that formatting millions of them
// stays cheap and never depends on the machine's time zone database:
// a day is days since 1970-01-01, a timestamp is Unix seconds, and every
// wall-clock value is rendered in the jurisdiction's fixed offset.

import "time"

const (
	tzOffset    = -6 * 3600 // US Central standard time, fixed (no DST) so output is identical everywhere
	tzSuffix    = "-0600"
	secondsADay = 86400
)

var tz = time.FixedZone("UTC-6", tzOffset)

type day int

// civil converts days since the epoch to a calendar date (H. Hinnant's
// days_from_civil inverse).
func civil(d day) (y, m, dd int) {
	z := int(d) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dd = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return
}

func dayOf(y, m, d int) day {
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return day(t.Unix() / secondsADay)
}

// localDay is the jurisdiction's calendar day of a timestamp.
func localDay(ts int64) day { return day(floorDiv(ts+tzOffset, secondsADay)) }

// tsAt is the timestamp of a local wall-clock second on day d.
func tsAt(d day, secOfDay int) int64 { return int64(d)*secondsADay + int64(secOfDay) - tzOffset }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func appendDigits(b []byte, v, width int) []byte {
	var tmp [8]byte
	for i := width - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[:width]...)
}

// appendDate writes YYYYMMDD.
func appendDate(b []byte, d day) []byte {
	y, m, dd := civil(d)
	b = appendDigits(b, y, 4)
	b = appendDigits(b, m, 2)
	return appendDigits(b, dd, 2)
}

// appendTS writes YYYYMMDDHHMMSS-0600.
func appendTS(b []byte, ts int64) []byte {
	local := ts + tzOffset
	d := day(floorDiv(local, secondsADay))
	s := int(local - int64(d)*secondsADay)
	b = appendDate(b, d)
	b = appendDigits(b, s/3600, 2)
	b = appendDigits(b, s/60%60, 2)
	b = appendDigits(b, s%60, 2)
	return append(b, tzSuffix...)
}

// isoDate renders YYYY-MM-DD for the truth file.
func isoDate(d day) string {
	y, m, dd := civil(d)
	b := make([]byte, 0, 10)
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, m, 2)
	b = append(b, '-')
	b = appendDigits(b, dd, 2)
	return string(b)
}

func timeOf(ts int64) time.Time { return time.Unix(ts, 0).In(tz) }
