package sql

import "time"

// dateLayout is a dates: layout made only of 2006, 01, 02 and Jan (each
// once) and separators, read without time.Parse: a 1M-row export reads
// three such dates per vaccination row. What it cannot read it leaves to
// time.Parse, so its answers are time.Parse's.
type dateLayout struct {
	parts []datePart
	n     int // length of a matching value
}

type datePart struct {
	kind byte // 'y' 2006, 'm' 01, 'd' 02, 'M' Jan, or 0: the literal byte lit
	lit  byte
}

// compileDateLayout is the fast reader of layout, nil when the layout has
// anything else.
func compileDateLayout(layout string) *dateLayout {
	l := &dateLayout{}
	seen := map[byte]bool{}
	for i := 0; i < len(layout); {
		var p datePart
		w := 2
		switch rest := layout[i:]; {
		case len(rest) >= 4 && rest[:4] == "2006":
			p.kind, w = 'y', 4
		case len(rest) >= 2 && rest[:2] == "01":
			p.kind = 'm'
		case len(rest) >= 2 && rest[:2] == "02":
			p.kind = 'd'
		case len(rest) >= 3 && rest[:3] == "Jan" && (len(rest) == 3 || rest[3] != 'u'):
			p.kind, w = 'M', 3
		case rest[0] == '-' || rest[0] == '/' || rest[0] == '.' || rest[0] == ' ':
			p.lit, w = rest[0], 1
		default:
			return nil
		}
		if p.kind != 0 {
			k := p.kind
			if k == 'M' {
				k = 'm'
			}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		l.parts = append(l.parts, p)
		l.n += w
		i += w
	}
	if !seen['y'] || !seen['m'] || !seen['d'] {
		return nil
	}
	return l
}

var shortMonths = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// appendISO appends v as YYYY-MM-DD; false when v is not plainly of the
// layout (time.Parse then decides).
func (l *dateLayout) appendISO(b []byte, v string) ([]byte, bool) {
	if len(v) != l.n {
		return b, false
	}
	var y, m, d int
	var ys string
	i := 0
	for _, p := range l.parts {
		switch p.kind {
		case 0:
			if v[i] != p.lit {
				return b, false
			}
			i++
		case 'y':
			for j := i; j < i+4; j++ {
				if v[j] < '0' || v[j] > '9' {
					return b, false
				}
				y = y*10 + int(v[j]-'0')
			}
			ys = v[i : i+4]
			i += 4
		case 'm', 'd':
			if v[i] < '0' || v[i] > '9' || v[i+1] < '0' || v[i+1] > '9' {
				return b, false
			}
			n := atoi2(v[i : i+2])
			if p.kind == 'm' {
				m = n
			} else {
				d = n
			}
			i += 2
		case 'M':
			for k, name := range shortMonths {
				if v[i]|0x20 == name[0] && v[i+1]|0x20 == name[1] && v[i+2]|0x20 == name[2] {
					m = k + 1
					break
				}
			}
			if m == 0 {
				return b, false
			}
			i += 3
		}
	}
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return b, false
	}
	if d > 28 && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() != d {
		return b, false
	}
	b = append(b, ys...)
	b = append(b, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	return b, true
}
