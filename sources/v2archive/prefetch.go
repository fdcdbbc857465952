package v2archive

import "io"

// prefetch reads its source in a goroutine, a few chunks ahead, so that
// reading and decompressing overlap with framing and parsing. Used only
// for inputs the Reader opens itself (a caller's io.Reader is read
// synchronously: it may have side effects the caller inspects).
type prefetch struct {
	full chan chunk
	free chan []byte
	done chan struct{}
	cur  []byte // unread part of buf
	buf  []byte // chunk being consumed, returned to free when used up
	err  error
}

type chunk struct {
	b   []byte
	err error
}

const (
	prefetchChunks = 4
	prefetchSize   = 256 << 10
)

func newPrefetch(src io.Reader) *prefetch {
	p := &prefetch{
		full: make(chan chunk, prefetchChunks),
		free: make(chan []byte, prefetchChunks),
		done: make(chan struct{}),
	}
	for range prefetchChunks {
		p.free <- make([]byte, prefetchSize)
	}
	go p.run(src)
	return p
}

func (p *prefetch) run(src io.Reader) {
	for {
		var b []byte
		select {
		case b = <-p.free:
		case <-p.done:
			return
		}
		n, err := src.Read(b[:cap(b)])
		select {
		case p.full <- chunk{b[:n], err}:
		case <-p.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *prefetch) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.buf != nil {
			p.free <- p.buf
			p.buf = nil
		}
		if p.err != nil {
			return 0, p.err
		}
		c := <-p.full
		p.cur, p.buf, p.err = c.b, c.b, c.err
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// stop ends the goroutine (it may finish one last Read of the source).
func (p *prefetch) stop() { close(p.done) }
