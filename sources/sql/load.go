package sql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// LoadSummary counts what Load wrote.
type LoadSummary struct {
	Persons      int // truth persons (patient_master rows that survive)
	Merged       int // duplicate patient_master rows merged into a survivor
	Vaccinations int
	Rows         int // every row written, all tables
}

// Loader layout facts shared with the row-level truth (tests, docs).
const (
	iisOrgID = 1 // org_master row of the IIS itself; facilities follow in truth order
	// A truth person whose number n has n%mergeEvery == mergeRem and who is
	// known at two facilities or more was first registered twice: the
	// second record (patient_id 2n+1, the second facility's MRN) has
	// merged_into = 2n, the survivor. Its rows were moved to the survivor at
	// the merge; the duplicate keeps its master row and that MRN.
	mergeEvery, mergeRem = 10, 3
)

// PatientID is the patient_master key the loader gives a truth person
// ("P000123" → 246); merged-away duplicates take the next odd number.
func PatientID(personKey string) (int, error) {
	n, err := strconv.Atoi(strings.TrimLeft(personKey, "P"))
	if err != nil || !strings.HasPrefix(personKey, "P") {
		return 0, fmt.Errorf("person key %q is not P + digits", personKey)
	}
	return 2 * n, nil
}

// MergedAway says whether the loader writes a merged-away duplicate for p.
func MergedAway(p *synth.Person) bool {
	id, _ := PatientID(p.Key)
	return len(p.IDs) >= 2 && (id/2)%mergeEvery == mergeRem
}

// Local codes the default schema stores instead of the standard ones
// (code_table resolves them).
var (
	sexCodes        = map[string]string{"F": "1", "M": "2", "U": "9"}
	completionCodes = map[string]string{"CP": "C", "RE": "R", "NA": "N", "PA": "P"}
)

var codeRows = [][]any{
	{"sex", "1", "F", "Female"}, {"sex", "2", "M", "Male"}, {"sex", "9", "U", "Unknown"},
	{"completion", "C", "CP", "Complete"}, {"completion", "R", "RE", "Refused"},
	{"completion", "N", "NA", "Not administered"}, {"completion", "P", "PA", "Partially administered"},
}

// Load creates the default schema in db and writes into it the world whose
// truth.json is at truthPath (written by synth.Generate: same persons,
// doses, updates and deletes; merges as described at mergeEvery). Message
// times become the rows' dates: a person's master row is created at their
// first message and updated at their last; a dose is reported on its day
// (kept within the person's message span), updated at the person's last
// message when a U changed it, and deleted at its D message.
func Load(ctx context.Context, db *sql.DB, d Dialect, truthPath string) (*LoadSummary, error) {
	span := map[string][2]int64{} // person key → first, last message time (unix s)
	head, err := synth.WalkTruth(truthPath, synth.TruthWalker{Message: func(m *synth.Message) error {
		if m.Person == "" || m.Time.IsZero() {
			return nil
		}
		ts := m.Time.Unix()
		s, ok := span[m.Person]
		if !ok {
			s = [2]int64{ts, ts}
		}
		s[0], s[1] = min(s[0], ts), max(s[1], ts)
		span[m.Person] = s
		return nil
	}})
	if err != nil {
		return nil, err
	}
	if d.Name == "sqlite" {
		// WAL: a reader's snapshot does not block the registry's writers.
		if _, err := db.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
			return nil, err
		}
	}
	if err := CreateSchema(ctx, db, d); err != nil {
		return nil, err
	}
	l := &loader{ctx: ctx, db: db, d: d, lots: map[[3]string]int{}, orgs: map[string]int{}, providers: map[string]any{}, truth: head}
	l.ins = map[string]*inserter{}
	for _, t := range defaultSchema {
		l.ins[t.name] = &inserter{l: l, t: t}
	}
	if err := l.begin(); err != nil {
		return nil, err
	}
	if err := l.orgRows(); err != nil {
		l.tx.Rollback()
		return nil, err
	}
	sum := &LoadSummary{}
	var loadErr error
	tr, err := synth.WalkTruth(truthPath, synth.TruthWalker{
		Person: func(p *synth.Person) error {
			l.persons++
			s, ok := span[p.Key]
			if !ok {
				return fmt.Errorf("person %s has no message in the truth", p.Key)
			}
			if err := l.person(p, s, sum); err != nil {
				return err
			}
			if l.persons%2000 == 0 {
				return l.commitBegin()
			}
			return nil
		},
		Link: func(k *synth.Link) error {
			pid, err := PatientID(k.Person)
			if err != nil {
				return err
			}
			l.linkID++
			return l.add("patient_reported", l.linkID, pid, l.orgs[k.Facility], k.First, k.Last,
				strings.Join(k.Via, ","), k.Last)
		},
	})
	if err != nil {
		loadErr = err
	} else if tr != nil && l.persons == 0 {
		loadErr = fmt.Errorf("%s: the truth holds no person", truthPath)
	}
	if loadErr == nil {
		loadErr = l.commit()
	} else {
		l.tx.Rollback()
	}
	if loadErr != nil {
		return nil, loadErr
	}
	if err := Analyze(ctx, db, d); err != nil {
		return nil, err
	}
	for _, in := range l.ins {
		sum.Rows += in.rows
	}
	sum.Vaccinations = l.ins["vaccination_master"].rows
	return sum, nil
}

