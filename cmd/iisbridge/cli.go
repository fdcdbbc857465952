package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/iisbridge/iisbridge/diag"
)

// exitInterrupted is the exit status after SIGINT or SIGTERM (128+2, as a
// shell reports a command killed by Ctrl-C).
const exitInterrupted = 130

// run dispatches args (without the program name) and returns the exit
// status.
func run(args []string) int {
	args, lc, err := globalFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "iisbridge: %v\n", err)
		return 2
	}
	slog.SetDefault(newLogger(os.Stderr, lc))

	if len(args) == 0 || isHelpFlag(args[0]) {
		usage(os.Stdout)
		return 0
	}
	switch args[0] {
	case "help":
		return helpCmd(args[1:])
	case "version", "--version", "-version":
		printVersion(os.Stdout)
		return 0
	}
	c, n := find(args)
	if c == nil {
		return unknownCommand(args)
	}
	rest := args[n:]
	if hasHelpFlag(rest) {
		printHelp(os.Stdout, c)
		return 0
	}
	if fl := flagsOf(c); fl != nil {
		if rest, err = reorderFlags(rest, fl); err != nil {
			fmt.Fprintf(os.Stderr, "iisbridge %s: %v\nRun 'iisbridge %s --help' for usage.\n", c.Name, err, c.Name)
			return 2
		}
	}
	if c.Streams {
		tuneGC(c.Offline)
	}
	sig := watchSignals()
	defer sig.stop()
	code := c.Run(rest)
	if sig.interrupted() {
		fmt.Fprintln(os.Stderr, "iisbridge: interrupted; rerun to resume")
		return exitInterrupted
	}
	return code
}

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// hasHelpFlag says whether a help flag comes before any "--".
func hasHelpFlag(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// helpCmd is `iisbridge help [COMMAND...]`.
func helpCmd(args []string) int {
	if len(args) == 0 {
		usage(os.Stdout)
		return 0
	}
	switch args[0] {
	case "help", "version":
		usage(os.Stdout) // both are described there
		return 0
	}
	if c, n := find(args); c != nil && n == len(args) {
		printHelp(os.Stdout, c)
		return 0
	}
	if isGroup(strings.Join(args, " ")) {
		groupUsage(os.Stdout, strings.Join(args, " "))
		return 0
	}
	return unknownCommand(args)
}

// unknownCommand reports args that name no command: a bare group lists
// its subcommands (exit 0), anything else gets a suggestion (exit 2).
func unknownCommand(args []string) int {
	// The longest prefix that is a group: "mapping", "bench".
	for n := min(len(args), 2); n > 0; n-- {
		g := strings.Join(args[:n], " ")
		if !isGroup(g) {
			continue
		}
		if n == len(args) || isHelpFlag(args[n]) {
			groupUsage(os.Stdout, g)
			return 0
		}
		fmt.Fprintf(os.Stderr, "iisbridge: unknown command %q%s\n\n", g+" "+args[n], suggest(args[n], subcommands(g), g+" "))
		groupUsage(os.Stderr, g)
		return 2
	}
	fmt.Fprintf(os.Stderr, "iisbridge: unknown command %q%s\nRun 'iisbridge help' for the list of commands.\n", args[0], suggest(args[0], topNames(), ""))
	return 2
}

// isGroup says whether g is the prefix of nested commands ("v2").
func isGroup(g string) bool { return len(subcommands(g)) > 0 }

// subcommands lists the words that follow group g in command names.
func subcommands(g string) []string {
	var out []string
	for name := range commands {
		if rest, ok := strings.CutPrefix(name, g+" "); ok {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return out
}

// topNames are the words a command line may start with.
func topNames() []string {
	seen := map[string]bool{"help": true, "version": true}
	for name := range commands {
		seen[strings.SplitN(name, " ", 2)[0]] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: iisbridge COMMAND [ARGS]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-16s %s\n      %s\n", n, c.Usage, c.Short)
	}
	fmt.Fprintf(w, "  %-16s %s\n      %s\n", "help", "[COMMAND]", "this list, or one command's help (also: COMMAND --help)")
	fmt.Fprintf(w, "  %-16s %s\n      %s\n", "version", "", "module version, VCS revision and Go version (also: --version)")
	fmt.Fprint(w, globalHelp)
	fmt.Fprintln(w, "\nResults go to standard output; progress, warnings and logs to standard error.\nInterrupted commands (Ctrl-C, SIGTERM) exit with status 130.")
}

const globalHelp = `
global flags (accepted by every command, anywhere before --):
  --log-format text|json    format of log lines on standard error (default text)
  --log-level LEVEL         debug, info, warn or error (default info)
`

func groupUsage(w io.Writer, g string) {
	fmt.Fprintf(w, "usage: iisbridge %s COMMAND [ARGS]\n\ncommands:\n", g)
	for _, sub := range subcommands(g) {
		c := commands[g+" "+sub]
		fmt.Fprintf(w, "  %-16s %s\n      %s\n", sub, c.Usage, c.Short)
	}
	fmt.Fprintf(w, "\nRun 'iisbridge %s COMMAND --help' for a command's flags.\n", g)
}

func printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: iisbridge %s %s\n\n%s\n", c.Name, c.Usage, c.Short)
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Long, "\n"))
	}
	if fl := flagsOf(c); fl != nil && len(fl.text) > 0 {
		fmt.Fprintf(w, "\nflags:\n%s", fl.text)
	}
	fmt.Fprint(w, globalHelp)
}

