package match

import (
	"encoding/json"
	"strings"
)

// FHIRPatient is the part of a FHIR R4 Patient the matcher reads.
type FHIRPatient struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Name         []struct {
		Use    string   `json:"use"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	BirthDate string `json:"birthDate"`
	Gender    string `json:"gender"`
	Address   []struct {
		Use        string `json:"use"`
		PostalCode string `json:"postalCode"`
	} `json:"address"`
	Telecom []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"telecom"`
	Identifier []FHIRIdentifier `json:"identifier"`
}

// FHIRIdentifier is a Patient.identifier.
type FHIRIdentifier struct {
	Type struct {
		Coding []struct {
			System string `json:"system"`
			Code   string `json:"code"`
		} `json:"coding"`
	} `json:"type"`
	System string `json:"system"`
	Value  string `json:"value"`
}

// TypeCode is the identifier's first type code (MR, SR, MA, ...), or "".
func (id FHIRIdentifier) TypeCode() string {
	if len(id.Type.Coding) == 0 {
		return ""
	}
	return id.Type.Coding[0].Code
}

// ParsePatient reads a FHIR Patient's JSON.
func ParsePatient(data []byte) (*FHIRPatient, error) {
	var p FHIRPatient
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Record is the matcher's view of the Patient: the official name (else
// the first, an "old" name never), its first given name and the rest as
// middle; the first non-old address's postal code; the first phone.
func (p *FHIRPatient) Record() Record {
	r := Record{ID: p.ID, BirthDate: p.BirthDate, Sex: p.Gender}
	chosen := -1
	for i, n := range p.Name {
		if n.Use == "official" {
			chosen = i
			break
		}
		if chosen < 0 && n.Use != "old" {
			chosen = i
		}
	}
	if chosen >= 0 {
		n := p.Name[chosen]
		r.Family = n.Family
		if len(n.Given) > 0 {
			r.Given = n.Given[0]
		}
		if len(n.Given) > 1 {
			r.Middle = strings.Join(n.Given[1:], " ")
		}
	}
	for _, a := range p.Address {
		if a.Use != "old" && a.PostalCode != "" {
			r.Postal = a.PostalCode
			break
		}
	}
	for _, t := range p.Telecom {
		if t.System == "phone" {
			r.Phone = t.Value
			break
		}
	}
	for _, id := range p.Identifier {
		if id.Value != "" {
			r.Identifiers = append(r.Identifiers, Identifier{System: id.System, Value: id.Value})
		}
	}
	return r
}
