package match

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLStorePutDelete: Put replaces a person with its blocking keys
// (found under the new ones only), Delete removes it.
func TestSQLStorePutDelete(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := OpenSQLStore(filepath.Join(t.TempDir(), "c.db"), m)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := Record{ID: "p1", Given: "Ana", Family: "Lopez", BirthDate: "2019-03-04", Sex: "female", Phone: "3125550101"}
	if err := s.Put(ctx, []Record{a, {ID: "p2", Given: "Bo", Family: "Kim", BirthDate: "2018-01-01"}}); err != nil {
		t.Fatal(err)
	}
	find := func(key string) []string {
		ids, _, err := s.Lookup(ctx, key, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := find("T|3125550101"); len(ids) != 1 || ids[0] != "p1" {
		t.Fatalf("by phone: %v", ids)
	}
	a.Phone, a.BirthDate = "3125550199", "2019-03-05"
	if err := s.Put(ctx, []Record{a}); err != nil {
		t.Fatal(err)
	}
	if ids := find("T|3125550101"); len(ids) != 0 {
		t.Fatalf("old phone still finds %v", ids)
	}
	if ids := find("T|3125550199"); len(ids) != 1 {
		t.Fatalf("new phone: %v", ids)
	}
	if r, ok, _ := s.Person(ctx, "p1"); !ok || r.BirthDate != "2019-03-05" {
		t.Fatalf("p1 = %+v %v", r, ok)
	}
	if err := s.Delete(ctx, []string{"p1", "nobody"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Person(ctx, "p1"); ok || len(find("T|3125550199")) != 0 {
		t.Fatal("p1 still there")
	}
	if n, _ := s.Len(ctx); n != 1 {
		t.Fatalf("Len %d", n)
	}
}
