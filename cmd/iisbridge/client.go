package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/iisbridge/iisbridge/bulkclient"
)

func init() {
	register(&command{
		Name:  "client export",
		Flags: func(fs *flag.FlagSet) { clientExportFlags(fs) },
		Usage: "--server BASE [--client-id ID --key KEY.pem] [--group ID | --patient-level | --system] " +
			"[--type T,...] [--since T] [--type-filter Q]... [--param NAME=VALUE]... [--out DIR] [--scope S] [--job STATUS_URL] [--keep-job] [--json] " +
			"[--kid KID] [--token-url URL] [--parallel N] [--timeout D]",
		Short: "a Bulk Data client for any server: SMART Backend Services token, $export, polling, resumable downloads checked against the manifest",
		Run:   runClientExport,
	})
	register(&command{
		Name:  "client keygen",
		Flags: func(fs *flag.FlagSet) { clientKeygenFlags(fs) },
		Usage: "--alg RS384|ES384 --out DIR",
		Short: "a client key pair: DIR/private.pem (PKCS#8, 0600) and DIR/jwks.json (the public JWK Set to register)",
		Run:   runClientKeygen,
	})
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runClientExport(args []string) int {
	ctx := cmdContext() // cancelled by SIGINT/SIGTERM (cli.go)
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	return clientExport(ctx, args, os.Stdout, os.Stderr, tty)
}

// clientExport is the command with its streams given: results on stdout,
// progress and problems on stderr. 0: everything arrived and checked; 1:
// something failed; 2: bad usage.
func clientExport(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("client export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, clientID, keyPath, kid, scope, tokenURL, group, patientLevel, system, types, since, typeFilters, params, out, parallel, keep, job, timeout, asJSON := clientExportFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "iisbridge client export: %s\n", msg)
		return 2
	}
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *server == "" {
		return usage("--server BASE is required")
	}
	level := bulkclient.Patient
	n := 0
	if *group != "" {
		level, n = bulkclient.Group, n+1
	}
	if *patientLevel {
		level, n = bulkclient.Patient, n+1
	}
	if *system {
		level, n = bulkclient.System, n+1
	}
	if n > 1 {
		return usage("--group, --patient-level and --system exclude each other")
	}
	if (*clientID == "") != (*keyPath == "") {
		return usage("--client-id and --key go together (neither: an open server)")
	}
	cfg := bulkclient.Config{
		Server: *server, Level: level, Group: *group, Since: *since, TypeFilters: *typeFilters,
		ClientID: *clientID, Scope: *scope, TokenURL: *tokenURL,
		OutDir: *out, Parallel: *parallel, KeepJob: *keep, StatusURL: *job,
	}
	for _, p := range *params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return usage(fmt.Sprintf("--param %q is not NAME=VALUE", p))
		}
		if cfg.Params == nil {
			cfg.Params = url.Values{}
		}
		cfg.Params.Add(k, v)
	}
	if *types != "" {
		for _, t := range strings.Split(*types, ",") {
			if t = strings.TrimSpace(t); t != "" {
				cfg.Types = append(cfg.Types, t)
			}
		}
	}
	if cfg.OutDir == "" {
		cfg.OutDir = "bulk-export-" + time.Now().UTC().Format("20060102T150405Z")
	}
	if *keyPath != "" {
		k, err := bulkclient.LoadKey(*keyPath, *kid)
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge client export: %v\n", err)
			return 2
		}
		cfg.Key = k
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	var prog interface {
		bulkclient.Progress
		close()
	}
	if tty {
		prog = newBarProgress(stderr)
	} else {
		prog = newLineProgress(stderr, 5*time.Second)
	}
	cfg.Progress = prog
	sum, err := bulkclient.Export(ctx, cfg)
	prog.close()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(sum)
	} else {
		printSummary(stdout, cfg.OutDir, &sum)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("interrupted (%w)", err)
		}
		fmt.Fprintf(stderr, "iisbridge client export: %v\n", err)
		if sum.StatusURL != "" && !sum.JobDeleted {
			fmt.Fprintf(stderr, "continue the job with: iisbridge client export --server %s --job %s --out NEW_DIR (and the same --client-id/--key)\n", *server, sum.StatusURL)
		}
		return 1
	}
	return 0
}

