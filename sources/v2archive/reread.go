package v2archive

import (
	"container/list"
	"fmt"
	"os"
	"sync"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// Rereader reads indexed messages again, as ReadAt does, but keeps the
// archive files open between calls: an export re-reads every message of
// an archive, and opening the file for each one cost more than the read.
// At most maxOpen files stay open (least recently used closed first).
// It is safe for concurrent use; Close it when done.
type Rereader struct {
	opts    Options
	maxOpen int

	mu     sync.Mutex
	files  map[string]*list.Element // of *openFile
	lru    list.List
	closed bool
}

type openFile struct {
	path  string
	f     *os.File
	gzip  bool
	users int  // ReadAt calls using f now
	gone  bool // evicted or closed while in use: the last user closes f
}

// NewRereader returns a Rereader for archives read with opts.
func NewRereader(opts Options) (*Rereader, error) {
	o, err := opts.normalized()
	if err != nil {
		return nil, err
	}
	return &Rereader{opts: o, maxOpen: 32, files: map[string]*list.Element{}}, nil
}

// ReadAt reads the message at loc again (see the package function ReadAt).
func (r *Rereader) ReadAt(loc sources.Location) (*Item, error) {
	return r.readAt(loc, nil, nil)
}

// readAt is ReadAt, parsing a plain message's header with p (see
// readSpanWith) and reading a plain file's span into *buf when buf is
// not nil (grown as needed): the item's Data may then be *buf's, valid
// until its next use.
func (r *Rereader) readAt(loc sources.Location, p *hl7v2.Parser, buf *[]byte) (*Item, error) {
	span, gz, err := r.span(loc, buf)
	if err != nil || gz != nil {
		return gz, err
	}
	return readSpanWith(loc, span, &r.opts, p), nil
}

// span reads the bytes at loc of a plain file, into *buf when buf is not
// nil (grown as needed); of a gzip file it reads the item (gz) instead.
func (r *Rereader) span(loc sources.Location, buf *[]byte) (span []byte, gz *Item, err error) {
	if err := checkSpan(loc, &r.opts); err != nil {
		return nil, nil, err
	}
	of, err := r.acquire(loc.Source)
	if err != nil {
		return nil, nil, err
	}
	defer r.release(of)
	if of.gzip {
		gz, err = readGzipAt(of.f, loc, &r.opts)
		return nil, gz, err
	}
	if buf == nil {
		span = make([]byte, loc.Length)
	} else {
		if int64(cap(*buf)) < loc.Length {
			*buf = make([]byte, loc.Length)
		}
		span = (*buf)[:loc.Length]
	}
	if _, err := of.f.ReadAt(span, loc.Offset); err != nil {
		return nil, nil, fmt.Errorf("v2archive: ReadAt %s at offset %d: %w", loc.Source, loc.Offset, err)
	}
	return span, nil, nil
}

func (r *Rereader) acquire(path string) (*openFile, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("v2archive: ReadAt %s: rereader closed", path)
	}
	if el, ok := r.files[path]; ok {
		r.lru.MoveToFront(el)
		of := el.Value.(*openFile)
		of.users++
		r.mu.Unlock()
		return of, nil
	}
	r.mu.Unlock()

	// Open outside the lock; a racing opener of the same path loses and
	// closes its copy.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt: %w", err)
	}
	gz := isGzipFile(f)

	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.files[path]; ok {
		f.Close()
		r.lru.MoveToFront(el)
		of := el.Value.(*openFile)
		of.users++
		return of, nil
	}
	if r.closed {
		f.Close()
		return nil, fmt.Errorf("v2archive: ReadAt %s: rereader closed", path)
	}
	of := &openFile{path: path, f: f, gzip: gz, users: 1}
	r.files[path] = r.lru.PushFront(of)
	for r.lru.Len() > r.maxOpen {
		old := r.lru.Back()
		r.evict(old)
	}
	return of, nil
}

// evict drops el from the cache; its file closes now or when its last
// user is done. Call with mu held.
func (r *Rereader) evict(el *list.Element) {
	of := el.Value.(*openFile)
	r.lru.Remove(el)
	delete(r.files, of.path)
	of.gone = true
	if of.users == 0 {
		of.f.Close()
	}
}

func (r *Rereader) release(of *openFile) {
	r.mu.Lock()
	defer r.mu.Unlock()
	of.users--
	if of.gone && of.users == 0 {
		of.f.Close()
	}
}

// Close closes the open files; ReadAt calls under way finish first.
func (r *Rereader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for r.lru.Len() > 0 {
		r.evict(r.lru.Back())
	}
	return nil
}
