package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/debug"
)

// version and revision may be set at link time (-ldflags "-X
// main.version=v1.2.0 -X main.revision=abc123"), e.g. by the Dockerfile,
// where no VCS data is stamped; otherwise they come from the build info.
var version, revision string

// buildInfo is what `iisbridge version` and the iisbridge_build_info
// metric report.
type buildInfo struct {
	Version  string // module version; "(devel)" for a build from a work tree
	Revision string // VCS revision, "unknown" when not stamped
	Modified bool   // the work tree had local changes
	Go       string
	// PGO is the file name of the profile the build was optimised with
	// (default.pgo beside main.go, picked by go build; README: Figures),
	// "" for a build without one.
	PGO string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Revision: "unknown", Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "-pgo":
				b.PGO = filepath.Base(s.Value)
			}
		}
	}
	if version != "" {
		b.Version = version
	}
	if revision != "" {
		b.Revision = revision
	}
	return b
}

func printVersion(w io.Writer) {
	b := readBuildInfo()
	mod := ""
	if b.Modified {
		mod = " (modified)"
	}
	pgo := b.PGO
	if pgo == "" {
		pgo = "off"
	}
	fmt.Fprintf(w, "iisbridge %s\nrevision %s%s\n%s %s/%s\nprofile-guided build: %s\n", b.Version, b.Revision, mod, b.Go, runtime.GOOS, runtime.GOARCH, pgo)
}
