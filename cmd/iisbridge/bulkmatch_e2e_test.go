package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestEndToEndBulkMatch sends a roster built from the generator's truth,
// with typos, transposed birth dates, missing contact fields and persons
// the registry does not know, to Patient/$bulk-match and scores the
// answers against the truth: every input gets its Bundle, certain matches
// are right, and found members are found.
func TestEndToEndBulkMatch(t *testing.T) {
	t.Parallel()
	_, truth, cfg := genWorld(t, t.TempDir())
	_, c, _ := startBridge(t, cfg, false)
	_, m := c.export("/Patient/$export", nil)
	pidOf := matchPatients(t, truth.Persons, c.fetch(m).byType["Patient"])

	gender := map[string]string{"F": "female", "M": "male"}
	type row struct {
		kind, want string // want: Patient id, "" for a non-member
	}
	var rows []row
	var params []map[string]any
	add := func(kind, want string, given, family, birth, sex, zip, phone string) {
		id := fmt.Sprintf("r%d", len(rows)+1)
		p := map[string]any{"resourceType": "Patient", "id": id, "name": []any{map[string]any{"family": family, "given": []any{given}}},
			"birthDate": birth, "gender": gender[sex]}
		if zip != "" {
			p["address"] = []any{map[string]any{"postalCode": zip}}
		}
		if phone != "" {
			p["telecom"] = []any{map[string]any{"system": "phone", "value": phone}}
		}
		rows = append(rows, row{kind, want})
		params = append(params, map[string]any{"name": "resource", "resource": p})
	}
	for i, tp := range truth.Persons {
		n, b := tp.Name, tp.BirthDate
		switch i % 4 {
		case 0:
			add("exact", pidOf[tp.Key], n.Given, n.Family, b, tp.Sex, tp.Address.Zip, tp.Phone)
		case 1: // two letters of the family name swapped, upper case
			f := []rune(strings.ToUpper(n.Family))
			if len(f) > 3 {
				f[1], f[2] = f[2], f[1]
			}
			add("typo", pidOf[tp.Key], strings.ToUpper(n.Given), string(f), b, tp.Sex, tp.Address.Zip, tp.Phone)
		case 2:
			add("no contact", pidOf[tp.Key], n.Given, n.Family, b, tp.Sex, "", "")
		case 3:
			if b[5:7] != b[8:10] && b[8:10] <= "12" {
				add("transposed date", pidOf[tp.Key], n.Given, n.Family, b[:5]+b[8:10]+"-"+b[5:7], tp.Sex, tp.Address.Zip, tp.Phone)
			} else {
				add("exact", pidOf[tp.Key], n.Given, n.Family, b, tp.Sex, tp.Address.Zip, tp.Phone)
			}
		}
	}
	for i := range 10 {
		add("non-member", "", "Quintus", fmt.Sprintf("Zzyzxowski%d", i), fmt.Sprintf("19%02d-02-03", 10+i), "M", "00000", "")
	}
	_, m = c.exportPost("/Patient/$bulk-match", params...)
	res := c.fetch(m)
	bundles := res.byType["Bundle"]
	if len(bundles) != len(rows) {
		t.Fatalf("%d Bundles for %d input Patients", len(bundles), len(rows))
	}
	var certain, certainRight, members, found int
	byKind := map[string][2]int{}
	for i, b := range bundles {
		ref := str(obj(arr(obj(b, "meta"), "extension")[0], "valueReference"), "reference")
		if ref != fmt.Sprintf("Patient/r%d", i+1) {
			t.Fatalf("Bundle %d is for %s", i+1, ref)
		}
		r := rows[i]
		top, grade := "", ""
		if e := arr(b, "entry"); len(e) > 0 {
			top = str(obj(e[0], "resource"), "id")
			for _, x := range arr(obj(e[0], "search"), "extension") {
				grade = str(x, "valueCode")
			}
		}
		if grade == "certain" {
			certain++
			if top == r.want {
				certainRight++
			}
		}
		if r.want != "" {
			members++
			k := byKind[r.kind]
			k[0]++
			if top == r.want && (grade == "certain" || grade == "probable") {
				found++
				k[1]++
			}
			byKind[r.kind] = k
		} else if top != "" {
			t.Errorf("non-member %d matched %s (%s)", i+1, top, grade)
		}
	}
	precision := float64(certainRight) / float64(max(certain, 1))
	recall := float64(found) / float64(members)
	var kinds []string
	for k, v := range byKind {
		kinds = append(kinds, fmt.Sprintf("%s %d/%d", k, v[1], v[0]))
	}
	slices.Sort(kinds)
	t.Logf("%d inputs: certain %d (precision %.3f); members found certain or probable %d/%d (recall %.3f); %s",
		len(rows), certain, precision, found, members, recall, strings.Join(kinds, ", "))
	if precision < 0.99 || recall < 0.95 {
		t.Errorf("precision %.3f (want ≥ 0.99), recall %.3f (want ≥ 0.95)", precision, recall)
	}
	if len(m.Error) != 0 {
		b, _ := json.Marshal(m.Error)
		t.Errorf("error files: %s", b)
	}
}
