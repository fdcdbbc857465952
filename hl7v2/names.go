package hl7v2

// segmentNames holds the segment names of HL7 v2.3.1 to v2.8 that are
// defined by the standard, so that Segment.Name needs no allocation for
// them and Parse can warn about anything else (Z-segments excepted).
var segmentNames = func() map[string]string {
	const list = "ABS ACC ADD ADJ AFF AIG AIL AIP AIS AL1 APR ARQ ARV AUT BHS BLC BLG BPO BPX BTS BTX BUI CDM CDO CER " +
		"CM0 CM1 CM2 CNS CON CSP CSR CSS CTD CTI CTR DB1 DEV DG1 DMI DON DPS DRG DSC DSP DST ECD ECR EDU EQP EQU ERR EVN FAC " +
		"FHS FT1 FTS GOL GP1 GP2 GT1 IAM IAR IIM ILT IN1 IN2 IN3 INV IPC IPR ISD ITM IVC IVT LAN LCC LCH LDP LOC LRL " +
		"MFA MFE MFI MRG MSA MSH NCK NDS NK1 NPU NSC NST NTE OBR OBX ODS ODT OH1 OH2 OH3 OH4 OM1 OM2 OM3 OM4 OM5 OM6 OM7 " +
		"ORC ORG OVR PAC PCE PCR PD1 PDA PDC PEO PES PID PKG PMT PR1 PRA PRB PRC PRD PRT PSG PSH PSL PSS PTH PV1 PV2 " +
		"PYE QAK QID QPD QRD QRF QRI RCP RDF RDT REL RF1 RFI RGS RMI ROL RQ1 RQD RXA RXC RXD RXE RXG RXO RXR RXV SAC " +
		"SCD SCH SCP SDD SFT SGH SGT SHP SID SLT SPM SPR STF STZ TCC TCD TQ1 TQ2 TXA UAC UB1 UB2 URD URS VAR VND VTQ"
	m := make(map[string]string, 200)
	for i := 0; i+3 <= len(list); i += 4 {
		m[list[i:i+3]] = list[i : i+3]
	}
	return m
}()

// lookupName returns a standard name as a shared string; "" and false
// for others. The segments of immunization messages skip the map.
func lookupName(name []byte) (string, bool) {
	if len(name) != 3 {
		return "", false
	}
	switch string(name) {
	case "MSH":
		return "MSH", true
	case "PID":
		return "PID", true
	case "ORC":
		return "ORC", true
	case "RXA":
		return "RXA", true
	case "RXR":
		return "RXR", true
	case "OBX":
		return "OBX", true
	case "NTE":
		return "NTE", true
	case "NK1":
		return "NK1", true
	case "PD1":
		return "PD1", true
	}
	s, ok := segmentNames[string(name)]
	return s, ok
}
