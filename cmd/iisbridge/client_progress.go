package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/iisbridge/iisbridge/bulkclient"
)

// Progress of `client export` on stderr: a bar on a terminal, plain
// timestamped lines otherwise (logs, CI), so stdout stays the summary.

// barProgress draws a byte counter with the files done; status lines
// print above it.
type barProgress struct {
	w     io.Writer
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	files int
	done  int
}

func newBarProgress(w io.Writer) *barProgress { return &barProgress{w: w} }

func (p *barProgress) Status(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(p.w, msg)
}

func (p *barProgress) Downloading(files int, resources int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	what := "unknown count of resources"
	if resources >= 0 {
		what = fmt.Sprintf("%d resources", resources)
	}
	fmt.Fprintf(p.w, "downloading %d files, %s\n", files, what)
	p.files = files
	// The total size is not known before each response arrives: a
	// spinner with bytes and rate, and files done as its description.
	p.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetDescription(fmt.Sprintf("files 0/%d", files)),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		// No spinner ticker: its goroutine reads the bar's state without
		// the bar's lock (a data race in v3.19.1). The spinner turns as
		// bytes arrive instead, and so stops when a transfer stalls.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *barProgress) Received(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p *barProgress) FileDone(f bulkclient.FileResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("files %d/%d", p.done, p.files))
		if f.Err != "" {
			p.bar.Clear()
			fmt.Fprintf(p.w, "%s %s: FAILED: %s\n", f.Kind, f.Type, f.Err)
		}
	}
}

func (p *barProgress) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

// lineProgress prints status lines as they come and, while downloading,
// a line every interval with files and bytes so far.
type lineProgress struct {
	w        io.Writer
	mu       sync.Mutex
	files    int
	done     int
	bytes    int64
	stop     chan struct{}
	stopOnce sync.Once
	t0       time.Time
	interval time.Duration
}

func newLineProgress(w io.Writer, interval time.Duration) *lineProgress {
	return &lineProgress{w: w, stop: make(chan struct{}), t0: time.Now(), interval: interval}
}

func (p *lineProgress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func (p *lineProgress) Status(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printf("%s", msg)
}

func (p *lineProgress) Downloading(files int, resources int64) {
	p.mu.Lock()
	p.files = files
	if resources >= 0 {
		p.printf("downloading %d files, %d resources", files, resources)
	} else {
		p.printf("downloading %d files", files)
	}
	p.mu.Unlock()
	go func() {
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.printf("files %d/%d, %.1f MB received", p.done, p.files, float64(p.bytes)/1e6)
				p.mu.Unlock()
			}
		}
	}()
}

func (p *lineProgress) Received(n int64) {
	p.mu.Lock()
	p.bytes += n
	p.mu.Unlock()
}

func (p *lineProgress) FileDone(f bulkclient.FileResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if f.Err != "" {
		p.printf("%s %s: FAILED: %s", f.Kind, f.Type, f.Err)
		return
	}
	p.printf("%s %s: %d lines → %s", f.Kind, f.Type, f.Lines, f.Path)
}

func (p *lineProgress) close() { p.stopOnce.Do(func() { close(p.stop) }) }
