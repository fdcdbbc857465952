// Package archivegen writes synthetic HL7 v2 VXU archives for benchmarks
// and load tests: about 1 KB per message, framings mixed the way real
// archives mix them (next MSH, blank lines, MLLP frames, FHS/BHS batches,
// CR/LF/CRLF terminators). People are made up from counters.
package archivegen

import (
	"bufio"
	"fmt"
	"io"
)

var (
	facilities = []string{"CLINIC1^2.16.840.1.113883.3.1001^ISO", "PHARM22", "MASSVAX^2.16.840.1.113883.3.77^ISO", "PEDS^^", "HOSP9^1.2.3.4^ISO"}
	families   = []string{"SMITH", "MÜLLER", "GARCÍA", "NGUYEN", "O'BRIEN", "KOWALSKI"}
	givens     = []string{"ANNA", "JOSÉ", "LI", "MARY", "OMAR", "ZOË"}
	vaccines   = []string{"08^HepB^CVX", "20^DTaP^CVX", "03^MMR^CVX", "141^Influenza^CVX", "208^COVID-19^CVX", "10^IPV^CVX"}
)

// Write writes messages to w until at least size bytes are written and
// returns the number of messages. The same seed gives the same bytes.
func Write(w io.Writer, size int64, seed int) (int, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var written int64
	n := 0
	for written < size {
		k := n + seed
		term := [...]string{"\r", "\n", "\r\n"}[k%3]
		msg := message(k, term)
		if k%7 == 6 { // a legacy sender: Latin-1 bytes
			msg = latin1(msg)
		}
		var out string
		switch k % 5 {
		case 0, 1: // next MSH starts the next message
			out = msg
		case 2: // blank line after
			out = msg + term
		case 3: // MLLP
			out = "\x0b" + msg + "\x1c\r"
		case 4: // a batch of one
			out = "BHS|^~\\&|EHR|" + facilities[k%len(facilities)] + term + msg + "BTS|1" + term
		}
		m, err := bw.WriteString(out)
		written += int64(m)
		if err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}

func message(k int, t string) string {
	fac := facilities[k%len(facilities)]
	year := 2015 + k%10
	vax := vaccines[k%len(vaccines)]
	return fmt.Sprintf("MSH|^~\\&|EHRAPP|%s|IIS|STATEIIS|%d%02d%02d%02d%02d%02d-0500||VXU^V04^VXU_V04|MSG%08d|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS|%s|STATEIIS%s"+
		"PID|1||MRN%07d^^^CLINIC^MR~SR%07d^^^STATEIIS^SR||%s^%s^Q^^^^L|DOE^JANE^^^^^M|%d%02d%02d|%s||2106-3^White^CDCREC|%d MAIN ST^^SPRINGFIELD^IL^62701^USA^H||^PRN^PH^^^217^5550%03d|||||||||2186-5^Not Hispanic or Latino^CDCREC%s"+
		"PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|%d0101|||A|%d0101|%d0101%s"+
		"NK1|1|%s^MARIA^^^^^L|MTH^Mother^HL70063|%d MAIN ST^^SPRINGFIELD^IL^62701^USA^H|^PRN^PH^^^217^5551%03d%s"+
		"ORC|RE||DOSE%08d^CLINIC|||||||7824^JACKSON^LILY^^^^^^NIST-PI-1^L^^^PRN||654^THOMAS^WILMA^^^^^^NIST-PI-1^L^^^MD%s"+
		"RXA|0|1|%d%02d%02d||%s|0.5|mL^mL^UCUM||00^New immunization record^NIP001|7824^JACKSON^LILY^^^^^^NIST-PI-1^L^^^PRN|^^^CLINIC||||L%06d|%d1231|MSD^Merck^MVX|||CP|A%s"+
		"RXR|C28161^Intramuscular^NCIT|LD^Left Arm^HL70163%s"+
		"OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||%d%02d%02d|||VXC40^Eligibility captured at the immunization level^CDCPHINVS%s"+
		"OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC1^Federal funds^CDCPHINVS||||||F|||%d%02d%02d%s",
		fac, year, 1+k%12, 1+k%28, k%24, k%60, k%60, k, fac, t,
		k, k, families[k%len(families)], givens[(k/7)%len(givens)], year-1-k%60, 1+k%12, 1+k%28, "FMU"[k%3:k%3+1], k%9000, k%1000, t,
		year, year, year, t,
		families[(k+1)%len(families)], k%9000, k%1000, t,
		k, t,
		year, 1+k%12, 1+k%28, vax, k%1000000, year+2, t,
		t,
		year, 1+k%12, 1+k%28, t,
		year, 1+k%12, 1+k%28, t)
}

func latin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r < 0x100 {
			b = append(b, byte(r))
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
