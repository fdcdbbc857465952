package synth

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Truth is the content of truth.json: what a correct bridge must export
// from the archive. The package documentation describes every field.
type Truth struct {
	Version       int            `json:"version"`
	Config        TruthConfig    `json:"config"`
	IIS           Organization   `json:"iis"`
	Facilities    []Organization `json:"facilities"`
	Providers     []Provider     `json:"providers,omitempty"`
	Files         []File         `json:"files"`
	Counts        Counts         `json:"counts"`
	UnseenDeletes []UnseenDelete `json:"unseen_deletes"`
	Broken        []Broken       `json:"broken"`
	Persons       []Person       `json:"persons"`
	Links         []Link         `json:"links"`
	Messages      []Message      `json:"messages"`
}

type TruthConfig struct {
	Seed            int64     `json:"seed"`
	People          int       `json:"people"`
	Facilities      int       `json:"facilities"`
	Messages        int       `json:"messages"`
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	Framings        []string  `json:"framings"`
	FilesPerFraming int       `json:"files_per_framing"`
	// UnansweredQueries: share of single-match queries left without their answer
	UnansweredQueries float64 `json:"unanswered_queries,omitempty"`
}

// Organization is the IIS or a reporting facility. Key is the MSH-4
// namespace (also the MR assigning authority and the ORC-3 namespace);
// OrgKey is the Group key per pipeline.Membership (MSH-22 XON-10 when the
// facility sends MSH-22, else "namespace|OID").
type Organization struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	OID    string `json:"oid"`
	OrgID  string `json:"msh22_id,omitempty"`
	OrgKey string `json:"org_key"`
}

type File struct {
	Name     string `json:"name"`
	Framing  string `json:"framing"`
	Gzip     bool   `json:"gzip,omitempty"`
	Charset  string `json:"charset"` // UTF-8 or ISO-8859-1
	Messages int    `json:"messages"`
	Batches  int    `json:"batches,omitempty"`
	Bytes    int64  `json:"bytes"`
}

type Counts struct {
	Messages       int            `json:"messages"`
	ByKind         map[string]int `json:"by_kind"`    // VXU, QBP, RSP, ACK, broken
	ByProfile      map[string]int `json:"by_profile"` // Z22, Z34, Z44, Z32, Z42, Z31, Z33, Z23, and broken reasons
	Persons        int            `json:"persons"`
	Doses          int            `json:"doses"`
	Completed      int            `json:"completed"`
	NotDone        int            `json:"not_done"`
	EnteredInError int            `json:"entered_in_error"`
	Links          int            `json:"links"`
}

type UnseenDelete struct {
	File      string `json:"file"`
	Index     int    `json:"index"`
	ControlID string `json:"control_id"`
	Person    string `json:"person"`
	Facility  string `json:"facility"`
	Filler    string `json:"filler"`
	CVX       string `json:"cvx"`
	Date      string `json:"date"`
}

type Broken struct {
	File   string `json:"file"`
	Index  int    `json:"index"`
	Reason string `json:"reason"` // no-msh, garbage, mllp-truncated
}

type Person struct {
	Key               string       `json:"key"`
	IISID             string       `json:"iis_id,omitempty"`
	IDs               []FacilityID `json:"ids"`
	Name              Name         `json:"name"`
	FormerNames       []Name       `json:"former_names,omitempty"`
	BirthDate         string       `json:"birth_date"`
	Sex               string       `json:"sex"`
	Address           Address      `json:"address"`
	FormerAddresses   []Address    `json:"former_addresses,omitempty"`
	Phone             string       `json:"phone,omitempty"`
	MothersMaidenName string       `json:"mothers_maiden_name"`
	Twin              string       `json:"twin,omitempty"`
	Race              string       `json:"race,omitempty"`                 // CDCREC code every PID-10 sends
	Ethnicity         string       `json:"ethnicity,omitempty"`            // CDCREC code every PID-22 sends
	RegistryStatus    string       `json:"registry_status,omitempty"`      // PD1-16 (HL70441) of the newest message with a PD1
	RegistryDate      string       `json:"registry_status_date,omitempty"` // its PD1-17, when sent
	Guardian          *Guardian    `json:"guardian,omitempty"`             // NK1 of the newest message with one
	DemographicKey    string       `json:"demographic_key"`
	Messages          int          `json:"messages"`
	PatientLevel      int          `json:"patient_level_orders,omitempty"`
	Doses             []Dose       `json:"doses"`
}

