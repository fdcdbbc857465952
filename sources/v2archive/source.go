package v2archive

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// Source is the v2 archive adapter of the sources.Source contract:
// framing and encoding (Reader), classification of each message for the
// index (kind, identity keys, organization), the files behind paths and
// how they changed since indexing (Changes, track.go), gzip spools
// (unpack.go) and verified re-reads (Rereader). Identity keys and the organization are
// read by the mapping's identity: section (a sources.Identifier).
type Source struct {
	opts     Options
	identity sources.IdentityConfig
	who      sources.Identifier
}

var (
	_ sources.Source        = (*Source)(nil)
	_ sources.Fingerprinter = (*Source)(nil)
	_ sources.Named         = (*Source)(nil)
)

// Name is the adapter's name, stored with every record it reads.
func (s *Source) Name() string { return "v2" }

// NewSource returns the adapter for archives read with opts, whose
// messages are tied to persons by identity from what who (the mapping)
// reads of them.
func NewSource(opts Options, identity sources.IdentityConfig, who sources.Identifier) (*Source, error) {
	if who == nil {
		return nil, fmt.Errorf("v2archive: no identifier (the mapping whose identity: section names persons)")
	}
	o, err := opts.normalized()
	if err != nil {
		return nil, err
	}
	identity = identity.WithDefaults()
	if err := identity.Validate(); err != nil {
		return nil, err
	}
	if o.SpoolDir != "" {
		cleanSpool(o.SpoolDir)
	}
	return &Source{opts: o, identity: identity, who: who}, nil
}

// Options are the reader options in force.
func (s *Source) Options() Options { return s.opts }

// Fingerprint is what changes offsets or keys: the encoding and the
// mapping's identity section (the identity rules are part of the index's
// own fingerprint).
func (s *Source) Fingerprint() string {
	return s.opts.Encoding + " identity " + s.who.IdentityFingerprint()
}

// records reads the messages of r (the content of file name, from a
// cursor on) and classifies each (groupless: sources.Change.Groupless).
func (s *Source) records(name string, r io.Reader, groupless bool, fn func(*sources.Record) error) error {
	rd, err := OpenReader(name, r, s.opts)
	if err != nil {
		return err
	}
	defer rd.Close()
	// Reused message after message: a record keeps only strings copied
	// out of the parsed message.
	var (
		who sources.Identity
		p   hl7v2.Parser
	)
	for {
		it, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if it.Err == nil && len(it.Data) == 0 && len(it.Warnings) == 0 {
			continue
		}
		if err := fn(s.record(it, &p, &who, groupless)); err != nil {
			return err
		}
	}
}

// record classifies one item.
func (s *Source) record(it *Item, p *hl7v2.Parser, who *sources.Identity, groupless bool) *sources.Record {
	r := &sources.Record{Loc: it.Loc, Kind: sources.Broken}
	switch {
	case it.Err != nil:
		r.Err = it.Err.Error()
	case len(it.Data) == 0:
		r.Kind, r.Err = sources.Warning, strings.Join(it.Warnings, "; ")
	default:
		// Lazily: classify reads a few segments of each message (MSH,
		// PID, RXA); the export parses it again whole.
		m, err := p.ParseLazy(it.Data)
		if err != nil {
			r.Err = err.Error()
			break
		}
		if err := classify(s.identity, s.who, m, it.Data, r, who, groupless); err != nil {
			*r = sources.Record{Loc: it.Loc, Kind: sources.Broken, Err: err.Error()}
			break
		}
		r.Hash = DataHash(it.Data)
		if len(it.Warnings) > 0 {
			r.Err = strings.Join(it.Warnings, "; ")
			r.Warn = 1 // an export reports them in one issue
		}
		r.Warn += len(m.Warnings())
	}
	return r
}

// Rereader opens a verified re-reader (archive files stay open).
func (s *Source) Rereader() (sources.Rereader, error) {
	rr, err := NewRereader(s.opts)
	if err != nil {
		return nil, err
	}
	return &verified{Rereader: rr, s: s, content: map[string]string{}}, nil
}

// verified reads through the spool of a gzip input (looked up once per
// file: an export reads many messages of each).
type verified struct {
	*Rereader
	s       *Source
	mu      sync.Mutex
	content map[string]string // input path → what to read
}

// Reread reads the message at loc and checks it is the one indexed
// there: the same MSH-10 and checksum, else sources.ErrChanged.
func (v *verified) Reread(loc sources.Locator) ([]byte, error) {
	return v.RereadInto(loc, nil)
}

// RereadInto is Reread reading into *buf when buf is not nil: a caller
// re-reading message after message (an export's worker) keeps one buffer
// instead of allocating one per message. *buf is grown as needed; the
// bytes returned may be *buf's, valid until its next use.
func (v *verified) RereadInto(loc sources.Locator, buf *[]byte) ([]byte, error) {
	v.mu.Lock()
	path, ok := v.content[loc.Source]
	if !ok {
		path = v.s.reread(loc.Source)
		v.content[loc.Source] = path
	}
	v.mu.Unlock()
	l := sources.Location{Source: path, Offset: loc.Offset, Length: loc.Length}
	span, it, err := v.span(l, buf)
	if err != nil {
		return nil, err
	}
	if it == nil {
		if loc.Hash != 0 && DataHash(span) == loc.Hash {
			// The span is the message's data as indexed, byte for byte,
			// MSH-10 and all: nothing to learn from reading it through
			// the stream again (nearly every re-read).
			return span, nil
		}
		// Only MSH-10 of the header is kept (a string): a pooled parser
		// saves allocating one per message.
		p := headerParsers.Get().(*hl7v2.Parser)
		defer headerParsers.Put(p)
		it = readSpanWith(l, span, &v.opts, p)
	}
	return it.Data, Verify(it, loc)
}

var headerParsers = sync.Pool{New: func() any { return new(hl7v2.Parser) }}

// Verify checks a re-read item against its locator: a message with the
// same MSH-10 and checksum. Anything else is sources.ErrChanged: the
// bytes are never to be taken for the indexed message.
func Verify(it *Item, loc sources.Locator) error {
	switch {
	case it.Err != nil:
		return fmt.Errorf("%w (%v)", sources.ErrChanged, it.Err)
	case it.Loc.ControlID != loc.ID, loc.Hash == 0, loc.Hash != DataHash(it.Data):
		return sources.ErrChanged
	}
	return nil
}
