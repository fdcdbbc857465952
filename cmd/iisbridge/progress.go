package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// plainEvery is how often a meter logs its progress when standard error
// is not a terminal (a log file, a pipe, systemd's journal): an INFO line
// in the process's log format, like every other line there.
var plainEvery = 10 * time.Second

// meter shows the progress of long work on standard error: a bar with
// rate and ETA on a terminal, a plain line every plainEvery otherwise.
// Safe for concurrent use; the zero total means unknown.
type meter struct {
	mu    sync.Mutex
	w     io.Writer
	what  string
	unit  string // "bytes", or what is counted ("persons")
	bytes bool
	bar   *progressbar.ProgressBar
	t0    time.Time
	last  time.Time
	done  int64
	total int64
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newMeter starts a meter for what ("indexing"), counting unit: "bytes"
// or things ("persons").
func newMeter(w io.Writer, what, unit string) *meter {
	bytes := unit == "bytes"
	m := &meter{w: w, what: what, unit: unit, bytes: bytes, t0: time.Now()}
	m.last = m.t0
	if isTerminal(w) {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionFullWidth(),
		}
		if bytes {
			opts = append(opts, progressbar.OptionShowBytes(true)) // with its rate
		} else {
			opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit))
		}
		m.bar = progressbar.NewOptions64(-1, opts...)
	}
	return m
}

// set records done of total (0: unknown).
func (m *meter) set(done, total int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if total != m.total && m.bar != nil && total > 0 {
		m.bar.ChangeMax64(total)
	}
	m.done, m.total = done, total
	if m.bar != nil {
		m.bar.Set64(done)
		return
	}
	if now := time.Now(); now.Sub(m.last) >= plainEvery {
		m.last = now
		slog.Info(m.line(now))
	}
}

// percent is the share done, or -1 when the total is unknown.
func (m *meter) percent() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.total <= 0 {
		return -1
	}
	return int(100 * m.done / m.total)
}

func (m *meter) amount(n int64) string {
	if m.bytes {
		return humanBytes(n)
	}
	return fmt.Sprint(n)
}

// line is the plain progress line: "indexing: 37 % (1.2 GiB of 3.3 GiB), 45.1 MiB/s, ETA 1m10s".
func (m *meter) line(now time.Time) string {
	el := now.Sub(m.t0).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(m.done) / el
	}
	unit := "/s"
	if !m.bytes {
		unit = " " + m.unit + "/s"
	}
	if m.total <= 0 {
		return fmt.Sprintf("%s: %s, %s%s", m.what, m.amount(m.done), m.amount(int64(rate)), unit)
	}
	eta := "unknown"
	if rate > 0 {
		eta = time.Duration(float64(m.total-m.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %d %% (%s of %s), %s%s, ETA %s", m.what, 100*m.done/m.total,
		m.amount(m.done), m.amount(m.total), m.amount(int64(rate)), unit, eta)
}

// finish clears the bar (the command's summary follows).
func (m *meter) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bar != nil {
		m.bar.Finish()
		m.bar.Exit()
	}
}
