package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
)

// sqlFlags are the flags naming a relational source for mapping check
// and mapping preview: a source description (sources/sql: tables, keys,
// driver, dsn), or a DSN for the default schema's description.
type sqlFlags struct {
	source, dsn, driver *string
}

func addSQLFlags(fs *flag.FlagSet) sqlFlags {
	return sqlFlags{
		source: fs.String("source", "", "relational source description `file` (sources/sql/default.yaml's form, with driver and dsn)"),
		dsn:    fs.String("dsn", "", "`DSN` of a database in the default legacy schema (${NAME} read from the environment)"),
		driver: fs.String("driver", "", "driver for --dsn: sqlite, mysql, pgx, sqlserver (default: from the DSN)"),
	}
}

func (f sqlFlags) set() bool { return *f.source != "" || *f.dsn != "" }

// open opens the source the flags name. Errors hold no DSN secret.
func (f sqlFlags) open() (*sqlsrc.Reader, error) {
	if *f.source != "" && *f.dsn != "" {
		return nil, errors.New("give --source or --dsn, not both")
	}
	var cfg *sqlsrc.Config
	if *f.source != "" {
		var err error
		if cfg, err = sqlsrc.LoadConfig(*f.source); err != nil {
			return nil, err
		}
		if *f.driver != "" {
			cfg.Driver = *f.driver
		}
	} else {
		cfg = sqlsrc.DefaultConfig()
		cfg.Driver, cfg.DSN = *f.driver, *f.dsn
	}
	if cfg.DSN == "" {
		return nil, fmt.Errorf("source %s: no dsn (give dsn: in the description or --dsn)", cfg.Source)
	}
	return sqlsrc.Open(cfg)
}

// sqlMappingFile is the mapping file, or the shipped relational one.
func sqlMappingFile(path string, stderr io.Writer) (*mapping.Mapping, bool) {
	if path == "" {
		return mapping.DefaultSQL(), true
	}
	return loadAnyMapping(path, stderr)
}

// mappingCheckSQL checks the description against the database, then the
// mapping's tables and columns against the description and the database.
func mappingCheckSQL(m *mapping.Mapping, f sqlFlags, stdout, stderr io.Writer) int {
	r, err := f.open()
	if err != nil {
		var dl *diag.List
		if errors.As(err, &dl) {
			printProblems(stdout, dl.Problems)
			fmt.Fprintf(stderr, "%d problem(s) in the source description\n", len(dl.Problems))
			return 1
		}
		fmt.Fprintf(stderr, "iisbridge mapping check: %v\n", err)
		return 1
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Ping(ctx); err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping check: %v\n", err)
		return 1
	}
	var ps []diag.Problem
	if err := r.Check(ctx); err != nil {
		var dl *diag.List
		if !errors.As(err, &dl) {
			fmt.Fprintf(stderr, "iisbridge mapping check: %v\n", err)
			return 1
		}
		ps = append(ps, dl.Problems...)
	}
	ps = append(ps, r.CheckMapping(ctx, m)...)
	if len(ps) > 0 {
		printProblems(stdout, ps)
		fmt.Fprintf(stderr, "%d problem(s)\n", len(ps))
		return 1
	}
	res, rules := m.Stats()
	cols := 0
	for _, t := range m.SQLTables() {
		cols += len(t.Columns)
	}
	fmt.Fprintf(stdout, "ok: %d resources, %d rules; %d tables, %d columns found in the database\n", res, rules, len(m.SQLTables()), cols)
	return 0
}

// mappingPreviewSQL maps one person of a relational source, by key.
func mappingPreviewSQL(m *mapping.Mapping, f sqlFlags, key string, opt previewOptions, stdout, stderr io.Writer) int {
	if !m.PersonMapping() {
		fmt.Fprintf(stderr, "iisbridge mapping preview: %s does not map persons of a relational source (source: sql with tables under columns:)\n", m.File())
		return 1
	}
	r, err := f.open()
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping preview: %v\n", err)
		return 1
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec, err := r.Person(ctx, key)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping preview: %v\n", err)
		return 1
	}
	if rec == nil {
		fmt.Fprintf(stderr, "iisbridge mapping preview: no person with key %s\n", key)
		return 1
	}
	fmt.Fprintf(stdout, "Person %s of source %s", rec.Key, rec.Source)
	for _, t := range m.SQLTables() {
		if n := len(rec.Children[t.Name]); n > 0 {
			fmt.Fprintf(stdout, ", %d %s", n, t.Name)
		}
	}
	fmt.Fprintln(stdout)
	switch {
	case rec.Deleted:
		fmt.Fprintln(stdout, "the person row is soft-deleted: an export reports this Patient deleted")
	case rec.MergedInto != "":
		fmt.Fprintf(stdout, "merged into person %s: an export reports this Patient deleted\n", rec.MergedInto)
	}
	for _, p := range rec.Problems {
		fmt.Fprintf(stdout, "bad value: %s\n", p)
	}
	out := m.Apply(mapping.Input{Person: rec, Loc: sources.Location{Source: rec.Source, ControlID: rec.Key}, LastUpdated: rec.Modified}, true)
	opt.rules = newRuleText(m)
	printPreview(stdout, out, "this person", opt)
	return 0
}