// printSummary writes what arrived: one line per file, totals per type.
func printSummary(w io.Writer, dir string, s *bulkclient.Summary) {
	if s.TransactionTime != "" {
		fmt.Fprintf(w, "transactionTime %s (the --since of the next incremental export)\n", s.TransactionTime)
	}
	for _, f := range s.Files {
		count := "no count"
		if f.Count != nil {
			count = fmt.Sprintf("count %d", *f.Count)
		}
		state := "ok"
		if f.Err != "" {
			state = "FAILED: " + f.Err
		}
		if f.Resumes > 0 {
			state += fmt.Sprintf(" (resumed %d×)", f.Resumes)
		}
		fmt.Fprintf(w, "%-7s %-18s %9d lines  %-15s %s  %s\n", f.Kind, f.Type, f.Lines, count, f.Path, state)
	}
	res := s.Resources()
	types := make([]string, 0, len(res))
	for t := range res {
		types = append(types, t)
	}
	sort.Strings(types)
	var parts []string
	for _, t := range types {
		parts = append(parts, fmt.Sprintf("%s=%d", t, res[t]))
	}
	if len(s.Files) > 0 || s.TransactionTime != "" {
		fmt.Fprintf(w, "%d files in %s: %s; %d failed; %.1fs\n", len(s.Files), dir, strings.Join(parts, " "), len(s.Failed()), s.ElapsedSeconds)
	}
	switch {
	case s.JobDeleted:
		fmt.Fprintln(w, "job deleted on the server")
	case s.StatusURL != "":
		fmt.Fprintf(w, "job kept on the server: %s\n", s.StatusURL)
	}
}

func runClientKeygen(args []string) int { return clientKeygen(args, os.Stdout, os.Stderr) }

func clientKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("client keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alg, out := clientKeygenFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *alg == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: iisbridge client keygen --alg RS384|ES384 --out DIR")
		return 2
	}
	k, err := bulkclient.GenerateKey(strings.ToUpper(*alg))
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge client keygen: %v\n", err)
		return 2
	}
	priv, jwks, err := bulkclient.WriteKeyFiles(k, *out)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge client keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "private key %s (keep it secret)\npublic JWK Set %s (register it with the server)\nkid %s, alg %s\n", priv, jwks, k.KID, k.Alg)
	return 0
}

// clientExportFlags defines the flags of `iisbridge client export` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func clientExportFlags(fs *flag.FlagSet) (server, clientID, keyPath, kid, scope, tokenURL, group *string, patientLevel, system *bool, types, since *string, typeFilters, params *stringList, out *string, parallel *int, keep *bool, job *string, timeout *time.Duration, asJSON *bool) {
	server = fs.String("server", "", "FHIR base URL of the Bulk Data server")
	clientID = fs.String("client-id", "", "registered client_id (with --key; without both, no token is sent)")
	keyPath = fs.String("key", "", "private key: PEM (PKCS#8, PKCS#1, SEC1) or JWK")
	kid = fs.String("kid", "", "key id to send (default: the JWK's kid, else the RFC 7638 thumbprint, as keygen registers it)")
	scope = fs.String("scope", "", "scopes to request (default: system/T.rs per --type, plus Group at Group level, else system/*.rs; .read when the server lists no permission-v2)")
	tokenURL = fs.String("token-url", "", "token endpoint (default: from BASE/.well-known/smart-configuration)")
	group = fs.String("group", "", "export the Group with this id (Group/[id]/$export)")
	patientLevel = fs.Bool("patient-level", false, "export all patients (Patient/$export; the default)")
	system = fs.Bool("system", false, "export everything (system $export)")
	types = fs.String("type", "", "_type: comma-separated resource types")
	since = fs.String("since", "", "_since: a FHIR instant, e.g. the transactionTime of the previous export")
	typeFilters = new(stringList)
	fs.Var(typeFilters, "type-filter", "_typeFilter, Type?search (repeatable)")
	params = new(stringList)
	fs.Var(params, "param", "any other kick-off parameter as NAME=VALUE, e.g. _until=... or _elements=... (repeatable)")
	out = fs.String("out", "", "directory for the files, new or empty (default bulk-export-<UTC time>)")
	parallel = fs.Int("parallel", 4, "concurrent downloads")
	keep = fs.Bool("keep-job", false, "do not DELETE the job on the server after the download")
	job = fs.String("job", "", "continue an existing job from its status URL instead of starting one")
	timeout = fs.Duration("timeout", 0, "give up after this long (0: never)")
	asJSON = fs.Bool("json", false, "print the summary as JSON")
	return
}

// clientKeygenFlags defines the flags of `iisbridge client keygen` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func clientKeygenFlags(fs *flag.FlagSet) (alg, out *string) {
	alg = fs.String("alg", "", "RS384 (RSA 3072) or ES384 (P-384)")
	out = fs.String("out", "", "directory for private.pem and jwks.json")
	return
}
