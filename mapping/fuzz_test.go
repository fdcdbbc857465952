package mapping

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// FuzzApply feeds the default mapping mutated messages: Apply must not
// fail (a panic would come back as an "exception" issue) and every
// resource must encode.
func FuzzApply(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	m := Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := hl7v2.Parse(data)
		if err != nil {
			return
		}
		out := m.Apply(Input{Msg: msg}, true)
		for _, is := range out.Issues {
			if is.Code == "exception" {
				t.Fatalf("Apply failed: %s", is.Diagnostics)
			}
		}
		for _, r := range out.Resources {
			if r.ID() == "" || len(r.AppendJSON(nil)) == 0 {
				t.Fatalf("resource without id or JSON")
			}
		}
	})
}
