package fhirout

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzRoundTrip: whatever ParseObject accepts, AppendJSON writes back as
// valid JSON that encoding/json reads as the same value, and a second
// round trip is byte-identical.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"resourceType":"Patient","name":[{"given":["A","B"]}],"active":true,"x":null}`,
		`{"s":"\u2028\ud800x\"\\\n\u0000"}`, `{"n":-1.50e+3,"z":[[],{}]}`, `{"a":1,"a":2}`,
		"{\"bad\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseObject(data)
		if err != nil {
			return
		}
		out := o.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out of %q: %s", data, out)
		}
		if bytes.IndexByte(out, '\n') >= 0 { // DirWriter.Write relies on it
			t.Fatalf("a newline out of %q: %s", data, out)
		}
		var a, b any
		if err := json.Unmarshal(data, &a); err != nil {
			return // ParseObject is laxer on invalid UTF-8 only
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the value:\nin  %s\nout %s", data, out)
		}
		o2, err := ParseObject(out)
		if err != nil {
			t.Fatalf("cannot reparse own output %s: %v", out, err)
		}
		if out2 := o2.AppendJSON(nil); string(out2) != string(out) {
			t.Fatalf("second round trip differs:\n%s\n%s", out, out2)
		}
	})
}
