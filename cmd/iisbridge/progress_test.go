package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Off a terminal, progress is a periodic log line in the log format.
func TestMeterPlainLines(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(newLogger(&buf, logConfig{json: true}))
	defer slog.SetDefault(old)
	defer func(d time.Duration) { plainEvery = d }(plainEvery)
	plainEvery = 0

	m := newMeter(&buf, "indexing", "bytes")
	m.t0 = time.Now().Add(-10 * time.Second)
	m.set(37<<20, 100<<20)
	if m.percent() != 37 {
		t.Errorf("percent %d", m.percent())
	}
	m.finish()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON log line: %q", buf.String())
	}
	msg, _ := rec["msg"].(string)
	for _, want := range []string{"indexing: 37 %", "37.0 MiB of 100.0 MiB", "3.7 MiB/s", "ETA 17s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("progress line %q lacks %q", msg, want)
		}
	}
}
