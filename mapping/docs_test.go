package mapping

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeReference keeps README.md's reference section equal to what
// the registries generate (regenerate with `iisbridge mapping docs`).
func TestReadmeReference(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, DocsBegin), strings.Index(s, DocsEnd)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the generated reference markers")
	}
	if got := strings.TrimSpace(s[i+len(DocsBegin) : j]); got != strings.TrimSpace(Docs()) {
		t.Errorf("README.md reference is stale: regenerate it from `iisbridge mapping docs`")
	}
	for _, f := range Funcs() {
		if f.Doc == "" || f.Params == "" && f.MinArgs > 0 {
			t.Errorf("function %s lacks doc or params", f.Name)
		}
	}
}
