package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Docker cannot run on the project's machines, so the Dockerfile is
// checked by reading it: the essentials a registry's operators rely on.

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct{ cmd, args string }

func readDockerfile(t *testing.T, path string) []dockerInstr {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dockerInstr
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t, "../../Dockerfile")
	var stages [][]dockerInstr
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s before FROM", in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stage(s), want a multi-stage build", len(stages))
	}
	// The build stage uses the module's Go version and builds the command.
	gomod, _ := os.ReadFile("../../go.mod")
	goVer := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(gomod)
	build := stages[0]
	if goVer == nil || !strings.Contains(build[0].args, "golang:"+string(goVer[1])) || !strings.Contains(build[0].args, " AS build") {
		t.Errorf("build stage %q, want golang:%s AS build", build[0].args, goVer[1])
	}
	built := false
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/iisbridge") && strings.Contains(in.args, "CGO_ENABLED=0") {
			built = true
			for _, v := range []string{"main.version", "main.revision"} { // version.go's link-time variables
				if !strings.Contains(in.args, v) {
					t.Errorf("go build does not set %s", v)
				}
			}
		}
	}
	if !built {
		t.Error("no static go build of ./cmd/iisbridge in the build stage")
	}
	// The image's binary is the profile-guided one (README: Figures): the
	// build takes default.pgo as go build does, unless the build turns it
	// off or the context leaves it out.
	for _, in := range build {
		if in.cmd == "RUN" && strings.Contains(in.args, "-pgo") {
			t.Errorf("the build stage chooses its own profile: %s", in.args)
		}
	}
	if p := dockerIgnored(t, "../../.dockerignore", "cmd/iisbridge/default.pgo"); p != "" {
		t.Errorf(".dockerignore leaves the profile out of the build context (%s)", p)
	}
	final := stages[len(stages)-1]
	has := func(cmd string, pred func(string) bool) bool {
		for _, in := range final {
			if in.cmd == cmd && pred(in.args) {
				return true
			}
		}
		return false
	}
	if !has("COPY", func(a string) bool { return strings.HasPrefix(a, "--from=build ") }) {
		t.Error("final stage does not copy the binary from the build stage")
	}
	user := ""
	for _, in := range final {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("final stage runs as %q, want a non-root user", user)
	}
	if !has("VOLUME", func(a string) bool { return strings.Contains(a, `"/data"`) }) {
		t.Error("no /data volume")
	}
	if !has("ENTRYPOINT", func(a string) bool { return strings.Contains(a, "iisbridge") }) {
		t.Error("no iisbridge entrypoint")
	}
	// CMD's flags are real serve flags.
	for _, in := range final {
		if in.cmd == "CMD" {
			args := regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(in.args, -1)
			var words []string
			for _, a := range args {
				words = append(words, a[1])
			}
			checkServeArgs(t, "Dockerfile CMD", words)
		}
	}
}

// dockerIgnored is the .dockerignore pattern that leaves path out of the
// build context ("" when none does, or there is no .dockerignore). As
// Docker reads them: relative to the context's root, a pattern matching a
// folder leaves out what is in it, "**/" matches any folders, and a later
// "!pattern" takes a path back in.
func dockerIgnored(t *testing.T, ignore, path string) string {
	t.Helper()
	data, err := os.ReadFile(ignore)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(path, "/")
	matches := func(pat string) bool {
		pat = strings.TrimPrefix(pat, "/")
		anywhere := false
		for {
			rest, ok := strings.CutPrefix(pat, "**/")
			if !ok {
				break
			}
			pat, anywhere = rest, true
		}
		// The path and the folders above it, from the root; with "**/"
		// from any folder down.
		from := 1
		if anywhere {
			from = len(parts)
		}
		for i := range from {
			for j := i + 1; j <= len(parts); j++ {
				if ok, _ := filepath.Match(pat, strings.Join(parts[i:j], "/")); ok {
					return true
				}
			}
		}
		return false
	}
	by := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if neg, ok := strings.CutPrefix(l, "!"); ok {
			if matches(neg) {
				by = ""
			}
		} else if matches(l) {
			by = l
		}
	}
	return by
}

func TestDockerIgnored(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ ignore, want string }{
		{".git\n*.prof\n", ""},
		{"*.pgo\n", ""}, // anchored at the root
		{"**/*.pgo\n", "**/*.pgo"},
		{"cmd\n", "cmd"},
		{"cmd/*/default.pgo\n", "cmd/*/default.pgo"},
		{"**/*.pgo\n!cmd/iisbridge/default.pgo\n", ""},
		{"# cmd\n", ""},
	} {
		f := filepath.Join(dir, "ignore")
		if err := os.WriteFile(f, []byte(c.ignore), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := dockerIgnored(t, f, "cmd/iisbridge/default.pgo"); got != c.want {
			t.Errorf("%q: %q, want %q", c.ignore, got, c.want)
		}
	}
}

// checkServeArgs fails when args are not a valid serve command line.
func checkServeArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Errorf("%s: %v does not run serve", where, args)
		return
	}
	rest, _, err := globalFlags(args[1:])
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if _, err := reorderFlags(rest, flagsOf(commands["serve"])); err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("../../deploy/iisbridge.service")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]map[string]string{}
	var sec string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			sec = strings.Trim(l, "[]")
			sections[sec] = map[string]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || sec == "" {
				t.Errorf("not a unit line: %q", l)
				continue
			}
			sections[sec][k] = v
		}
	}
	svc := sections["Service"]
	if svc == nil || sections["Unit"] == nil || sections["Install"] == nil {
		t.Fatalf("sections: %v", sections)
	}
	exec := strings.Fields(svc["ExecStart"])
	if len(exec) < 2 || !strings.HasSuffix(exec[0], "/iisbridge") {
		t.Fatalf("ExecStart %q", svc["ExecStart"])
	}
	checkServeArgs(t, "ExecStart", exec[1:])
	if !strings.Contains(svc["ExecReload"], "-HUP") {
		t.Errorf("ExecReload %q does not send SIGHUP (the reload signal)", svc["ExecReload"])
	}
	if u := svc["User"]; u == "" || u == "root" {
		t.Errorf("User=%q, want a non-root user", u)
	}
	if !strings.Contains(svc["SuccessExitStatus"], "130") {
		t.Error("SuccessExitStatus lacks 130 (stopped during start-up indexing)")
	}
	if svc["StateDirectory"] == "" {
		t.Error("no StateDirectory for the data directory")
	}
}
