package synth

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unicode/utf8"
)

const (
	windowPersons = 16 // persons whose traffic is interleaved by time
	batchSize     = 40 // messages per BHS..BTS batch
)

// Generate writes the archive files and truth.json into dir (created if
// needed). Equal dir contents for equal cfg on every machine.
func Generate(dir string, cfg Config) (*Summary, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w := newWorld(cfg)
	tw, err := newTruthWriter(w, dir)
	if err != nil {
		return nil, err
	}
	g := &generator{w: w, tw: tw, cfg: cfg}
	sum, err := g.run(dir)
	if err != nil {
		tw.cleanup()
		return nil, err
	}
	return sum, nil
}

type generator struct {
	w       *world
	tw      *truthWriter
	cfg     Config
	windows uint64
}

type fileSpec struct {
	name, framing string
	gzip          bool
}

func (g *generator) run(dir string) (*Summary, error) {
	cfg := g.cfg
	var specs []fileSpec
	for _, fr := range cfg.Framings {
		for k := 1; k <= cfg.FilesPerFraming; k++ {
			s := fileSpec{name: fmt.Sprintf("%s-%02d.hl7", fr, k), framing: fr, gzip: fr == "gzip"}
			if s.gzip && k%2 == 0 { // every other gzip file admits it by name
				s.name += ".gz"
			}
			specs = append(specs, s)
		}
	}
	sum := &Summary{}
	var files []File
	n := len(specs)
	for i, s := range specs {
		fw, err := createFile(dir, s, cfg)
		if err != nil {
			return nil, err
		}
		quota, people := 0, 0
		if cfg.Messages > 0 {
			quota = cfg.Messages / n
			if i < cfg.Messages%n {
				quota++
			}
		} else {
			people = cfg.People*(i+1)/n - cfg.People*i/n
		}
		if err := g.fillFile(fw, quota, people); err != nil {
			fw.abort()
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		f, err := fw.close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		files = append(files, f)
		sum.Files = append(sum.Files, s.name)
		sum.Messages += int64(f.Messages)
		sum.Bytes += f.Bytes
	}
	if err := g.tw.finish(cfg, files); err != nil {
		return nil, err
	}
	sum.People, sum.Doses = g.tw.counts.Persons, g.tw.counts.Doses
	return sum, nil
}

// fillFile writes windows of persons into fw: people persons, or until
// exactly quota records when quota > 0.
func (g *generator) fillFile(fw *fileWriter, quota, people int) error {
	ec := encodeCtx{term: "\r", latin1: fw.spec.framing == "latin1"}
	switch fw.spec.framing {
	case "blank":
		ec.term = "\n"
	case "crlf":
		ec.term = "\r\n"
	}
	for {
		remaining := quota - fw.index
		if quota > 0 && remaining <= 0 || quota == 0 && people <= 0 {
			return nil
		}
		n := windowPersons
		if quota == 0 {
			n = min(n, people)
			people -= n
		}
		wrote, err := g.window(fw, ec, n, quota)
		if err != nil {
			return err
		}
		if quota > 0 && !wrote {
			// Nothing fitted (only two-message events left): pad with
			// IIS acknowledgements, a type the bridge ignores.
			for fw.index < quota {
				if err := g.fillerACK(fw, ec); err != nil {
					return err
				}
			}
		}
	}
}

func (g *generator) window(fw *fileWriter, ec encodeCtx, n, quota int) (bool, error) {
	w := g.w
	g.windows++
	w.arena = w.arena[:0] // the previous window's messages are written out
	wr := rand.New(rand.NewPCG(w.seed^0x5eed, g.windows))
	var persons []*person
	for i := 0; i < n; i++ {
		p := w.newPerson(ec.latin1, nil)
		persons = append(persons, p)
		if i+1 < n && wr.Float64() < 0.04 {
			persons = append(persons, w.newPerson(ec.latin1, p))
			i++
		}
	}
	var events []*event
	for _, p := range persons {
		if err := p.simulate(ec); err != nil {
			return false, err
		}
		events = append(events, p.events...)
	}
	events = append(events, g.outsiders(wr, ec)...)
	slices.SortStableFunc(events, func(a, b *event) int {
		return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(pidx(a.p), pidx(b.p)), cmp.Compare(a.seq, b.seq))
	})
	tps := map[*person]*tperson{}
	cut := map[*person]bool{}
	wrote := false
	for _, ev := range events {
		if quota > 0 {
			if cut[ev.p] && ev.p != nil {
				continue
			}
			if len(ev.msgs) > quota-fw.index {
				if ev.p != nil {
					cut[ev.p] = true // keep each person's traffic a prefix of their story
				}
				continue
			}
		}
		for _, m := range ev.msgs {
			idx, err := fw.record(m.data)
			if err != nil {
				return wrote, err
			}
			wrote = true
			pkey := ""
			if ev.p != nil && m.kind != "ACK" {
				pkey = ev.p.key
				tp := tps[ev.p]
				if tp == nil {
					tp = newTPerson(ev.p)
					tps[ev.p] = tp
				}
				tp.apply(g.tw, m, fw.spec.name, idx)
			}
			if err := g.tw.message(fw.spec.name, idx, m.kind, m.profile, m.ctrl, pkey, g.w.senderKey(m.sender), m.ts); err != nil {
				return wrote, err
			}
			if err := g.maybeBroken(fw, quota); err != nil {
				return wrote, err
			}
		}
	}
	for _, p := range persons {
		if tp := tps[p]; tp != nil && tp.hasPID {
			if err := g.tw.person(tp); err != nil {
				return wrote, err
			}
		}
	}
	return wrote, nil
}

