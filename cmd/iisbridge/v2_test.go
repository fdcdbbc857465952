package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// mixed.hl7: A1 (CR), A2 (CRLF, escapes, repeated PID-3), a PID without
// MSH, B1 (MLLP, Latin-1, MSH-4 universal id only), a batch holding Q1
// whose BTS-1 says 2.
const v2Mixed = "../../sources/v2archive/testdata/mixed.hl7"

func runV2(t *testing.T, f func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := f(args, &out, &errb)
	return code, out.String(), errb.String()
}

func statsCmd(args []string, o, e *bytes.Buffer) int { return v2Stats(args, o, e) }
func dumpCmd(args []string, o, e *bytes.Buffer) int  { return v2Dump(args, o, e) }

func TestV2StatsText(t *testing.T) {
	code, out, _ := runV2(t, statsCmd, v2Mixed)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := `files     1
messages  4
bytes     1013 (0.0 MB)
errors    1
warnings  1

by type (MSH-9)
  VXU^V04  3
  QBP^Q11  1

by sending facility (MSH-4)
  NORTHCLINIC             2
  2.16.840.1.113883.3.55  1
  SOUTH                   1

by year (MSH-7)
  2022  1
  2023  2
  2024  1

errors (1)
  ` + v2Mixed + `:10 (offset 499, record 3): no MSH segment: segment PID at line 10 does not follow a message header

warnings (1)
  ` + v2Mixed + `:18 (offset 825, record 5, id Q1): BTS-1 at line 21 says 2 messages, the batch holds 1
`
	if out != want {
		t.Errorf("stats output:\n%s\nwant:\n%s", out, want)
	}
}

func TestV2StatsJSON(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "copy.dat")
	data, err := os.ReadFile(v2Mixed)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gz, data, 0o644)
	// flags after the paths work too; the error list is capped, not the count
	code, out, _ := runV2(t, statsCmd, v2Mixed, gz, filepath.Join(dir, "missing.hl7"), "--json", "--max-errors", "2")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var st struct {
		Files, Messages, Errors, Warnings int
		Bytes                             int64
		Types, Facilities, Years          map[string]int
		ErrorList                         []struct {
			Source, Message string
			Line, Index     int
			Offset          int64
		} `json:"error_list"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if st.Files != 2 || st.Messages != 8 || st.Errors != 3 || st.Warnings != 2 || st.Bytes != 2026 {
		t.Errorf("totals %+v", st)
	}
	if !reflect.DeepEqual(st.Types, map[string]int{"VXU^V04": 6, "QBP^Q11": 2}) ||
		!reflect.DeepEqual(st.Years, map[string]int{"2022": 2, "2023": 4, "2024": 2}) ||
		st.Facilities["NORTHCLINIC"] != 4 {
		t.Errorf("tables %v %v %v", st.Types, st.Years, st.Facilities)
	}
	if len(st.ErrorList) != 2 || st.ErrorList[1].Source != gz || st.ErrorList[1].Line != 10 || st.ErrorList[1].Offset != 499 {
		t.Errorf("error list %+v", st.ErrorList)
	}
}

func TestV2StatsExitCodes(t *testing.T) {
	if code, _, _ := runV2(t, statsCmd); code != 2 {
		t.Errorf("no args: exit %d, want 2", code)
	}
	if code, _, _ := runV2(t, statsCmd, "--encoding", "ebcdic", v2Mixed); code != 2 {
		t.Errorf("bad encoding: exit %d, want 2", code)
	}
	code, out, errs := runV2(t, statsCmd, filepath.Join(t.TempDir(), "nothing.hl7"))
	if code != 1 || !strings.Contains(errs, "no readable input") || !strings.Contains(out, "stat: no such file") {
		t.Errorf("missing input: exit %d\n%s\n%s", code, out, errs)
	}
}

func TestV2DumpPathAligned(t *testing.T) {
	code, out, errs := runV2(t, dumpCmd, "--path", "PID-5.2", v2Mixed)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// one line per item: the broken third item prints an empty line
	if want := "ANNA\nBEN&JR\n\nJÜRGEN\n\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if !strings.Contains(errs, "mixed.hl7:10 (offset 499, record 3): no MSH segment") {
		t.Errorf("stderr %q", errs)
	}
	_, out, _ = runV2(t, dumpCmd, "--path", "PID-3[*].1", v2Mixed)
	if want := "111\n112\t9001\n\n7\n\n"; out != want {
		t.Errorf("[*] path: got %q, want %q", out, want)
	}
	if code, _, _ := runV2(t, dumpCmd, "--path", "PID-", v2Mixed); code != 2 {
		t.Errorf("bad path: exit %d", code)
	}
}

func TestV2DumpJSON(t *testing.T) {
	in := "MSH|^~\\&|EHR|CLINIC|||20230105||VXU^V04|M1|P|2.5.1\r" +
		"PID|1||1^^^A&1.2.3&ISO^MR~2^^^B^SR||DOE^JO\\S\\E|\"\"\r" +
		"OBX|1||||x\\.br\\y|||||\r"
	p := filepath.Join(t.TempDir(), "one.hl7")
	os.WriteFile(p, []byte(in+"\rPID|orphan\r"), 0o644)
	_, out, _ := runV2(t, dumpCmd, p)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), out)
	}
	want := `{"loc":{"source":"` + p + `","offset":0,"length":` + strconv.Itoa(len(in)) + `,"line":1,"index":1,"control_id":"M1"},"segments":[` +
		`["MSH","|","^~\\&","EHR","CLINIC","","","20230105","",["VXU","V04"],"M1","P","2.5.1"],` +
		`["PID","1","",{"reps":[["1","","",["A","1.2.3","ISO"],"MR"],["2","","","B","SR"]]},"",["DOE","JO^E"],null],` +
		`["OBX","1","","","","x\ny"]]}`
	if lines[0] != want {
		t.Errorf("dump:\n got %s\nwant %s", lines[0], want)
	}
	if want := `{"loc":{"source":"` + p + `","offset":` + strconv.Itoa(len(in)+1) + `,"length":11,"line":5,"index":2},"error":"no MSH segment: segment PID at line 5 does not follow a message header"}`; lines[1] != want {
		t.Errorf("error line:\n got %s\nwant %s", lines[1], want)
	}
}