// Guardian is a next of kin (NK1) as a message carried it.
type Guardian struct {
	Family       string  `json:"family"`
	Given        string  `json:"given,omitempty"`
	Relationship string  `json:"relationship"` // HL70063
	Address      Address `json:"address"`
	Phone        string  `json:"phone,omitempty"`
}

// Administration is what the giver's full record of a dose says beyond
// RXA-3/5/15-17 (RXA-6/7, RXA-10 and ORC-12, RXR, OBX), as the record
// that counts carried it: an update (U) carries no OBX.
type Administration struct {
	Amount      string `json:"amount"`                // RXA-6
	Unit        string `json:"unit"`                  // RXA-7 (UCUM)
	Route       string `json:"route"`                 // RXR-1.1 as sent (NCIt)
	Site        string `json:"site,omitempty"`        // RXR-2 (HL70163); none for oral vaccines
	Provider    string `json:"provider"`              // NPI of RXA-10 (administering) and ORC-12 (ordering); see Truth.Providers
	Eligibility string `json:"eligibility,omitempty"` // OBX 64994-7 (HL70064)
	Funding     string `json:"funding,omitempty"`     // OBX 30963-3 (CDCPHINVS)
	VIS         *VIS   `json:"vis,omitempty"`
}

// VIS is the vaccine information statement a dose's OBX name: a GS1
// document (multi-vaccine VIS) or a vaccine type with its edition date.
type VIS struct {
	Document    string `json:"document,omitempty"`     // OBX 69764-9
	VaccineType string `json:"vaccine_type,omitempty"` // OBX 30956-7 (CVX)
	Published   string `json:"published,omitempty"`    // OBX 29768-9
	Presented   string `json:"presented"`              // OBX 29769-7
}

// Provider is a person who gives or orders doses.
type Provider struct {
	NPI    string `json:"npi"`
	Family string `json:"family"`
	Given  string `json:"given"`
}

type FacilityID struct {
	Facility string `json:"facility"`
	MRN      string `json:"mrn"`
}

type Name struct {
	Family string `json:"family"`
	Given  string `json:"given"`
	Middle string `json:"middle,omitempty"`
}

type Address struct {
	Line    string `json:"line"`
	City    string `json:"city"`
	State   string `json:"state"`
	Zip     string `json:"zip"`
	Country string `json:"country"`
	County  string `json:"county"`
}

type Dose struct {
	Key           string     `json:"key"`
	CVX           string     `json:"cvx"`
	Date          string     `json:"date"`
	Facility      string     `json:"facility"`
	Filler        string     `json:"filler"`
	Status        string     `json:"status"`     // completed, not-done, entered-in-error
	Completion    string     `json:"completion"` // RXA-20 as sent: CP, RE, NA
	Lot           string     `json:"lot,omitempty"`
	MVX           string     `json:"mvx,omitempty"`
	Expiration    string     `json:"expiration,omitempty"` // the lot's expiration date (RXA-16) as the giver sent it
	PrimarySource bool       `json:"primary_source"`
	RefusalReason string     `json:"refusal_reason,omitempty"` // NIP002
	Updated       bool       `json:"updated,omitempty"`
	DeletedAt     *time.Time `json:"deleted_at,omitempty"`
	// Administration: completed doses whose record that counts is the
	// giver's (primary_source true); none for historical ones.
	Administration *Administration `json:"administration,omitempty"`
}