func pidx(p *person) int {
	if p == nil {
		return -1
	}
	return p.idx
}

// outsiders are queries about people the IIS does not hold as one person:
// Z33 (not found) and Z31 (several candidates). None of them is in the
// world, so they must produce no Patient and no Group link.
func (g *generator) outsiders(r *rand.Rand, ec encodeCtx) []*event {
	w := g.w
	var evs []*event
	for _, z31 := range []bool{false, true} {
		if r.Float64() >= 0.35 {
			continue
		}
		w.outsiderSeq++
		fac := r.IntN(len(w.facs))
		f := w.facs[fac]
		ts := w.startTS + r.Int64N(w.endTS-w.startTS)
		fam := outsiderFamilies[r.IntN(len(outsiderFamilies))]
		gv := givenA[r.IntN(len(givenA))]
		nm := name{Family: fam, Given: gv.Name}
		dob := w.endDay - day(400+r.IntN(5000))
		ctrl := f.NS + ".Q" + strconv.Itoa(w.outsiderSeq)
		var mrs [][2]string
		if !z31 {
			mrs = [][2]string{{f.NS, "QX" + strconv.Itoa(w.outsiderSeq)}}
		}
		var cands []givenName
		if z31 {
			for k := 1; len(cands) < 2+r.IntN(2); k++ {
				if c := givenA[(slices.Index(givenA, gv)+k)%len(givenA)]; c.Sex == gv.Sex {
					cands = append(cands, c)
				}
			}
		}
		charset := func(gs ...givenName) string {
			for _, c := range gs {
				if utf8.RuneCountInString(c.Name) != len(c.Name) {
					if ec.latin1 {
						return "8859/1"
					}
					return "UNICODE UTF-8"
				}
			}
			return ""
		}
		e := w.newEnc(ec)
		e.msh(f.App, f.msh4, iisApp, iisMSH4, ts, "QBP^Q11^QBP_Q11", ctrl, "ER", "AL", charset(gv), "Z34^CDCPHINVS", f.msh22(), iisNS)
		e.qpd(false, "Q"+ctrl, mrs, nm, name{}, dob, gv.Sex, nil, "")
		e.b = append(e.b, "RCP|I|5^RD&records&HL70126|R^real-time^HL70394"...)
		e.end()
		q := &message{kind: "QBP", profile: "Z34", ctrl: ctrl, ts: ts, sender: fac, linkOrg: -1, data: w.take(e)}
		profile := "Z33"
		if z31 {
			profile = "Z31"
		}
		rctrl := iisNS + ".Q" + strconv.Itoa(w.outsiderSeq)
		e = w.newEnc(ec)
		e.msh(iisApp, iisMSH4, f.App, f.msh4, ts, "RSP^K11^RSP_K11", rctrl, "NE", "NE", charset(append(cands, gv)...), profile+"^CDCPHINVS", iisNS, f.msh22())
		e.b = append(e.b, "MSA|AA|"...)
		e.s(ctrl)
		e.end()
		e.b = append(e.b, "QAK|Q"...)
		e.s(ctrl)
		if z31 {
			e.b = append(e.b, "|OK|"...)
		} else {
			e.b = append(e.b, "|NF|"...)
		}
		e.s(qpdName(false))
		e.end()
		e.qpd(false, "Q"+ctrl, mrs, nm, name{}, dob, gv.Sex, nil, "")
		if z31 {
			for k, c := range cands {
				k++
				e.b = append(e.b, "PID|"...)
				e.b = strconv.AppendInt(e.b, int64(k), 10)
				e.b = append(e.b, "||"...)
				e.b = strconv.AppendInt(e.b, int64(900000000+w.outsiderSeq*10+k), 10)
				e.b = append(e.b, "^^^"+iisNS+"^SR||"...)
				e.name(name{Family: fam, Given: c.Name}, "L")
				e.b = append(e.b, "||"...)
				e.date(dob)
				e.b = append(e.b, '|')
				e.b = append(e.b, c.Sex)
				e.end()
			}
		}
		rsp := &message{kind: "RSP", profile: profile, ctrl: rctrl, ts: ts, sender: -1, linkOrg: -1, data: w.take(e)}
		evs = append(evs, &event{ts: ts, msgs: []*message{q, rsp}})
	}
	return evs
}

