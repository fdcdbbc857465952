package mapdiff

import (
	"context"
	"testing"

	"github.com/iisbridge/iisbridge/mapping"
)

// BenchmarkCompare: one message mapped by both mappings and compared
// (the per-message cost of mapping diff and of the admin page's diff).
func BenchmarkCompare(b *testing.B) {
	recs, _, err := Sample(context.Background(), archives, 100, 1)
	if err != nil {
		b.Fatal(err)
	}
	d := draft(b, `{target: display, value: 'table("cvx", $cvx, "display")'}`, `{target: display, const: Changed}`)
	base := mapping.Default()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Compare(base, d, recs[i%len(recs):i%len(recs)+1])
	}
}
