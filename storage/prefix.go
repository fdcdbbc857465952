package storage

import (
	"context"
	"fmt"
	"time"
)

// deleteObjects is DeletePrefix for stores that delete object by object:
// incomplete uploads first (a Cleaner's, whatever their age), then every
// object listed under prefix. An empty prefix is refused: it would be the
// whole bucket.
func deleteObjects(ctx context.Context, kind string, st Store, prefix string) error {
	if err := checkPrefix(prefix); err != nil || prefix == "" {
		return fmt.Errorf("storage %s: refusing to delete prefix %q", kind, prefix)
	}
	if c, ok := st.(Cleaner); ok {
		if _, err := c.CleanIncomplete(ctx, prefix, time.Now().Add(time.Hour)); err != nil {
			return err
		}
	}
	var names []string
	if err := st.List(ctx, prefix, func(i Info) error { names = append(names, i.Name); return nil }); err != nil {
		return err
	}
	for _, n := range names {
		if err := st.Delete(ctx, n); err != nil {
			return err
		}
	}
	return nil
}
