package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/bulkclient"
	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/server"
)

// upload is `iisbridge match --server`: a roster imported into a running
// bridge (server.rosterImport) through the Bulk Data client.
type upload struct {
	server, group, name, clientID, key, out string
	replace                                 bool
}

// rowResult is one roster row as the bridge reported it, in the shape of
// the offline match output.
type rowResult struct {
	Input      string            `json:"input"`
	Outcome    string            `json:"outcome"` // matched, ambiguous, not-found, invalid
	Candidates []match.Candidate `json:"candidates,omitempty"`
	Message    string            `json:"message"`
}

func (u *upload) run(ctx context.Context, rosterPath string, stdout, stderr io.Writer) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "iisbridge match: "+format+"\n", args...)
		return code
	}
	if (u.clientID == "") != (u.key == "") {
		return fail(2, "--client-id and --key go together (neither: an open server)")
	}
	if u.replace && u.group == "" {
		return fail(2, "--replace needs --group")
	}
	if u.group != "" && u.name != "" {
		return fail(2, "--name names a new Group; --group changes an existing one")
	}
	body, err := os.ReadFile(rosterPath)
	if err != nil {
		return fail(1, "%v", err)
	}
	path, q := "/Group/$roster-import", url.Values{}
	if u.group != "" {
		path = "/Group/" + url.PathEscape(u.group) + "/$roster-import"
		if u.replace {
			q.Set("mode", "replace")
		}
	} else if u.name != "" {
		q.Set("name", u.name)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if u.out == "" {
		u.out = "roster-import-" + time.Now().UTC().Format("20060102T150405Z")
	}
	op := byte('c')
	if u.group != "" {
		op = 'u'
	}
	cfg := bulkclient.Config{Server: u.server, OutDir: u.out, ClientID: u.clientID,
		Operation: &bulkclient.Operation{Path: path, ContentType: "text/csv", Body: body},
		Scope:     "system/Patient.rs system/Group." + string(op) + "rs"}
	if u.key != "" {
		if cfg.Key, err = bulkclient.LoadKey(u.key, ""); err != nil {
			return fail(2, "%v", err)
		}
	}
	prog := newLineProgress(stderr, 5*time.Second)
	cfg.Progress = prog
	sum, err := bulkclient.Export(ctx, cfg)
	prog.close()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fail(130, "interrupted")
		}
		return fail(1, "%v", err)
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	counts := map[string]int{}
	var group map[string]any
	for _, f := range sum.Files {
		if f.Kind != "output" {
			continue
		}
		err := eachJSONLine(f.Path, func(r map[string]any) error {
			switch r["resourceType"] {
			case "Group":
				group = r
			case "Bundle":
				row := bundleRow(r)
				counts[row.Outcome]++
				return enc.Encode(row)
			}
			return nil
		})
		if err != nil {
			return fail(1, "%v", err)
		}
	}
	if group == nil {
		return fail(1, "the bridge's answer has no Group (files in %s)", u.out)
	}
	fmt.Fprintf(stderr, "Group/%v (%v active members): %d rows matched, %d ambiguous, %d not found, %d invalid; files in %s\n",
		group["id"], group["quantity"], counts["matched"], counts["ambiguous"], counts["not-found"], counts["invalid"], u.out)
	return 0
}

func eachJSONLine(path string, fn func(map[string]any) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for n := 1; sc.Scan(); n++ {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return sc.Err()
}

// bundleRow reads one row's searchset Bundle (server.rosterImport).
func bundleRow(b map[string]any) rowResult {
	var row rowResult
	if meta, _ := b["meta"].(map[string]any); meta != nil {
		for _, e := range anyList(meta["extension"]) {
			if ref, _ := e["valueReference"].(map[string]any); ref != nil {
				row.Input = strings.TrimPrefix(fmt.Sprint(ref["reference"]), "Patient/")
			}
		}
	}
	for _, e := range anyList(b["entry"]) {
		res, _ := e["resource"].(map[string]any)
		srch, _ := e["search"].(map[string]any)
		if srch["mode"] == "outcome" {
			for _, is := range anyList(res["issue"]) {
				row.Message, _ = is["diagnostics"].(string)
				if d, _ := is["details"].(map[string]any); d != nil {
					for _, c := range anyList(d["coding"]) {
						if c["system"] == server.RosterOutcomeSystem {
							row.Outcome, _ = c["code"].(string)
						}
					}
				}
			}
			continue
		}
		c := match.Candidate{}
		c.ID, _ = res["id"].(string)
		c.Score, _ = srch["score"].(float64)
		for _, x := range anyList(srch["extension"]) {
			if g, ok := x["valueCode"].(string); ok {
				c.Grade = match.Grade(g)
			}
		}
		row.Candidates = append(row.Candidates, c)
	}
	return row
}

func anyList(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
