package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkGroupMemberPage renders one page (1000 members) from the middle
// of a Group of 200,000 members, as GET Group/[id]?_cursor= does: the
// cost of paging a large Group (keyset read plus the active count).
func BenchmarkGroupMemberPage(b *testing.B) {
	members := make([]string, 200000)
	for i := range members {
		members[i] = fmt.Sprintf("p%07d", i)
	}
	s, err := New(Options{Exporter: &fakeExporter{}, DataDir: b.TempDir(), BaseURL: "http://127.0.0.1:1/fhir",
		StaticGroups: []StaticGroup{{ID: "big", Name: "Big", Members: members}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx := context.Background()
	g, err := s.store.group(ctx, "big")
	if err != nil || g == nil {
		b.Fatal(g, err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o, next, err := s.groupResource(ctx, *g, memberPage{after: "p0100000", count: maxMemberPage})
		if err != nil || next != "p0101000" {
			b.Fatal(next, err)
		}
		if len(o.AppendJSON(nil)) < 40000 {
			b.Fatal("short page")
		}
	}
}
