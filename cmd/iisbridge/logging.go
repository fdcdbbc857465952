package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// logConfig is what --log-format and --log-level chose.
type logConfig struct {
	json  bool
	level slog.Level
}

// globalFlags takes --log-format and --log-level (either spelling, with
// "=" or a separate value) out of args, wherever they stand before "--".
func globalFlags(args []string) ([]string, logConfig, error) {
	var lc logConfig
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "log-format" && name != "log-level") {
			out = append(out, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, lc, fmt.Errorf("flag %s needs a value", a)
			}
			i++
			value = args[i]
		}
		switch name {
		case "log-format":
			switch value {
			case "text":
				lc.json = false
			case "json":
				lc.json = true
			default:
				return nil, lc, fmt.Errorf("--log-format: want text or json, not %q", value)
			}
		case "log-level":
			if err := lc.level.UnmarshalText([]byte(value)); err != nil {
				return nil, lc, fmt.Errorf("--log-level: want debug, info, warn or error, not %q", value)
			}
		}
	}
	return out, lc, nil
}

// newLogger is the one logger of the process: slog.SetDefault makes every
// package's slog calls (and the log package) write through it, so each
// line on standard error has the same format.
func newLogger(w io.Writer, lc logConfig) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lc.level}
	if lc.json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