// Link is an organization's evidence about a person. First, Last and
// Via are under the default membership policy (any VXU, answered
// queries: every kind of evidence); Evidence has each kind on its own,
// so a test can derive any other policy (Span).
type Link struct {
	OrgKey   string           `json:"org_key"`
	Facility string           `json:"facility"`
	Person   string           `json:"person"`
	First    time.Time        `json:"first"`
	Last     time.Time        `json:"last"`
	Via      []string         `json:"via"`      // vxu, qbp
	Evidence map[string]*Span `json:"evidence"` // by trigger: vxu, vxu-administered, vxu-historical, vxu-refusal, query, query-matched
}

// Span is the first and last evidence of one kind, and how many records
// showed it.
type Span struct {
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Records int       `json:"records"`
}

// Span is the link under a policy that accepts the triggers accept says
// yes to: ok is false when none of its evidence is accepted.
func (l *Link) Span(accept func(trigger string) bool) (sp Span, ok bool) {
	for trig, e := range l.Evidence {
		if !accept(trig) {
			continue
		}
		if !ok || e.First.Before(sp.First) {
			sp.First = e.First
		}
		if !ok || e.Last.After(sp.Last) {
			sp.Last = e.Last
		}
		sp.Records += e.Records
		ok = true
	}
	return sp, ok
}

// Triggers of the evidence a message shows, as the index's ledger names
// them.
const (
	trigVXU          = "vxu"
	trigAdministered = "vxu-administered"
	trigHistorical   = "vxu-historical"
	trigRefusal      = "vxu-refusal"
	trigQuery        = "query"
	trigQueryMatched = "query-matched" // a query whose answer is missing: the person it asks about
)

// vxuEvidence is what a VXU shows of its sender's relation to the person
// (the index's rule): any VXU; per row, not deleted, not 998 or not
// given: a refusal (RE), an administered dose (RXA-9 00), a historical
// one (another RXA-9).
func vxuEvidence(rows []row) []string {
	out := []string{trigVXU}
	add := func(t string) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, rw := range rows {
		switch {
		case rw.action == "D" || rw.cvx == "998" || rw.status == "NA":
		case rw.status == "RE":
			add(trigRefusal)
		case rw.rxa9 == "00":
			add(trigAdministered)
		case rw.rxa9 != "":
			add(trigHistorical)
		}
	}
	return out
}

