package doctest

import "testing"

const doc = "# T\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\nafter\n\n1. step\n   ```yaml\n   k: v\n     n: 1\n   ```\n```sh\nx\n```\n```yaml\nz: 1\n```\n"

func TestTable(t *testing.T) {
	if got, want := Table(t, doc, "| a | b |"), "| a | b |\n| --- | --- |\n| 1 | 2 |\n"; got != want {
		t.Errorf("Table = %q, want %q", got, want)
	}
}

func TestBlocks(t *testing.T) {
	got := Blocks(doc, "yaml")
	want := []Block{{Text: "k: v\n  n: 1", Line: 10}, {Text: "z: 1", Line: 17}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Blocks = %+v, want %+v", got, want)
	}
}