func (g *generator) fillerACK(fw *fileWriter, ec encodeCtx) error {
	g.w.outsiderSeq++
	ctrl := iisNS + ".A" + strconv.Itoa(g.w.outsiderSeq)
	f := g.w.facs[0]
	e := &enc{term: ec.term, latin1: ec.latin1}
	e.msh(iisApp, iisMSH4, f.App, f.msh4, g.w.endTS, "ACK^V04^ACK", ctrl, "NE", "NE", "", "Z23^CDCPHINVS", "", "")
	e.b = append(e.b, "MSA|AA|"+f.NS+".0"...)
	e.end()
	idx, err := fw.record(e.b)
	if err != nil {
		return err
	}
	return g.tw.message(fw.spec.name, idx, "ACK", "Z23", ctrl, "", "", g.w.endTS)
}

// maybeBroken plants the deliberately broken records: in "blank" files a
// message without MSH after record 2 and binary garbage after record 6;
// in "mllp" files a frame cut short (no 0x1C 0x0D) after record 4.
func (g *generator) maybeBroken(fw *fileWriter, quota int) error {
	if quota > 0 && fw.index >= quota {
		return nil
	}
	var reason string
	var data []byte
	switch {
	case fw.spec.framing == "blank" && fw.index == 2:
		reason = "no-msh"
		data = []byte("PID|1||QX0^^^" + g.w.facs[0].NS + "^MR||QUIMBY^NOBODY^^^^^L||20200101|U\nORC|RE||1^" +
			g.w.facs[0].NS + "\nRXA|0|1|20240101||08^Hep B, adolescent or pediatric^CVX|0.5|mL^mL^UCUM\n")
	case fw.spec.framing == "blank" && fw.index == 6:
		reason = "garbage"
		r := rand.New(rand.NewPCG(g.w.seed, 0xbad))
		for len(data) < 160 {
			b := byte(r.IntN(256))
			if b != '\r' && b != '\n' && b != 0x0b && b != 0x1c && b != 'M' {
				data = append(data, b)
			}
		}
		data = append(data, '\n')
	case fw.spec.framing == "mllp" && fw.index == 4:
		reason = "mllp-truncated"
		full := "MSH|^~\\&|" + g.w.facs[0].App + "|" + g.w.facs[0].msh4 + "|" + iisApp + "|" + iisMSH4 +
			"|20240102093000-0600||VXU^V04^VXU_V04|" + g.w.facs[0].NS + ".CUT1|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS\rPID|1||QX1^^^" +
			g.w.facs[0].NS + "^MR||QUIMBY^HALF^^^^^L||20200101|F\rORC|RE||2^" + g.w.facs[0].NS + "\rRXA|0|1|2024"
		data = []byte(full)
	default:
		return nil
	}
	idx, err := fw.raw(data, reason == "mllp-truncated")
	if err != nil {
		return err
	}
	g.tw.broken = append(g.tw.broken, Broken{File: fw.spec.name, Index: idx, Reason: reason})
	return g.tw.message(fw.spec.name, idx, "broken", reason, "", "", "", 0)
}