// Analyze has the database gather the default schema's statistics, as a
// maintained registry's are: a PostgreSQL whose autovacuum is off never
// analyzes a freshly loaded table, and without statistics it reads each
// batch of persons by a sequential scan and sorts each child batch (a 1M-row
// export then cost the server 9.7 CPU-s instead of 2.5).
func Analyze(ctx context.Context, db *sql.DB, d Dialect) error {
	var qs []string
	switch d.Name {
	case "postgres", "sqlite":
		qs = []string{"ANALYZE"}
	case "mysql":
		ts := make([]string, len(defaultSchema))
		for i, t := range defaultSchema {
			ts[i] = d.Quote(t.name)
		}
		qs = []string{"ANALYZE TABLE " + strings.Join(ts, ", ")}
	case "sqlserver":
		for _, t := range defaultSchema {
			qs = append(qs, "UPDATE STATISTICS "+d.Quote(t.name))
		}
	}
	for _, q := range qs {
		rows, err := db.QueryContext(ctx, q) // MariaDB's ANALYZE TABLE returns a result set
		if err != nil {
			return fmt.Errorf("gathering the tables' statistics: %w", err)
		}
		for rows.Next() {
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("gathering the tables' statistics: %w", err)
		}
	}
	return nil
}

type loader struct {
	ctx  context.Context
	db   *sql.DB
	d    Dialect
	tx   *sql.Tx
	ins  map[string]*inserter
	lots map[[3]string]int
	orgs map[string]int // facility key → org_id
	// NPI → provider_id (an any holding the int, for the inserter)
	providers map[string]any
	persons   int
	linkID    int
	seq       map[string]int
	truth     *synth.Truth
}

func (l *loader) begin() (err error) {
	l.tx, err = l.db.BeginTx(l.ctx, nil)
	return err
}

func (l *loader) commit() error {
	for _, t := range defaultSchema { // parents before children: no FK, but keeps the order readable
		if err := l.ins[t.name].flush(); err != nil {
			l.tx.Rollback()
			return err
		}
	}
	return l.tx.Commit()
}

func (l *loader) commitBegin() error {
	if err := l.commit(); err != nil {
		return err
	}
	return l.begin()
}

func (l *loader) add(table string, vals ...any) error { return l.ins[table].add(vals) }

func (l *loader) next(table string) int {
	if l.seq == nil {
		l.seq = map[string]int{}
	}
	l.seq[table]++
	return l.seq[table]
}

