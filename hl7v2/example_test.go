package hl7v2_test

import (
	"fmt"
	"time"

	"github.com/iisbridge/iisbridge/hl7v2"
)

func Example() {
	msg := "MSH|^~\\&|MYEHR|CLINIC|IIS|STATE|20230105143012-0500||VXU^V04^VXU_V04|M-1|P|2.5.1\r" +
		"PID|1||A-77^^^MYEHR^MR~9001^^^IIS^SR||Larch^Tamsin^Q||20221104|F\r" +
		"ORC|RE||IZ-1^MYEHR\r" +
		"RXA|0|1|20230105093000||08^Hep B, adolescent or pediatric^CVX|0.5|mL^mL^UCUM\r" +
		"RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163\r" +
		"OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible \\T\\ Medicaid^HL70064||||||F\r"
	m, err := hl7v2.Parse([]byte(msg))
	if err != nil {
		fmt.Println(err)
		return
	}
	code, trigger, _ := m.Type()
	fmt.Println(code, trigger, m.ControlID())

	segs := m.Segments()
	sr, _ := hl7v2.ParsePath("PID-3[2].1")
	fmt.Println("IIS id:", segs.Value(sr).String())

	for _, o := range m.Orders() {
		cvx := hl7v2.ParseCWE(o.RXA.Field(5).Rep(1))
		when, _ := hl7v2.ParseTS(o.RXA.Field(3).Rep(1).String())
		fmt.Println(cvx.Code, cvx.System, when.FHIRDateTime(time.FixedZone("", -5*3600)))
		p, _ := hl7v2.ParsePath("OBX[*]-5.2")
		for _, v := range o.All.Values(p) {
			fmt.Println("funding:", v.String())
		}
	}
	// Output:
	// VXU V04 M-1
	// IIS id: 9001
	// 08 CVX 2023-01-05T09:30:00-05:00
	// funding: VFC eligible & Medicaid
}
