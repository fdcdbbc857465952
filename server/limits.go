package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPLimits bound what one request, connection or client address may
// hold. Zero values take the defaults noted.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration // request line and headers; default 10s
	// ReadTimeout bounds reading a whole request, body included (kick-off
	// bodies are small); default 30s.
	ReadTimeout time.Duration
	// WriteTimeout is how long a response may stall: the deadline for
	// ordinary responses, and for downloads the time each 256 KB chunk
	// may take, so a download that keeps flowing is never cut and a
	// client that stops reading is (it may resume with Range); default 60s.
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // keep-alive connections idle longer are closed; default 60s
	// MaxConnsPerClient caps open connections per client IP address;
	// more are closed at accept. Behind a reverse proxy every client
	// shares the proxy's address: raise it there. Default 32.
	MaxConnsPerClient int
}

// Defaults of HTTPLimits.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxConnsPerClient = 32
)

// downloadChunk is how many bytes of a download may be written per
// WriteTimeout: the slowest client kept is downloadChunk/WriteTimeout
// (4.3 KB/s with the defaults).
const downloadChunk = 256 << 10

func (l HTTPLimits) withDefaults() HTTPLimits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&l.ReadTimeout, DefaultReadTimeout)
	def(&l.WriteTimeout, DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxConnsPerClient <= 0 {
		l.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	return l
}

// HTTPServer returns an http.Server serving Handler with the Options'
// timeouts.
func (s *Server) HTTPServer() *http.Server { return s.opts.HTTP.HTTPServer(s.Handler(), s.log) }

// LimitListener wraps ln so each client IP address holds at most
// MaxConnsPerClient open connections; an extra one is closed at once.
func (s *Server) LimitListener(ln net.Listener) net.Listener {
	return s.opts.HTTP.LimitListener(ln, s.log)
}

// HTTPServer returns an http.Server serving h with these timeouts; a
// command can listen with it before the Server exists (serve answers
// /healthz while it indexes). Its WriteTimeout stays 0: the Server's
// handler sets write deadlines per response (and per chunk of a
// download), which a fixed per-request deadline would make impossible
// for large files.
func (l HTTPLimits) HTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// LimitListener wraps ln so each client IP address holds at most
// MaxConnsPerClient open connections; an extra one is closed at once.
func (l HTTPLimits) LimitListener(ln net.Listener, log *slog.Logger) net.Listener {
	return &limitListener{Listener: ln, max: l.withDefaults().MaxConnsPerClient, open: map[string]int{}, log: log}
}

type limitListener struct {
	net.Listener
	max     int
	log     *slog.Logger
	mu      sync.Mutex
	open    map[string]int
	refused uint64
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := c.RemoteAddr().String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		l.mu.Lock()
		n := l.open[host]
		if n >= l.max {
			l.refused++
			r := l.refused
			l.mu.Unlock()
			c.Close()
			if r&(r-1) == 0 { // 1st, 2nd, 4th, 8th...: a flood cannot flood the log
				l.log.Warn("connections refused: too many open connections from one address", "limit", l.max, "refused_total", r)
			}
			continue
		}
		l.open[host] = n + 1
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *limitListener) release(host string) {
	l.mu.Lock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
	l.mu.Unlock()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom keeps the connection's sendfile path for downloads.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
