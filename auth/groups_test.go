package auth_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestGroupScopes: client-managed Groups over real tokens. Writing needs
// system/Group.cud (granted only when registered); a client bound to a
// Group builds its own Groups from that Group's members only; another
// client neither sees nor changes them.
func TestGroupScopes(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(fmt.Sprintf("    - client_id: district\n      jwks: %s\n      scopes: [system/Group.rs, system/Group.cud, system/Patient.rs]\n      groups: [riverside]\n",
		publicJWKS(t, jose.JSONWebKey{Key: &e.clinicKey.PublicKey, KeyID: "c1"})))
	if err := e.reload(); err != nil {
		t.Fatal(err)
	}
	districtToken := func(scope string) (int, map[string]any) {
		resp, m := e.postToken(tokenForm(sign(t, jose.ES384, e.clinicKey, "c1", e.claims("district"), nil), scope))
		return resp.StatusCode, m
	}
	code, m := districtToken("system/Group.rs system/Group.cud system/Patient.rs")
	if code != 200 || m["scope"] != "system/Group.rs system/Group.cud system/Patient.rs" {
		t.Fatalf("token: %d %v", code, m)
	}
	writer := m["access_token"].(string)
	_, m = districtToken("system/Group.rs")
	reader := m["access_token"].(string)
	if resp, m := e.postToken(tokenForm(e.assertion("clinic"), "system/Group.cud")); resp.StatusCode != 400 || m["error"] != "invalid_scope" {
		t.Errorf("clinic (registered read only) asking for Group.cud: %d %v", resp.StatusCode, m)
	}
	clinic := e.token("clinic", "system/*.rs")

	send := func(method, path, tok, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	group := func(ids ...string) string {
		var ms []string
		for _, id := range ids {
			ms = append(ms, `{"entity":{"reference":"Patient/`+id+`"}}`)
		}
		return `{"resourceType":"Group","type":"person","actual":true,"name":"K-2026","member":[` + strings.Join(ms, ",") + `]}`
	}
	if code, b := send("POST", "/Group", reader, group("p1")); code != 403 || !strings.Contains(b, "system/Group.c") {
		t.Errorf("create with Group.rs only: %d %s", code, b)
	}
	if code, b := send("POST", "/Group", clinic, group("p1")); code != 403 {
		t.Errorf("create by a client with read scopes only: %d %s", code, b)
	}
	if code, b := send("POST", "/Group", writer, group("p1", "p3")); code != 422 {
		t.Errorf("create with a Patient outside the client's Groups: %d %s", code, b)
	}
	code, b := send("POST", "/Group", writer, group("p1", "p2"))
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	id := b[strings.Index(b, `"id":"`)+6:]
	id = id[:strings.Index(id, `"`)]
	if code, b := send("GET", "/Group/"+id, reader, ""); code != 200 || !strings.Contains(b, `"quantity":2`) {
		t.Errorf("read by its client: %d %s", code, b)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/Group/" + id, ""},
		{"DELETE", "/Group/" + id, ""},
		{"POST", "/Group/" + id + "/$member-remove", `{"resourceType":"Parameters","parameter":[{"name":"patientReference","valueReference":{"reference":"Patient/p1"}}]}`},
	} {
		if code, b := send(c.method, c.path, clinic, c.body); code != 404 && code != 403 {
			t.Errorf("clinic %s %s: %d %s", c.method, c.path, code, b)
		}
	}
	if resp, b := e.do("GET", e.base+"/Group/"+id+"/$export", clinic, kick...); resp.StatusCode != 404 {
		t.Errorf("clinic exporting the district's Group: %d %s", resp.StatusCode, b)
	}
	_, man := e.export(writer, "/Group/"+id+"/$export?_type=Patient")
	if len(man.Output) != 1 || man.Output[0].Count != 2 {
		t.Errorf("district's export: %+v", man)
	}
	if code, b := send("DELETE", "/Group/"+id, reader, ""); code != 403 {
		t.Errorf("delete without Group.d: %d %s", code, b)
	}
	if code, b := send("DELETE", "/Group/"+id, writer, ""); code != 204 {
		t.Errorf("delete: %d %s", code, b)
	}
	var events []string
	for _, a := range e.audit() {
		if a["group"] == id {
			events = append(events, fmt.Sprint(a["event"], " ", a["client_id"], " ", a["status"]))
		}
	}
	if want := []string{"group.create district 201", "group.delete clinic 403", "group.member-remove clinic 403",
		"group.delete district 403", "group.delete district 204"}; !slices.Equal(events, want) {
		t.Errorf("audit of the Group's changes %v, want %v", events, want)
	}
}