type Message struct {
	File      string    `json:"file"`
	Index     int       `json:"index"`
	Kind      string    `json:"kind"`
	Profile   string    `json:"profile"`
	ControlID string    `json:"control_id,omitempty"`
	Person    string    `json:"person,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	Sender    string    `json:"sender,omitempty"` // the sending facility's key (MSH-4 namespace); "" = the IIS
}

// ReadTruth loads a truth.json written by Generate. For the big benchmark
// truth prefer WalkTruth, which does not hold the large sections.
func ReadTruth(path string) (*Truth, error) {
	var persons []Person
	var links []Link
	var msgs []Message
	t, err := WalkTruth(path, TruthWalker{
		Person:  func(p *Person) error { persons = append(persons, *p); return nil },
		Link:    func(l *Link) error { links = append(links, *l); return nil },
		Message: func(m *Message) error { msgs = append(msgs, *m); return nil },
	})
	if err != nil {
		return nil, err
	}
	t.Persons, t.Links, t.Messages = persons, links, msgs
	return t, nil
}

// TruthWalker receives the large sections of truth.json one element at a
// time; a nil func skips its section. The pointer is valid for the call.
type TruthWalker struct {
	Person  func(*Person) error
	Link    func(*Link) error
	Message func(*Message) error
}

// WalkTruth reads path in constant memory: the small sections come back
// in the Truth (Persons, Links and Messages left nil), the large ones go
// to w element by element, in file order.
func WalkTruth(path string, w TruthWalker) (*Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := walkTruth(json.NewDecoder(bufio.NewReaderSize(f, 1<<20)), w)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func walkTruth(dec *json.Decoder, w TruthWalker) (*Truth, error) {
	var t Truth
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a truth object (%v)", err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var each func() error
		switch key {
		case "persons":
			var p Person
			each = func() error {
				p = Person{}
				if err := dec.Decode(&p); err != nil || w.Person == nil {
					return err
				}
				return w.Person(&p)
			}
		case "links":
			var l Link
			each = func() error {
				l = Link{}
				if err := dec.Decode(&l); err != nil || w.Link == nil {
					return err
				}
				return w.Link(&l)
			}
		case "messages":
			var m Message
			each = func() error {
				m = Message{}
				if err := dec.Decode(&m); err != nil || w.Message == nil {
					return err
				}
				return w.Message(&m)
			}
		}
		if each == nil {
			var dst any
			switch key {
			case "version":
				dst = &t.Version
			case "config":
				dst = &t.Config
			case "iis":
				dst = &t.IIS
			case "facilities":
				dst = &t.Facilities
			case "providers":
				dst = &t.Providers
			case "files":
				dst = &t.Files
			case "counts":
				dst = &t.Counts
			case "unseen_deletes":
				dst = &t.UnseenDeletes
			case "broken":
				dst = &t.Broken
			default:
				dst = new(json.RawMessage)
			}
			if err := dec.Decode(dst); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			if key == "version" && t.Version != truthVersion {
				return nil, fmt.Errorf("truth version %d, want %d", t.Version, truthVersion)
			}
			continue
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return nil, fmt.Errorf("%s: not an array (%v)", key, err)
		}
		for dec.More() {
			if err := each(); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
	}
	if t.Version != truthVersion {
		return nil, fmt.Errorf("truth version %d, want %d", t.Version, truthVersion)
	}
	return &t, nil
}

const truthVersion = 2 // 2: links under the default policy (any VXU), evidence by trigger

// tperson replays what the bridge receives about one person, in message
// time order, with the rules documented in the package doc.
type tperson struct {
	p      *person
	out    Person
	doses  []*Dose
	byKey  map[string]*Dose
	links  []*Link
	hasPID bool
}

func newTPerson(p *person) *tperson {
	tp := &tperson{p: p, byKey: map[string]*Dose{}}
	tp.out.Key = p.key
	tp.out.Race, tp.out.Ethnicity = p.race.Code, p.eth.Code
	if p.twin != nil {
		tp.out.Twin = p.twin.key
	}
	return tp
}

func toName(n name) Name { return Name{n.Family, n.Given, n.Middle} }
func toAddr(a address) Address {
	return Address{Line: a.Street, City: a.City, State: a.State, Zip: a.Zip, Country: "USA", County: a.County}
}

func (tp *tperson) apply(tw *truthWriter, m *message, file string, index int) {
	w := tw.w
	tp.out.Messages++
	if s := m.pid; s != nil {
		for _, mr := range s.mrs {
			id := FacilityID{mr[0], mr[1]}
			if !slices.Contains(tp.out.IDs, id) {
				tp.out.IDs = append(tp.out.IDs, id)
			}
		}
		if s.sr != "" {
			tp.out.IISID = s.sr
		}
		n, a := toName(s.nm), toAddr(s.addr)
		if tp.hasPID && n != tp.out.Name && !slices.Contains(tp.out.FormerNames, tp.out.Name) {
			tp.out.FormerNames = append(tp.out.FormerNames, tp.out.Name)
		}
		if tp.hasPID && a != tp.out.Address && !slices.Contains(tp.out.FormerAddresses, tp.out.Address) {
			tp.out.FormerAddresses = append(tp.out.FormerAddresses, tp.out.Address)
		}
		tp.out.Name, tp.out.Address = n, a
		if s.phone != "" {
			tp.out.Phone = s.phone
		}
		tp.out.BirthDate, tp.out.Sex = isoDate(s.dob), string(s.sex)
		tp.out.MothersMaidenName = s.mom.Family
		if s.full {
			// PD1-16 A always; PD1-17 (the date) for children only; NK1
			// (the mother, under the child's birth family name) too.
			tp.out.RegistryStatus, tp.out.RegistryDate = "A", ""
			if !tp.p.adult {
				tp.out.RegistryDate = isoDate(tp.p.dob)
				tp.out.Guardian = &Guardian{Family: tp.p.baseFam, Given: s.mom.Given, Relationship: "MTH", Address: a, Phone: s.phone}
			}
		}
		tp.out.DemographicKey = tp.p.demoKeyOf(s)
		tp.hasPID = true
	}
	sender := iisNS
	if m.sender >= 0 {
		sender = w.facs[m.sender].NS
	}
	for _, rw := range m.rows {
		if rw.cvx == "998" {
			tp.out.PatientLevel++
			continue
		}
		if rw.action == "U" || rw.action == "D" {
			var d *Dose
			for _, x := range tp.doses {
				if x.Facility == sender && x.Filler == rw.filler {
					d = x
				}
			}
			switch {
			case d == nil && rw.action == "D":
				tw.unseen = append(tw.unseen, UnseenDelete{File: file, Index: index, ControlID: m.ctrl, Person: tp.p.key,
					Facility: sender, Filler: rw.filler, CVX: rw.cvx, Date: isoDate(rw.date)})
			case d == nil:
				// not generated: a U always follows its A
			case rw.action == "D":
				d.Status = "entered-in-error"
				t := timeOf(m.ts)
				d.DeletedAt = &t
			default:
				d.Lot, d.Updated = rw.lot, true
				d.Administration = rw.administration()
			}
			continue
		}
		k := tp.p.key + "-" + rw.cvx + "-" + isoCompact(rw.date)
		d := tp.byKey[k]
		if d == nil {
			d = &Dose{Key: k, CVX: rw.cvx, Date: isoDate(rw.date), Facility: sender, Filler: rw.filler,
				Completion: rw.status, Lot: rw.lot, MVX: rw.mvx, RefusalReason: rw.reason, Expiration: compactToISO(rw.exp)}
			switch rw.status {
			case "CP":
				d.Status = "completed"
			default:
				d.Status = "not-done"
			}
			d.PrimarySource = rw.rxa9 == "00"
			d.Administration = rw.administration()
			tp.byKey[k] = d
			tp.doses = append(tp.doses, d)
			continue
		}
		if rw.rxa9 == "00" && !d.PrimarySource { // 00 beats 01: the giver's record replaces a historical copy
			d.PrimarySource = true
			d.Facility, d.Filler, d.Lot, d.MVX, d.Expiration = sender, rw.filler, rw.lot, rw.mvx, compactToISO(rw.exp)
			d.Administration = rw.administration()
		}
	}
	switch {
	case m.kind == "VXU" && m.sender >= 0:
		tp.evidence(w.facs[m.sender], "vxu", timeOf(m.ts), vxuEvidence(m.rows))
	case m.kind == "RSP" && m.linkOrg >= 0:
		tp.evidence(w.facs[m.linkOrg], "qbp", timeOf(m.linkTS), []string{trigQuery})
	case m.kind == "QBP" && m.linkOrg >= 0: // its answer is missing
		tp.evidence(w.facs[m.linkOrg], "qbp", timeOf(m.linkTS), []string{trigQueryMatched})
	}
}

// evidence records what one message from f shows about the person.
func (tp *tperson) evidence(f *facility, via string, t time.Time, trigs []string) {
	var l *Link
	for _, x := range tp.links {
		if x.Facility == f.NS {
			l = x
		}
	}
	if l == nil {
		l = &Link{OrgKey: f.orgKey(), Facility: f.NS, Person: tp.p.key, Evidence: map[string]*Span{}}
		tp.links = append(tp.links, l)
	}
	// First, Last and Via follow the default policy, which does not take
	// unanswered queries.
	if !slices.Equal(trigs, []string{trigQueryMatched}) {
		if l.First.IsZero() || t.Before(l.First) {
			l.First = t
		}
		if t.After(l.Last) {
			l.Last = t
		}
		if !slices.Contains(l.Via, via) {
			l.Via = append(l.Via, via)
			slices.Sort(l.Via)
		}
	}
	for _, tr := range trigs {
		e := l.Evidence[tr]
		if e == nil {
			e = &Span{First: t, Last: t}
			l.Evidence[tr] = e
		}
		if t.Before(e.First) {
			e.First = t
		}
		if t.After(e.Last) {
			e.Last = t
		}
		e.Records++
	}
}

// administration is what orderGiven wrote of a completed dose beyond the
// RXA fields the row holds (OBX only with an add, A); nil for other rows.
func (rw row) administration() *Administration {
	d := rw.given
	if d == nil || d.status != "CP" {
		return nil
	}
	v := vaccines[d.cvx]
	a := &Administration{Amount: v.Dose, Unit: "mL", Route: routes[v.Route].Code, Site: d.site, Provider: providers[d.provider].NPI}
	if rw.action != "A" {
		return a
	}
	a.Eligibility, a.Funding = d.vfc.Code, "VXC1"
	if d.vfc.Code == "V01" {
		a.Funding = "PHC70"
	}
	a.VIS = &VIS{Presented: isoDate(d.date)}
	if d.multiVIS {
		a.VIS.Document = visMulti
	} else {
		a.VIS.VaccineType, a.VIS.Published = v.Group, compactToISO(v.VISDate)
	}
	return a
}

func truthProviders() []Provider {
	out := make([]Provider, len(providers))
	for i, p := range providers {
		out[i] = Provider{NPI: p.NPI, Family: p.Family, Given: p.Given}
	}
	return out
}

func (tp *tperson) finish() (*Person, []*Link) {
	out := &tp.out
	out.Doses = make([]Dose, 0, len(tp.doses))
	for _, d := range tp.doses {
		out.Doses = append(out.Doses, *d)
	}
	slices.SortFunc(out.Doses, func(a, b Dose) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), cmp.Compare(a.CVX, b.CVX))
	})
	slices.SortFunc(tp.links, func(a, b *Link) int {
		return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.OrgKey, b.OrgKey))
	})
	return out, tp.links
}

// truthWriter streams the large sections (persons, links, messages) to
// temporary files and assembles truth.json at the end, so memory stays
// flat however many messages are generated.
type truthWriter struct {
	w                        *world
	dir                      string
	persons, links, messages *spool
	unseen                   []UnseenDelete
	broken                   []Broken
	counts                   Counts
}

type spool struct {
	f     *os.File
	bw    *bufio.Writer
	n     int
	lineB []byte
}

func newSpool(dir, name string) (*spool, error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	return &spool{f: f, bw: bufio.NewWriterSize(f, 1<<16)}, nil
}

func (s *spool) add(line []byte) error {
	if s.n > 0 {
		s.bw.WriteString(",\n")
	}
	s.n++
	_, err := s.bw.Write(line)
	return err
}

func (s *spool) copyTo(dst io.Writer) error {
	if err := s.bw.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(dst, s.f)
	return err
}

func (s *spool) remove() {
	s.f.Close()
	os.Remove(s.f.Name())
}

func newTruthWriter(w *world, dir string) (*truthWriter, error) {
	tw := &truthWriter{w: w, dir: dir, unseen: []UnseenDelete{}, broken: []Broken{}}
	tw.counts.ByKind, tw.counts.ByProfile = map[string]int{}, map[string]int{}
	var err error
	for _, x := range []struct {
		s    **spool
		name string
	}{{&tw.persons, ".truth-persons.tmp"}, {&tw.links, ".truth-links.tmp"}, {&tw.messages, ".truth-messages.tmp"}} {
		if *x.s, err = newSpool(dir, x.name); err != nil {
			tw.cleanup()
			return nil, err
		}
	}
	return tw, nil
}

func (tw *truthWriter) cleanup() {
	for _, s := range []*spool{tw.persons, tw.links, tw.messages} {
		if s != nil {
			s.remove()
		}
	}
}

// message records one written record. Hand-formatted: a million of these
// go through here for the benchmark archive.
func (tw *truthWriter) message(file string, index int, kind, profile, ctrl, person, sender string, ts int64) error {
	tw.counts.Messages++
	tw.counts.ByKind[kind]++
	tw.counts.ByProfile[profile]++
	b := tw.messages.lineB[:0]
	b = append(b, `{"file":`...)
	b = strconv.AppendQuote(b, file)
	b = append(b, `,"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"kind":`...)
	b = strconv.AppendQuote(b, kind)
	b = append(b, `,"profile":`...)
	b = strconv.AppendQuote(b, profile)
	if ctrl != "" {
		b = append(b, `,"control_id":`...)
		b = strconv.AppendQuote(b, ctrl)
	}
	if person != "" {
		b = append(b, `,"person":`...)
		b = strconv.AppendQuote(b, person)
	}
	if ts != 0 {
		b = append(b, `,"time":"`...)
		b = timeOf(ts).AppendFormat(b, time.RFC3339)
		b = append(b, '"')
	}
	if sender != "" {
		b = append(b, `,"sender":`...)
		b = strconv.AppendQuote(b, sender)
	}
	b = append(b, '}')
	tw.messages.lineB = b
	return tw.messages.add(b)
}

func (tw *truthWriter) person(tp *tperson) error {
	p, links := tp.finish()
	tw.counts.Persons++
	for _, d := range p.Doses {
		tw.counts.Doses++
		switch d.Status {
		case "completed":
			tw.counts.Completed++
		case "not-done":
			tw.counts.NotDone++
		default:
			tw.counts.EnteredInError++
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := tw.persons.add(b); err != nil {
		return err
	}
	for _, l := range links {
		tw.counts.Links++
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if err := tw.links.add(b); err != nil {
			return err
		}
	}
	return nil
}

// finish writes truth.json (header first, then the spooled sections).
func (tw *truthWriter) finish(cfg Config, files []File) (err error) {
	defer tw.cleanup()
	cfgOut := TruthConfig{Seed: cfg.Seed, People: cfg.People, Facilities: cfg.Facilities, Messages: cfg.Messages,
		Start: cfg.Start, End: cfg.End, Framings: cfg.Framings, FilesPerFraming: cfg.FilesPerFraming,
		UnansweredQueries: cfg.UnansweredQueries}
	if cfg.Messages > 0 {
		cfgOut.People = 0
	}
	iis := Organization{Key: iisNS, Name: iisName, Kind: "iis", OID: iisOID, OrgKey: iisNS + "|" + iisOID}
	var facs []Organization
	for _, f := range tw.w.facs {
		facs = append(facs, Organization{Key: f.NS, Name: f.Name, Kind: f.Kind, OID: f.OID, OrgID: f.OrgID, OrgKey: f.orgKey()})
	}
	path := filepath.Join(tw.dir, "truth.json")
	out, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(path+".tmp", path)
		} else {
			os.Remove(path + ".tmp")
		}
	}()
	bw := bufio.NewWriterSize(out, 1<<20)
	put := func(key string, v any, last bool) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(bw, "%q:%s,\n", key, b)
	}
	bw.WriteString("{\n")
	put("version", truthVersion, false)
	put("config", cfgOut, false)
	put("iis", iis, false)
	put("facilities", facs, false)
	put("providers", truthProviders(), false)
	put("files", files, false)
	put("counts", tw.counts, false)
	put("unseen_deletes", tw.unseen, false)
	put("broken", tw.broken, false)
	for i, s := range []struct {
		key string
		sp  *spool
	}{{"persons", tw.persons}, {"links", tw.links}, {"messages", tw.messages}} {
		fmt.Fprintf(bw, "%q:[\n", s.key)
		if err := s.sp.copyTo(bw); err != nil {
			return err
		}
		if i < 2 {
			bw.WriteString("\n],\n")
		} else {
			bw.WriteString("\n]\n}\n")
		}
	}
	return bw.Flush()
}

// compactToISO is YYYYMMDD as YYYY-MM-DD ("" stays "").
func compactToISO(s string) string {
	if len(s) != 8 {
		return ""
	}
	return s[:4] + "-" + s[4:6] + "-" + s[6:]
}
