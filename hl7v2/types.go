package hl7v2

import (
	"fmt"
	"strconv"
	"strings"
)

// The typed views below are read by the Parse functions, which take a
// repetition (the type's parts are components) or a component (parts are
// subcomponents, as for the HD in CX-4); every string is decoded, and a
// part not sent is "".

// HD is a hierarchic designator (assigning authority, facility).
type HD struct{ Namespace, UniversalID, UniversalIDType string }

// CX is an extended identifier (PID-3 patient ids).
type CX struct {
	ID, CheckDigit     string
	AssigningAuthority HD
	IDType             string
	AssigningFacility  HD
}

// XPN is a person name; Family is the surname of FN.
type XPN struct{ Family, Given, Middle, Suffix, Prefix, Degree, NameType string }

// XAD is an address; Street is the street line of SAD.
type XAD struct{ Street, Other, City, State, Zip, Country, Type, County string }

// XTN is a telecommunication number or email address.
type XTN struct {
	Number, Use, Equipment, Email, CountryCode, AreaCode, Local, Extension string
}

// CWE is a coded value (also CE): code, text and coding system, with the
// alternate triplet.
type CWE struct{ Code, Text, System, AltCode, AltText, AltSystem string }

// XCN is a person with an identifier (ordering or administering
// provider).
type XCN struct {
	ID, Family, Given, Middle, Suffix, Prefix string
	AssigningAuthority                        HD
	IDType                                    string
}

// part returns part i of a composite: a component of a repetition, a
// subcomponent of a component.
func (v Value) part(i int) Value {
	if v.impl.level() == levelRep && !v.impl.literal() {
		return v.Component(i)
	}
	return v.Sub(i)
}

func (v Value) partString(i int) string { return v.part(i).String() }

// firstSub is the first subcomponent of part i (FN.1 surname in XPN.1).
func (v Value) firstSub(i int) string {
	p := v.part(i)
	if p.impl.level() == levelComp {
		return p.Sub(1).String()
	}
	return p.String()
}

// ParseHD reads namespace ^ universal id ^ universal id type.
func ParseHD(v Value) HD {
	return HD{v.partString(1), v.partString(2), v.partString(3)}
}

// ParseCX reads CX: 1 id, 2 check digit, 4 assigning authority (HD),
// 5 identifier type, 6 assigning facility (HD).
func ParseCX(v Value) CX {
	return CX{
		ID:                 v.partString(1),
		CheckDigit:         v.partString(2),
		AssigningAuthority: ParseHD(v.part(4)),
		IDType:             v.partString(5),
		AssigningFacility:  ParseHD(v.part(6)),
	}
}

// ParseXPN reads XPN: 1 family name (FN.1 surname), 2 given, 3 second and
// further given names, 4 suffix, 5 prefix, 6 degree, 7 name type.
func ParseXPN(v Value) XPN {
	return XPN{
		Family:   v.firstSub(1),
		Given:    v.partString(2),
		Middle:   v.partString(3),
		Suffix:   v.partString(4),
		Prefix:   v.partString(5),
		Degree:   v.partString(6),
		NameType: v.partString(7),
	}
}

// ParseXAD reads XAD: 1 street (SAD.1), 2 other designation, 3 city,
// 4 state, 5 zip, 6 country, 7 address type, 9 county.
func ParseXAD(v Value) XAD {
	return XAD{
		Street:  v.firstSub(1),
		Other:   v.partString(2),
		City:    v.partString(3),
		State:   v.partString(4),
		Zip:     v.partString(5),
		Country: v.partString(6),
		Type:    v.partString(7),
		County:  v.partString(9),
	}
}

// ParseXTN reads XTN: 1 number as text (deprecated), 2 use code,
// 3 equipment type, 4 email, 5 country code, 6 area code, 7 local number,
// 8 extension.
func ParseXTN(v Value) XTN {
	return XTN{
		Number:      v.partString(1),
		Use:         v.partString(2),
		Equipment:   v.partString(3),
		Email:       v.partString(4),
		CountryCode: v.partString(5),
		AreaCode:    v.partString(6),
		Local:       v.partString(7),
		Extension:   v.partString(8),
	}
}

// ParseCWE reads CWE or CE: code ^ text ^ system ^ alternate code ^
// alternate text ^ alternate system.
func ParseCWE(v Value) CWE {
	return CWE{v.partString(1), v.partString(2), v.partString(3), v.partString(4), v.partString(5), v.partString(6)}
}

// ParseXCN reads XCN: 1 id, 2 family name (FN.1), 3 given, 4 middle,
// 5 suffix, 6 prefix, 9 assigning authority (HD), 13 identifier type.
func ParseXCN(v Value) XCN {
	return XCN{
		ID:                 v.partString(1),
		Family:             v.firstSub(2),
		Given:              v.partString(3),
		Middle:             v.partString(4),
		Suffix:             v.partString(5),
		Prefix:             v.partString(6),
		AssigningAuthority: ParseHD(v.part(9)),
		IDType:             v.partString(13),
	}
}

// ParseNM parses an NM value: optional sign, digits, optional decimal
// point and digits (surrounding spaces ignored). Exponents, hex, NaN and
// infinities are not NM and fail.
func ParseNM(s string) (float64, error) {
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '+' || t[i] == '-') {
		i++
	}
	digits, dot := 0, false
	for ; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return 0, fmt.Errorf("hl7v2: NM %q: not a number", s)
		}
	}
	if digits == 0 {
		return 0, fmt.Errorf("hl7v2: NM %q: not a number", s)
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("hl7v2: NM %q: %w", s, err)
	}
	return f, nil
}
