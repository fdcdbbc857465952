package pipeline

import (
	"os/exec"
	"strings"
	"testing"
)

// The pipeline knows sources only through the sources.Source contract:
// no input adapter is among its dependencies (cmd wires v2archive in).
func TestNoSourceAdapterDependency(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found: cannot list dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".", "../sources/index").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/iisbridge/iisbridge/sources/v2archive" {
			t.Errorf("pipeline or index depends on %s", dep)
		}
	}
}
