package roster

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/iisbridge/iisbridge/match"
)

// Tally counts outcomes of the rows of one kind.
type Tally struct {
	Rows      int `json:"rows"`
	Right     int `json:"matched_right"` // certain single match, the true person
	Wrong     int `json:"matched_wrong"` // certain single match, someone else (or anyone, for a non-member)
	Ambiguous int `json:"ambiguous"`
	NotFound  int `json:"not_found"`
	// TrueInCandidates: ambiguous rows whose candidates include the true person.
	TrueInCandidates int `json:"true_in_candidates"`
}

// Report is the matcher measured against a roster's truth.
type Report struct {
	ByKind map[string]*Tally `json:"by_kind"`
	Total  Tally             `json:"total"`
	// Precision: of the certain single matches, the share that are right.
	// Recall: of the member rows, the share matched, certain and right.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// Evaluator accumulates a Report one row at a time.
type Evaluator struct{ rep Report }

// Add scores one row's result.
func (e *Evaluator) Add(row Row, res match.Result) {
	if e.rep.ByKind == nil {
		e.rep.ByKind = map[string]*Tally{}
	}
	t := e.rep.ByKind[row.Kind]
	if t == nil {
		t = &Tally{}
		e.rep.ByKind[row.Kind] = t
	}
	for _, t := range []*Tally{t, &e.rep.Total} {
		t.Rows++
		switch res.Outcome {
		case match.Matched:
			if row.Person != "" && res.Best().ID == row.Person {
				t.Right++
			} else {
				t.Wrong++
			}
		case match.Ambiguous:
			t.Ambiguous++
			for _, c := range res.Candidates {
				if row.Person != "" && c.ID == row.Person {
					t.TrueInCandidates++
				}
			}
		default:
			t.NotFound++
		}
	}
}

// Report computes precision and recall.
func (e *Evaluator) Report() Report {
	r := e.rep
	if n := r.Total.Right + r.Total.Wrong; n > 0 {
		r.Precision = float64(r.Total.Right) / float64(n)
	}
	members := r.Total.Rows
	for _, k := range []string{NonMember, Lookalike} {
		if t := r.ByKind[k]; t != nil {
			members -= t.Rows
		}
	}
	if members > 0 {
		r.Recall = float64(r.Total.Right) / float64(members)
	}
	return r
}

// Print writes the report as a table, one line per kind.
func (r Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\trows\tmatched right\tmatched wrong\tambiguous (true among candidates)\tnot found\t")
	line := func(k string, t *Tally) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d (%d)\t%d\t\n", k, t.Rows, t.Right, t.Wrong, t.Ambiguous, t.TrueInCandidates, t.NotFound)
	}
	for _, k := range Kinds() {
		if t := r.ByKind[k]; t != nil {
			line(k, t)
		}
	}
	line("all", &r.Total)
	tw.Flush()
	fmt.Fprintf(w, "certain matches: precision %.4f, recall %.4f\n", r.Precision, r.Recall)
}
