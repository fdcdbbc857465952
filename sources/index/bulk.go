package index

import (
	"context"
	"fmt"
	"regexp"
)

// An Update into an index that holds nothing yet (convert's temporary
// index, the first indexing of an archive) stores its records without
// the lookup indexes and builds them once, from the finished tables,
// before finish needs them: SQLite sorts a table's keys into an index in
// a fraction of what keeping it up row by row costs. Open (the schema) and
// any Update that reads records build what a stopped load left missing. A snapshot taken between the
// first load's batches (a server whose archive was empty at start) reads
// the batches committed so far without the lookups: slower, same answers.

// lookupIndexNames are the names lookupIndexes creates.
var lookupIndexNames = func() []string {
	var names []string
	for _, m := range regexp.MustCompile(`CREATE INDEX IF NOT EXISTS (\w+)`).FindAllStringSubmatch(lookupIndexes, -1) {
		names = append(names, m[1])
	}
	return names
}()

// prepareLoad drops the lookup indexes when the index holds no record and
// never held a person (bulk: build them with buildLookups after the load)
// and builds any that are missing otherwise. Once a Patient is gone,
// Walk's query names keys_root_pid, which must then exist.
func (x *Index) prepareLoad(ctx context.Context) (bulk bool, err error) {
	err = x.db.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT 1 FROM messages) AND NOT EXISTS (SELECT 1 FROM patients)`).Scan(&bulk)
	if err != nil {
		return false, fmt.Errorf("index: %w", err)
	}
	if !bulk {
		return false, x.buildLookups(ctx)
	}
	for _, n := range lookupIndexNames {
		if _, err := x.db.ExecContext(ctx, `DROP INDEX IF EXISTS `+n); err != nil {
			return false, fmt.Errorf("index: drop %s for the first load: %w", n, err)
		}
	}
	return true, nil
}

// buildLookups creates the lookup indexes that are missing.
func (x *Index) buildLookups(ctx context.Context) error {
	if _, err := x.db.ExecContext(ctx, lookupIndexes); err != nil {
		return fmt.Errorf("index: build lookup indexes: %w", err)
	}
	return nil
}
