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

// TestReadmeExample compiles the example mapping of README.md.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```yaml\n")
	if i < 0 {
		t.Fatal("README.md has no yaml example")
	}
	s = s[i+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	m, err := Parse([]byte(s), "README.md example", os.DirFS("defaults"), ".")
	if err != nil {
		t.Fatal(err)
	}
	out := m.Apply(Input{Msg: readMsg(t, "vxu_full.hl7")}, false)
	if len(out.Resources) != 3 {
		t.Errorf("README example gives %d resources, want 3", len(out.Resources))
	}
}

// TestDocsShowChoices: `mapping docs` shows the default mapping's choices,
// the refusal statusReason read from the mapping itself.
func TestDocsShowChoices(t *testing.T) {
	d := Docs()
	v, ok := Default().Constant("refusal_default_reason")
	if !ok || v == "" {
		t.Fatal("default mapping lacks constant refusal_default_reason")
	}
	for _, s := range []string{"### Choices of the default mapping", "RXA-20 `RE` (refusal) with RXA-18 empty", "statusReason v3-ActReason `" + v + "`"} {
		if !strings.Contains(d, s) {
			t.Errorf("docs lack %q", s)
		}
	}
}