// fileWriter frames records for one archive file.
type fileWriter struct {
	spec    fileSpec
	path    string
	f       *os.File
	cw      *countWriter
	gz      *gzip.Writer
	bw      *bufio.Writer
	index   int
	inBatch int
	batches int
	fhsTS   int64
}

type countWriter struct {
	f *os.File
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	return n, err
}

func createFile(dir string, s fileSpec, cfg Config) (*fileWriter, error) {
	path := filepath.Join(dir, s.name)
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	fw := &fileWriter{spec: s, path: path, f: f, cw: &countWriter{f: f}, fhsTS: cfg.Start.Unix()}
	if s.gzip {
		fw.gz, _ = gzip.NewWriterLevel(fw.cw, gzip.BestSpeed)
		fw.bw = bufio.NewWriterSize(fw.gz, 1<<16)
	} else {
		fw.bw = bufio.NewWriterSize(fw.cw, 1<<16)
	}
	if s.framing == "batch" {
		fw.bw.WriteString("FHS|^~\\&|" + iisApp + "|" + iisMSH4 + "|||")
		fw.bw.Write(appendTS(nil, fw.fhsTS))
		fw.bw.WriteString("||" + s.name + "\r")
	}
	return fw, nil
}

// record writes one well-formed message and returns its 1-based index.
func (fw *fileWriter) record(data []byte) (int, error) {
	bw := fw.bw
	switch fw.spec.framing {
	case "blank":
		bw.Write(data)
		bw.WriteByte('\n')
	case "mllp":
		bw.WriteByte(0x0b)
		bw.Write(data)
		bw.Write([]byte{0x1c, 0x0d})
	case "batch":
		if fw.inBatch == 0 {
			bw.WriteString("BHS|^~\\&|" + iisApp + "|" + iisMSH4 + "|||")
			bw.Write(appendTS(nil, fw.fhsTS))
			bw.WriteString("||||B" + strconv.Itoa(fw.batches+1) + "\r")
		}
		bw.Write(data)
		fw.inBatch++
		if fw.inBatch == batchSize {
			fw.endBatch()
		}
	default:
		bw.Write(data)
	}
	fw.index++
	return fw.index, nil
}

// raw writes a broken record; truncated MLLP frames get no trailer.
func (fw *fileWriter) raw(data []byte, mllp bool) (int, error) {
	if mllp {
		fw.bw.WriteByte(0x0b)
		fw.bw.Write(data)
	} else {
		fw.bw.Write(data)
		fw.bw.WriteByte('\n')
	}
	fw.index++
	return fw.index, nil
}

func (fw *fileWriter) endBatch() {
	fw.bw.WriteString("BTS|" + strconv.Itoa(fw.inBatch) + "\r")
	fw.batches++
	fw.inBatch = 0
}

func (fw *fileWriter) close() (File, error) {
	out := File{Name: fw.spec.name, Framing: fw.spec.framing, Gzip: fw.spec.gzip, Charset: "UTF-8", Messages: fw.index}
	if fw.spec.framing == "latin1" {
		out.Charset = "ISO-8859-1"
	}
	if fw.spec.framing == "batch" {
		if fw.inBatch > 0 {
			fw.endBatch()
		}
		fw.bw.WriteString("FTS|" + strconv.Itoa(fw.batches) + "\r")
		out.Batches = fw.batches
	}
	err := fw.bw.Flush()
	if fw.gz != nil && err == nil {
		err = fw.gz.Close()
	}
	if cerr := fw.f.Close(); err == nil {
		err = cerr
	}
	out.Bytes = fw.cw.n
	return out, err
}

func (fw *fileWriter) abort() {
	fw.f.Close()
	os.Remove(fw.path)
}

// senderKey is the truth's name of a message's sender: the facility's
// MSH-4 namespace, "" for the IIS.
func (w *world) senderKey(fac int) string {
	if fac < 0 {
		return ""
	}
	return w.facs[fac].NS
}