// orgRows writes the organizations (the IIS, then the facilities in truth
// order), the providers and the code tables.
func (l *loader) orgRows() error {
	now := l.truth.Config.Start.UTC()
	orgs := append([]synth.Organization{l.truth.IIS}, l.truth.Facilities...)
	for i, o := range orgs {
		l.orgs[o.Key] = iisOrgID + i
		if err := l.add("org_master", iisOrgID+i, o.Key, o.Name, o.Kind, o.OID, nullIf(o.OrgID), now); err != nil {
			return err
		}
	}
	for i, pr := range l.truth.Providers {
		l.providers[pr.NPI] = i + 1
		if err := l.add("provider_master", i+1, nullIf(pr.NPI), pr.Family, nullIf(pr.Given), now); err != nil {
			return err
		}
	}
	for _, r := range codeRows {
		if err := l.add("code_table", r...); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) person(p *synth.Person, s [2]int64, sum *LoadSummary) error {
	first, last := time.Unix(s[0], 0).UTC(), time.Unix(s[1], 0).UTC()
	pid, err := PatientID(p.Key)
	if err != nil {
		return err
	}
	sum.Persons++
	var org any
	if len(p.IDs) > 0 {
		org = l.orgs[p.IDs[0].Facility]
	}
	regStatus, regDate := nullIf(p.RegistryStatus), hl7Date(p.RegistryDate)
	if err := l.add("patient_master", pid, p.Key, p.Name.Family, p.Name.Given, nullIf(p.Name.Middle), nullIf(p.MothersMaidenName),
		birthDate(p.BirthDate), sexCodes[p.Sex], birthFlag(p), birthOrder(p), nullIf(p.Race), nullIf(p.Ethnicity), org,
		regStatus, regDate, first, last, "N", nil); err != nil {
		return err
	}
	for _, n := range p.FormerNames {
		if err := l.add("patient_alias", l.next("patient_alias"), pid, n.Family, n.Given, nullIf(n.Middle), "F", last); err != nil {
			return err
		}
	}
	addr := func(a synth.Address, status string) error {
		return l.add("patient_address", l.next("patient_address"), pid, a.Line, a.City, a.State, a.Zip, a.Country, nullIf(a.County), status, last)
	}
	if err := addr(p.Address, "C"); err != nil {
		return err
	}
	for _, a := range p.FormerAddresses {
		if err := addr(a, "F"); err != nil {
			return err
		}
	}
	if p.Phone != "" {
		if err := l.add("patient_phone", l.next("patient_phone"), pid, p.Phone, "PRN", last); err != nil {
			return err
		}
	}
	if p.IISID != "" {
		if err := l.add("patient_identifier", l.next("patient_identifier"), pid, "STATEIIS", "SR", p.IISID, first); err != nil {
			return err
		}
	}
	for _, id := range p.IDs {
		if err := l.add("patient_identifier", l.next("patient_identifier"), pid, id.Facility, "MR", id.MRN, first); err != nil {
			return err
		}
	}
	if g := p.Guardian; g != nil {
		// As the newest NK1 named them (the mother, under the child's
		// birth family name); the maiden name from PID-6 of that person.
		a := g.Address
		if err := l.add("patient_guardian", l.next("patient_guardian"), pid, g.Family, nullIf(g.Given), nullIf(p.MothersMaidenName), g.Relationship,
			nullIf(a.Line), nullIf(a.City), nullIf(a.State), nullIf(a.Zip), nullIf(a.Country), nullIf(g.Phone), last); err != nil {
			return err
		}
	}
	for i := range p.Doses {
		if err := l.dose(pid, &p.Doses[i], first, last); err != nil {
			return err
		}
	}
	if MergedAway(p) {
		sum.Merged++
		dup := pid + 1
		if err := l.add("patient_master", dup, p.Key+"-DUP", p.Name.Family, p.Name.Given, nullIf(p.Name.Middle), nullIf(p.MothersMaidenName),
			birthDate(p.BirthDate), sexCodes[p.Sex], birthFlag(p), birthOrder(p), nullIf(p.Race), nullIf(p.Ethnicity), l.orgs[p.IDs[1].Facility],
			regStatus, regDate, first, last, "N", pid); err != nil {
			return err
		}
		if err := l.add("patient_identifier", l.next("patient_identifier"), dup, p.IDs[1].Facility, "MR", p.IDs[1].MRN, first); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) dose(pid int, d *synth.Dose, first, last time.Time) error {
	day, err := time.Parse(time.DateOnly, d.Date)
	if err != nil {
		return fmt.Errorf("dose %s: %w", d.Key, err)
	}
	reported := day.Add(18 * time.Hour) // noon in the jurisdiction (UTC-6)
	if reported.Before(first) {
		reported = first
	}
	if reported.After(last) {
		reported = last
	}
	updated, action, deleted := reported, "A", "N"
	var deletedAt any
	switch {
	case d.DeletedAt != nil:
		updated, action, deleted, deletedAt = d.DeletedAt.UTC(), "D", "Y", d.DeletedAt.UTC()
	case d.Updated:
		updated, action = last, "U"
	}
	var lot any
	if d.Lot != "" {
		// A lot is its number, manufacturer and expiration (the truth's,
		// as the giver sent it; none for a lot only a history reported).
		var exp any
		if t, err := time.Parse(time.DateOnly, d.Expiration); err == nil {
			exp = t.Format(ExpirationDateLayout)
		}
		k := [3]string{d.Lot, d.MVX, d.Expiration}
		id, ok := l.lots[k]
		if !ok {
			id = len(l.lots) + 1
			l.lots[k] = id
			if err := l.add("lot_master", id, d.Lot, nullIf(d.MVX), exp, reported); err != nil {
				return err
			}
		}
		lot = id
	}
	// NIP001 information source: 00 given here, 01 historical; none for a
	// dose not administered (refused, not given), as the message's RXA-9.
	var src any = "01"
	switch {
	case d.Completion == "RE" || d.Completion == "NA":
		src = nil
	case d.PrimarySource:
		src = "00"
	}
	// What the giver's record said beyond the RXA basics (the truth's
	// administration: none for a historical dose, no OBX facts after a U).
	adm := [12]any{}
	if a := d.Administration; a != nil {
		adm = [12]any{nullIf(a.Amount), nullIf(a.Unit), nullIf(a.Route), nullIf(a.Site), l.providers[a.Provider], l.providers[a.Provider],
			nullIf(a.Eligibility), nullIf(a.Funding)}
		if a.Provider != "" && adm[4] == nil {
			return fmt.Errorf("dose %s: provider %s is not among the truth's providers", d.Key, a.Provider)
		}
		if v := a.VIS; v != nil {
			adm[8], adm[9], adm[10], adm[11] = nullIf(v.Document), nullIf(v.VaccineType), hl7Date(v.Published), hl7Date(v.Presented)
		}
	}
	vals := []any{l.next("vaccination_master"), pid, d.Key,
		strings.ToUpper(day.Format("02-Jan-2006")), d.CVX, completionCodes[d.Completion], nullIf(d.RefusalReason),
		lot, l.orgs[d.Facility], d.Filler, src}
	vals = append(vals, adm[:]...)
	return l.add("vaccination_master", append(vals, action, deleted, deletedAt, reported, updated)...)
}

// birthFlag and birthOrder are a twin's multiple-birth indicator and
// order (PID-24, PID-25): the twin with the lower key was born first.
func birthFlag(p *synth.Person) any {
	if p.Twin == "" {
		return nil
	}
	return "Y"
}

func birthOrder(p *synth.Person) any {
	switch {
	case p.Twin == "":
		return nil
	case p.Key < p.Twin:
		return 1
	}
	return 2
}

// hl7Date is an ISO date as HL7 DT (YYYYMMDD); NULL when empty.
func hl7Date(iso string) any {
	t, err := time.Parse(time.DateOnly, iso)
	if err != nil {
		return nullIf(iso)
	}
	return t.Format(HL7DateLayout)
}

func birthDate(iso string) string {
	t, err := time.Parse(time.DateOnly, iso)
	if err != nil {
		return iso // kept as sent: the reader reports it
	}
	return t.Format(BirthDateLayout)
}

func nullIf(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// inserter batches multi-row INSERTs of one table.
type inserter struct {
	l    *loader
	t    table
	buf  []any
	n    int // rows in buf
	rows int // rows written
}

// maxParams keeps every statement under the smallest driver limit (SQL
// Server: 2100 parameters).
const maxParams = 2000

func (in *inserter) add(vals []any) error {
	if len(vals) != len(in.t.cols) {
		return fmt.Errorf("loader: %s takes %d values, got %d", in.t.name, len(in.t.cols), len(vals))
	}
	for i, v := range vals {
		if t, ok := v.(time.Time); ok {
			vals[i] = in.l.d.TimeArg(t)
		}
	}
	in.buf = append(in.buf, vals...)
	in.n++
	if len(in.buf)+len(vals) > maxParams {
		return in.flush()
	}
	return nil
}

func (in *inserter) flush() error {
	if in.n == 0 {
		return nil
	}
	d := in.l.d
	var b strings.Builder
	names := make([]string, len(in.t.cols))
	for i, c := range in.t.cols {
		names[i] = c.name
	}
	fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", d.Quote(in.t.name), d.quoteList(names))
	p := 0
	for r := 0; r < in.n; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for i := range in.t.cols {
			if i > 0 {
				b.WriteByte(',')
			}
			p++
			b.WriteString(d.Param(p))
		}
		b.WriteByte(')')
	}
	if _, err := in.l.tx.ExecContext(in.l.ctx, b.String(), in.buf...); err != nil {
		return fmt.Errorf("writing %s: %w", in.t.name, err)
	}
	in.rows += in.n
	in.buf, in.n = in.buf[:0], 0
	return nil
}

// LoadDSN opens the database a DSN names (${NAME} expanded; the driver from
// driver or the DSN's scheme), loads the world of truthPath into it and
// says where it went, with no secret in the answer or an error.
func LoadDSN(ctx context.Context, driver, dsn, truthPath string) (*LoadSummary, string, error) {
	r, err := Open(&Config{Source: "gen", Driver: driver, DSN: dsn})
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	sum, err := Load(ctx, r.db, r.d, truthPath)
	return sum, r.d.Name + " database", r.redact(err)
}
