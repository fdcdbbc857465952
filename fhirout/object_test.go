package fhirout

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestObjectOrderAndSet(t *testing.T) {
	o := NewResource("Patient")
	o.Set("id", "p1")
	o.Set("active", true)
	o.Set("gender", "female")
	o.Set("id", "p2") // replace keeps position
	if got, want := o.Keys(), []string{"resourceType", "id", "active", "gender"}; !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if o.ID() != "p2" || o.ResourceType() != "Patient" || o.Len() != 4 {
		t.Fatalf("ID %q type %q len %d", o.ID(), o.ResourceType(), o.Len())
	}
	o.Delete("active")
	o.Delete("missing")
	if got := o.String(); got != `{"resourceType":"Patient","id":"p2","gender":"female"}` {
		t.Fatalf("got %s", got)
	}
	if _, ok := o.Get("active"); ok {
		t.Fatal("deleted key still present")
	}
	keys := o.Keys()
	keys[0] = "mutated"
	if o.ResourceType() != "Patient" {
		t.Fatal("Keys returned the internal slice")
	}
	var seen []string
	for k := range o.All() {
		seen = append(seen, k)
	}
	if !slices.Equal(seen, []string{"resourceType", "id", "gender"}) {
		t.Fatalf("All yielded %v", seen)
	}
}

func TestChildElemAppend(t *testing.T) {
	o := NewResource("Immunization")
	o.Child("vaccineCode").Elem("coding", 1).Set("code", "08")
	o.Child("vaccineCode").Elem("coding", 0).Set("code", "45")
	o.Child("vaccineCode").Set("text", "Hep B")
	o.Append("identifier", "x")
	o.Append("identifier", Number("1.50"))
	o.Elem("performer", 0).Child("actor").Set("reference", "Practitioner/1")
	want := `{"resourceType":"Immunization","vaccineCode":{"coding":[{"code":"45"},{"code":"08"}],"text":"Hep B"},"identifier":["x",1.50],"performer":[{"actor":{"reference":"Practitioner/1"}}]}`
	if got := o.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// A scalar in the way is replaced, not panicked on.
	o.Set("note", "text")
	o.Elem("note", 0).Set("text", "n")
	o.Set("status", "completed")
	o.Child("status").Set("x", "y")
	if got := o.String(); !strings.Contains(got, `"note":[{"text":"n"}]`) || !strings.Contains(got, `"status":{"x":"y"}`) {
		t.Fatalf("got %s", got)
	}
}

func TestClone(t *testing.T) {
	o := NewResource("Patient")
	o.Elem("name", 0).Append("given", "A")
	c := o.Clone()
	c.Elem("name", 0).Append("given", "B")
	c.Set("id", "x")
	if got := o.String(); got != `{"resourceType":"Patient","name":[{"given":["A"]}]}` {
		t.Fatalf("original changed by clone edit: %s", got)
	}
	if got := c.String(); got != `{"resourceType":"Patient","name":[{"given":["A","B"]}],"id":"x"}` {
		t.Fatalf("clone: %s", got)
	}
}

