package mapping

// knownSegments lists the v2.5.1 segments immunization messages use, with
// their number of fields (0 = not checked), so `mapping check` catches a
// mistyped segment or field number. Z-segments are always accepted. MSH
// has v2.7's 25: the CDC IIS guide for v2.5.1 (release 1.5) uses MSH-22
// and MSH-23, the sending and receiving responsible organizations.
var knownSegments = map[string]int{
	"MSH": 25, "SFT": 6, "EVN": 7, "PID": 39, "PD1": 21, "NK1": 39, "PV1": 52, "PV2": 49,
	"GT1": 57, "IN1": 53, "IN2": 72, "IN3": 28, "ORC": 31, "TQ1": 14, "TQ2": 10,
	"RXA": 26, "RXR": 6, "OBX": 25, "NTE": 4, "MSA": 6, "ERR": 12, "QAK": 6, "QPD": 0,
	"RCP": 7, "MRG": 7, "FHS": 12, "FTS": 2, "BHS": 12, "BTS": 3, "OBR": 50, "SPM": 30,
	"PRT": 24, // v2.7+ participation, in ORDER groups of v2.8 messages
}

func maxFields(seg string) int { return knownSegments[seg] }