// flagSet is what the dispatcher knows of a command's flags.
type flagSet struct {
	takesValue map[string]bool
	text       string // the PrintDefaults block
}

// flagsOf reads the flags command c defines (command.Flags); nil when it
// takes none: its arguments are passed on untouched.
func flagsOf(c *command) *flagSet {
	if c.Flags == nil {
		return nil
	}
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	c.Flags(fs)
	out := &flagSet{takesValue: map[string]bool{}}
	fs.VisitAll(func(f *flag.Flag) {
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		out.takesValue[f.Name] = !ok || !b.IsBoolFlag()
	})
	if len(out.takesValue) == 0 {
		return nil
	}
	var text strings.Builder
	fs.SetOutput(&text)
	fs.PrintDefaults()
	out.text = text.String()
	return out
}

// reorderFlags moves flags ahead of positional arguments, so that
// `index a.hl7 --data D` parses as Go's flag package (which stops at the
// first positional) would parse `index --data D a.hl7`, and rejects
// unknown flags with a suggestion.
func reorderFlags(args []string, fs *flagSet) ([]string, error) {
	var flags, pos []string
	dashdash := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos, dashdash = append(pos, args[i+1:]...), true
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		value, known := fs.takesValue[name]
		if !known {
			names := []string{"help"}
			for n := range fs.takesValue {
				names = append(names, n)
			}
			return nil, fmt.Errorf("unknown flag %s%s", a, suggest(name, names, "--"))
		}
		flags = append(flags, a)
		if value && !hasValue && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	needDash := dashdash
	for _, p := range pos {
		needDash = needDash || (len(p) > 1 && p[0] == '-')
	}
	if needDash {
		flags = append(flags, "--")
	}
	return append(flags, pos...), nil
}

// suggest returns `; did you mean "X"?` for the candidate nearest to s,
// or "" when none is near.
func suggest(s string, candidates []string, prefix string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(s)/3) {
		return ""
	}
	return fmt.Sprintf("; did you mean %s%s?", prefix, best)
}

// editDistance is the edit distance of a and b (diag.EditDistance, which
// the mapping's suggestions use too).
func editDistance(a, b string) int { return diag.EditDistance(a, b) }

// Interrupts. The first SIGINT or SIGTERM cancels the context commands
// get from cmdContext; a command that never asked for it is ended at once
// (it has nothing to clean up), and a second signal ends any command.
var current atomic.Pointer[signals]

type signals struct {
	ctx     context.Context
	cancel  context.CancelFunc
	ch      chan os.Signal
	done    chan struct{}
	watched atomic.Bool // the command took cmdContext
	got     atomic.Bool
}

func watchSignals() *signals {
	s := &signals{ch: make(chan os.Signal, 2), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	current.Store(s)
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		for n := 0; ; n++ {
			select {
			case <-s.done:
				return
			case <-s.ch:
			}
			s.got.Store(true)
			s.cancel()
			if n > 0 || !s.watched.Load() {
				fmt.Fprintln(os.Stderr, "iisbridge: interrupted; rerun to resume")
				os.Exit(exitInterrupted)
			}
		}
	}()
	return s
}

func (s *signals) stop() {
	signal.Stop(s.ch)
	close(s.done)
	s.cancel()
	current.CompareAndSwap(s, nil)
}

func (s *signals) interrupted() bool { return s.got.Load() }

// cmdContext is the context a command should do its work under: it is
// cancelled by SIGINT or SIGTERM, after which the command returns promptly
// (leaving no partial output, or marking it) and the dispatcher exits 130.
// Outside the dispatcher (tests) it is never cancelled.
func cmdContext() context.Context {
	if s := current.Load(); s != nil {
		s.watched.Store(true)
		return s.ctx
	}
	return context.Background()
}

// stopRequested marks the signal just received as a normal stop (a
// server shutting down on SIGTERM once it is up), so the exit status is
// the command's own rather than 130.
func stopRequested() {
	if s := current.Load(); s != nil {
		s.got.Store(false)
	}
}