func TestPrune(t *testing.T) {
	o, err := ParseObject([]byte(`{"resourceType":"Patient","id":"","meta":{"tag":[{}, {"code":""}]},
		"name":[{"family":"","given":["","A",""]},{}],"gender":"male","address":[],"x":null,
		"extension":[{"url":"u","valueString":""}],"given":["a",null],"_given":[null,{"id":"e"}],"all":[null,{}]}`))
	if err != nil {
		t.Fatal(err)
	}
	o.Set("n", Number(""))
	o.Set("o", NewObject())
	o.Prune()
	want := `{"resourceType":"Patient","name":[{"given":["A"]}],"gender":"male","extension":[{"url":"u"}],"given":["a",null],"_given":[null,{"id":"e"}]}`
	if got := o.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAppendJSONEscaping(t *testing.T) {
	in := "q\" b\\ n\n r\r t\t \b\f \x01\x1f \x7f <>& é 漢 \u2028\u2029 bad\xff\xfeend 😀"
	o := NewObject()
	o.Set("s", in)
	got := o.AppendJSON(nil)
	want := `{"s":"q\" b\\ n\n r\r t\t \b\f \u0001\u001f ` + "\x7f" + ` <>& é 漢 \u2028\u2029 bad\ufffd\ufffdend 😀"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !utf8.Valid(got) || !json.Valid(got) {
		t.Fatal("output is not valid UTF-8 JSON")
	}
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if w := strings.Replace(in, "\xff\xfe", "\ufffd\ufffd", 1); back["s"] != w {
		t.Fatalf("round trip: %q", back["s"])
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	// Every string of every byte value 0..255 (single and paired with
	// a multibyte rune) must decode back to what encoding/json decodes.
	for c := 0; c < 256; c++ {
		for _, s := range []string{string(rune(c)), string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "é"} {
			o := NewObject()
			o.Set("k", s)
			b := o.AppendJSON(nil)
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%q: %s: %v", s, b, err)
			}
			if want := strings.ToValidUTF8(s, "\ufffd"); m["k"] != want {
				t.Fatalf("%q round-trips to %q", s, m["k"])
			}
		}
	}
}

func TestValueTypes(t *testing.T) {
	o := NewObject()
	o.Set("b", false)
	o.Set("n", Number("-0.50"))
	o.Set("i", 7)
	o.Set("l", int64(1)<<40)
	o.Set("ss", []string{"a", "b"})
	o.Set("os", []*Object{NewResource("X")})
	o.Set("null", nil)
	o.Set("f", 1.5) // other types go through encoding/json
	want := `{"b":false,"n":-0.50,"i":7,"l":1099511627776,"ss":["a","b"],"os":[{"resourceType":"X"}],"null":null,"f":1.5}`
	if got := o.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	b, err := json.Marshal(map[string]any{"r": o})
	if err != nil || string(b) != `{"r":`+want+`}` {
		t.Fatalf("MarshalJSON via encoding/json: %s %v", b, err)
	}
}

func TestParseObjectRoundTrip(t *testing.T) {
	in := `{"resourceType":"Immunization","z":1,"a":{"y":[1,2.50,{"q":true}],"b":null},"doseQuantity":{"value":0.50,"unit":"mL"},"s":"\u00e9\n"}`
	o, err := ParseObject([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := o.String(); got != `{"resourceType":"Immunization","z":1,"a":{"y":[1,2.50,{"q":true}],"b":null},"doseQuantity":{"value":0.50,"unit":"mL"},"s":"é\n"}` {
		t.Fatalf("round trip: %s", got)
	}
	v, _ := o.Child("doseQuantity").Get("value")
	if v != Number("0.50") {
		t.Fatalf("decimal precision lost: %#v", v)
	}
}

func TestParseObjectErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{"a":1} {"b":2}`, `{"a":}`, `{"a":1`, `{"a":[1,}`, `{1:2}`} {
		if o, err := ParseObject([]byte(in)); err == nil {
			t.Errorf("ParseObject(%q) = %v, want error", in, o)
		}
	}
	o, err := ParseObject([]byte(`{"a":1,"a":2}`))
	if err != nil || o.String() != `{"a":2}` {
		t.Errorf("duplicate key: %v %v", o, err)
	}
}

func TestElemNegativePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Elem(-1) did not panic")
		}
	}()
	NewObject().Elem("a", -1)
}

func TestReflectDeepEqualAfterClone(t *testing.T) {
	o := sampleImmunization()
	if c := o.Clone(); !reflect.DeepEqual(o, c) || c == o {
		t.Fatal("clone differs")
	}
}

func TestNumberValidity(t *testing.T) {
	for _, ok := range []string{"0", "-0", "1", "0.50", "-12.5e-3", "1E10", "123456789012345678901234567890"} {
		if !validNumber(ok) {
			t.Errorf("validNumber(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "NaN", "1,5", "0x10", "1 "} {
		if validNumber(bad) {
			t.Errorf("validNumber(%q) = true", bad)
		}
	}
	o := NewObject()
	o.Set("a", Number("1,5"))
	o.Set("b", Number(""))
	o.Set("c", Number("2.50"))
	if got := o.String(); got != `{"a":"1,5","b":null,"c":2.50}` {
		t.Fatalf("bad numbers must keep the JSON valid: %s", got)
	}
}

// Keys of the same length share a bit of Object.keys: look-ups still
// compare the keys. The bits are those of the keys left after Delete.
func TestObjectKeyBits(t *testing.T) {
	o := NewObject()
	o.Set("code", "a")
	o.Set("text", "b")
	o.Set("", "e")
	o.Delete("code")
	if _, ok := o.Get("code"); ok {
		t.Error("deleted key found")
	}
	if v, _ := o.Get("text"); v != "b" {
		t.Errorf("text = %v", v)
	}
	if v, _ := o.Get(""); v != "e" {
		t.Errorf(`"" = %v`, v)
	}
	if _, ok := o.Get("system"); ok {
		t.Error("absent key found")
	}
	o.Set("code", "c")
	o.Set("text", "d")
	if got := o.String(); got != `{"text":"d","":"e","code":"c"}` {
		t.Errorf("o = %s", got)
	}
	if c := o.Clone(); !reflect.DeepEqual(c, o) || c.keys != o.keys {
		t.Errorf("clone = %s", c)
	}
	o.Delete("")
	o.Set("x", "")
	o.Prune()
	if want := keyBit("text") | keyBit("code"); o.keys != want {
		t.Errorf("keys = %b, want %b", o.keys, want)
	}
}
