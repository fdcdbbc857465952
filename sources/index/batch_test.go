package index

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// Records are written msgBatch to an INSERT, and a first load's new
// identity keys keyBatch to one: whatever the batch and transaction
// boundaries (a full last batch, a partial one, a transaction of fewer
// records than a batch, one not a multiple of it, an input's end, keys
// written as they come once the cache lost some), every table holds
// what writing them one by one leaves, queries' demographics (asked)
// under their own message's id included.
func TestBatchedInsertsAsOneByOne(t *testing.T) {
	dir := t.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 3, Messages: 1000, UnansweredQueries: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dump := func(batchSize, perInsert, cacheSize int) (string, UpdateStats) {
		t.Helper()
		x, err := open(t.TempDir(), Options{BatchSize: batchSize, CacheSize: cacheSize, Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		x.msgBatch = perInsert
		st, err := x.Update(context.Background(), paths)
		if err != nil {
			t.Fatal(err)
		}
		st.Elapsed = 0
		return dumpTables(t, x.db), st
	}
	// A cache of one key loses keys from the third on: they are written
	// one by one, as they come.
	want, wantSt := dump(10000, 1, 1)
	if !strings.Contains(want, "asked:") || wantSt.Messages != sum.Messages {
		t.Fatalf("the reference holds no query demographics or not every record: %+v", wantSt)
	}
	for _, c := range []struct{ batchSize, cacheSize int }{
		{1, 0}, {5, 0}, {msgBatch, 0}, {msgBatch + 1, 0}, {3*msgBatch - 1, 0}, {10000, 0},
		// Keys batched until the cache loses some in the middle of the load.
		{10000, 200}, {3*msgBatch - 1, 200},
	} {
		got, st := dump(c.batchSize, msgBatch, c.cacheSize)
		if got != want {
			t.Errorf("%+v: tables differ from the one-by-one writes:\n%s", c, firstDiff(got, want))
		}
		if st != wantSt {
			t.Errorf("%+v: stats %+v, one by one %+v", c, st, wantSt)
		}
	}
}

// dumpTables prints every row of the index's tables in order.
func dumpTables(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT 'messages:', * FROM messages ORDER BY id`,
		`SELECT 'asked:', * FROM asked ORDER BY msg`,
		`SELECT 'keys:', * FROM keys ORDER BY id`,
		`SELECT 'counts:', * FROM counts ORDER BY kind`,
		`SELECT 'senders:', * FROM senders ORDER BY 2, 3`,
		`SELECT 'patients:', * FROM patients ORDER BY pid`,
		`SELECT 'ledger:', * FROM ledger ORDER BY 2, 3, 4`,
		// (not the cursor: a file's holds when it was checked)
		`SELECT 'inputs:', id, source_id, name FROM inputs ORDER BY id`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%v\n", vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}
