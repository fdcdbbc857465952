package storage

import (
	"context"
	"strings"
	"time"
)

// Sweep removes what an interrupted server left in a store, for start-up:
// incomplete uploads begun before olderThan (where the store can see them)
// and the objects of every job that live does not know, modified before
// olderThan. It reports how many uploads and objects it removed.
func Sweep(ctx context.Context, st Store, olderThan time.Time, live func(job string) bool) (int, error) {
	n := 0
	if c, ok := st.(Cleaner); ok {
		k, err := c.CleanIncomplete(ctx, "", olderThan)
		n += k
		if err != nil {
			return n, err
		}
	}
	var orphans []string
	err := st.List(ctx, "", func(i Info) error {
		job, _, ok := strings.Cut(i.Name, "/")
		if ok && !live(job) && i.ModTime.Before(olderThan) {
			orphans = append(orphans, i.Name)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	for _, name := range orphans {
		if err := st.Delete(ctx, name); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
