package synth

// Reference tables for the synthetic world. Names are upper case, as most
// IIS feeds send them. Base family names never contain a hyphen (a name
// change appends "-OTHER"), and no ASCII name equals an accented one with
// its accents removed, so demographic keys stay distinct even for a matcher
// that folds accents.

var familiesASCII = []string{
	"SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "MILLER", "DAVIS", "RODRIGUEZ",
	"MARTINEZ", "HERNANDEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR", "MOORE",
	"JACKSON", "MARTIN", "LEE", "THOMPSON", "WHITE", "HARRIS", "SANCHEZ", "CLARK",
	"LEWIS", "ROBINSON", "WALKER", "YOUNG", "ALLEN", "KING", "WRIGHT", "SCOTT",
	"TORRES", "NGUYEN", "HILL", "FLORES", "GREEN", "ADAMS", "NELSON", "BAKER", "HALL",
	"RIVERA", "CAMPBELL", "MITCHELL", "CARTER", "ROBERTS", "PHILLIPS", "EVANS",
	"TURNER", "PARKER", "COLLINS", "EDWARDS", "STEWART", "MORRIS", "MURPHY", "COOK",
	"ROGERS", "MORGAN", "PETERSON", "COOPER", "REED", "BAILEY", "BELL", "KELLY",
	"HOWARD", "WARD", "COX", "DIAZ", "RICHARDSON", "WOOD", "WATSON", "BROOKS",
	"BENNETT", "GRAY", "JAMES", "REYES", "CRUZ", "HUGHES", "PRICE", "MYERS", "LONG",
	"FOSTER", "SANDERS", "ROSS", "MORALES", "POWELL", "SULLIVAN", "RUSSELL", "ORTIZ",
	"JENKINS", "GUTIERREZ", "PERRY", "BUTLER", "BARNES", "FISHER", "HENDERSON",
	"COLEMAN", "SIMMONS", "PATTERSON", "JORDAN", "REYNOLDS", "HAMILTON", "GRAHAM",
	"KIM", "CHEN", "WANG", "PATEL", "SHAH", "O'BRIEN", "MCDONALD", "NOVAK", "KOWALSKI",
	"OKAFOR", "ADEYEMI", "YAMAMOTO", "TRAN", "PHAM", "HASSAN", "ALI",
}

// familiesLatin hold characters outside ASCII but inside ISO-8859-1; the
// persons written to "latin1" files draw from this list only.
var familiesLatin = []string{
	"MÜLLER", "PEÑA", "NÚÑEZ", "IBÁÑEZ", "MUÑOZ", "CASTAÑEDA", "BJÖRKLUND",
	"SCHRÖDER", "JÄGER", "FRANÇOIS", "CÔTÉ", "LÉVESQUE", "GAGNÉ", "BÉLANGER",
	"HÉBERT", "DUCHÊNE", "SØRENSEN", "ÅBERG", "STRÖM", "LINDSTRÖM", "ORDÓÑEZ",
	"ALCÁNTARA", "CAÑAS", "MENÉNDEZ", "GÜNTHER", "KÖNIG", "MÉNDEZ", "JIMÉNEZ",
	"BÉRUBÉ",
}

// outsiderFamilies name the people of Z31/Z33 queries, who are not in the
// world: disjoint from both lists above.
var outsiderFamilies = []string{
	"QUIMBY", "THISTLEWAITE", "ABERCROMBIE", "FAIRWEATHER", "NETTLEFORD",
	"WINTERBOTTOM", "GOLIGHTLY", "PEABODY", "BRAMBLETT", "HOLLOWAY",
}

type givenName struct {
	Name string
	Sex  byte
}

// givenA is drawn for every person; givenB only for the second of twins,
// with givenB[i] paired to givenA[i], so twins never share a key. Equal
// lengths keep that pairing one-to-one.
var givenA = []givenName{
	{"JAMES", 'M'}, {"JOHN", 'M'}, {"ROBERT", 'M'}, {"MICHAEL", 'M'}, {"WILLIAM", 'M'},
	{"DAVID", 'M'}, {"JOSEPH", 'M'}, {"DANIEL", 'M'}, {"MATTHEW", 'M'}, {"ANTHONY", 'M'},
	{"ETHAN", 'M'}, {"NOAH", 'M'}, {"LIAM", 'M'}, {"MASON", 'M'}, {"LOGAN", 'M'},
	{"LUCAS", 'M'}, {"AIDEN", 'M'}, {"ELIJAH", 'M'}, {"OLIVER", 'M'}, {"OWEN", 'M'},
	{"JOSÉ", 'M'}, {"ANDRÉ", 'M'}, {"JOAQUÍN", 'M'}, {"RENÉ", 'M'},
	{"MARY", 'F'}, {"EMMA", 'F'}, {"OLIVIA", 'F'}, {"AVA", 'F'}, {"SOPHIA", 'F'},
	{"ISABELLA", 'F'}, {"MIA", 'F'}, {"AMELIA", 'F'}, {"HARPER", 'F'}, {"EVELYN", 'F'},
	{"ABIGAIL", 'F'}, {"EMILY", 'F'}, {"ELIZABETH", 'F'}, {"SOFIA", 'F'}, {"AVERY", 'F'},
	{"ELLA", 'F'}, {"SCARLETT", 'F'}, {"GRACE", 'F'}, {"VICTORIA", 'F'}, {"RILEY", 'F'},
	{"ZOË", 'F'}, {"RENÉE", 'F'}, {"INÉS", 'F'}, {"LUCÍA", 'F'},
}

var givenB = []givenName{
	{"ASHER", 'M'}, {"BECKETT", 'M'}, {"CALLUM", 'M'}, {"DECLAN", 'M'}, {"EMMETT", 'M'},
	{"FINN", 'M'}, {"GRAYSON", 'M'}, {"HUDSON", 'M'}, {"IAN", 'M'}, {"JASPER", 'M'},
	{"KAI", 'M'}, {"LEVI", 'M'}, {"MILES", 'M'}, {"NATHAN", 'M'}, {"OSCAR", 'M'},
	{"PRESTON", 'M'}, {"QUINN", 'M'}, {"ROWAN", 'M'}, {"SILAS", 'M'}, {"TRISTAN", 'M'},
	{"VICENTE", 'M'}, {"WESTON", 'M'}, {"XAVIER", 'M'}, {"ZANE", 'M'},
	{"AURORA", 'F'}, {"BRIAR", 'F'}, {"CORA", 'F'}, {"DELILAH", 'F'}, {"ELOISE", 'F'},
	{"FREYA", 'F'}, {"GEMMA", 'F'}, {"HAZEL", 'F'}, {"IVY", 'F'}, {"JUNE", 'F'},
	{"KINSLEY", 'F'}, {"LUNA", 'F'}, {"MAEVE", 'F'}, {"NORA", 'F'}, {"OPAL", 'F'},
	{"PIPER", 'F'}, {"QUINLEY", 'F'}, {"ROSALIE", 'F'}, {"SIENNA", 'F'}, {"TESSA", 'F'},
	{"VIOLET", 'F'}, {"WREN", 'F'}, {"XIMENA", 'F'}, {"YARA", 'F'},
}

type city struct{ Name, Zip, Area, County string }

var cities = []city{
	{"SPRINGFIELD", "62701", "217", "17167"}, {"PEORIA", "61602", "309", "17143"},
	{"ROCKFORD", "61101", "815", "17201"}, {"CHAMPAIGN", "61820", "217", "17019"},
	{"NAPERVILLE", "60540", "630", "17043"}, {"CHICAGO", "60614", "312", "17031"},
	{"AURORA", "60505", "630", "17089"}, {"JOLIET", "60432", "815", "17197"},
	{"DECATUR", "62521", "217", "17115"}, {"BLOOMINGTON", "61701", "309", "17113"},
}

var streets = []string{
	"MAIN ST", "OAK AVE", "MAPLE DR", "ELM ST", "WASHINGTON BLVD", "LAKE SHORE DR",
	"CEDAR LN", "PINE ST", "HIGHLAND AVE", "PARK PL", "CHURCH ST", "RIVER RD",
	"MILL RD", "SUNSET BLVD", "2ND ST", "3RD AVE", "LINCOLN AVE", "JEFFERSON ST",
}

const jurisdictionState = "IL"

type code struct{ Code, Text string }

var races = []code{
	{"2106-3", "White"}, {"2054-5", "Black or African American"}, {"2028-9", "Asian"},
	{"1002-5", "American Indian or Alaska Native"}, {"2076-8", "Native Hawaiian or Other Pacific Islander"},
	{"2131-1", "Other Race"},
}

var ethnicities = []code{{"2186-5", "Not Hispanic or Latino"}, {"2135-2", "Hispanic or Latino"}}

// facilityNames seed the reporting organizations; kinds cycle so that any
// world of three or more has clinics and a pharmacy, and six or more a
// mass-vaccination site.
var facilityNames = []struct{ NS, Name, Kind, App string }{
	{"NSPEDS", "NORTHSIDE PEDIATRICS", kindClinic, "EPIC"},
	{"MSRX", "MAIN STREET PHARMACY", kindPharmacy, "PHARMSYS"},
	{"LKVFM", "LAKEVIEW FAMILY MEDICINE", kindClinic, "ECW"},
	{"CHDMV", "COUNTY HEALTH DEPT MASS VAX", kindMassVax, "VAMS"},
	{"SJPEDS", "SMITH & JONES PEDIATRICS", kindClinic, "ATHENA"},
	{"VDRX0417", "VALUE DRUG #0417", kindPharmacy, "PHARMSYS"},
	{"RBHC", "RIVERBEND HEALTH CENTER", kindClinic, "NEXTGEN"},
	{"CCRX", "CITY CARE PHARMACY", kindPharmacy, "RXONE"},
	{"PRCC", "PRAIRIE CHILDRENS CLINIC", kindClinic, "EPIC"},
	{"SFVAX", "STATE FAIRGROUNDS VACCINATION SITE", kindMassVax, "VAMS"},
}

const (
	kindClinic   = "clinic"
	kindPharmacy = "pharmacy"
	kindMassVax  = "mass-vax"
)

// The registry itself: RSP and ACK sender, and the SR id authority.
const (
	iisNS   = "STATEIIS"
	iisOID  = "2.16.840.1.113883.19.3.1"
	iisApp  = "IISAPP"
	iisName = "STATE IMMUNIZATION INFORMATION SYSTEM"
	// facility OIDs are facOIDPrefix + ordinal (HL7's example arc).
	facOIDPrefix = "2.16.840.1.113883.19.5."
)

type mvx struct{ Code, Name, LotPrefix string }

var (
	mvxMSD = mvx{"MSD", "Merck and Co., Inc.", "M"}
	mvxSKB = mvx{"SKB", "GlaxoSmithKline", "G"}
	mvxPMC = mvx{"PMC", "Sanofi Pasteur", "S"}
	mvxPFR = mvx{"PFR", "Pfizer, Inc", "P"}
	mvxMOD = mvx{"MOD", "Moderna US, Inc.", "MD"}
	mvxSEQ = mvx{"SEQ", "Seqirus", "Q"}
)

// vaccine describes one CVX as the generator administers it.
type vaccine struct {
	CVX, Name string
	Group     string // CVX of the "unspecified formulation" family (VIS vaccine type, Z42 series)
	GroupName string
	MVX       []mvx
	Route     string // HL70162
	Oral      bool   // no site
	Dose      string // mL
	VISDate   string // edition date of the VIS (29768-9)
}

var vaccines = map[string]*vaccine{
	"08":  {CVX: "08", Name: "Hep B, adolescent or pediatric", Group: "45", GroupName: "Hep B, unspecified formulation", MVX: []mvx{mvxMSD, mvxSKB}, Route: "IM", Dose: "0.5", VISDate: "20230512"},
	"20":  {CVX: "20", Name: "DTaP", Group: "107", GroupName: "DTaP, unspecified formulation", MVX: []mvx{mvxSKB, mvxPMC}, Route: "IM", Dose: "0.5", VISDate: "20210806"},
	"10":  {CVX: "10", Name: "IPV", Group: "89", GroupName: "polio, unspecified formulation", MVX: []mvx{mvxPMC}, Route: "SC", Dose: "0.5", VISDate: "20210806"},
	"49":  {CVX: "49", Name: "Hib (PRP-OMP)", Group: "17", GroupName: "Hib, unspecified formulation", MVX: []mvx{mvxMSD}, Route: "IM", Dose: "0.5", VISDate: "20210806"},
	"133": {CVX: "133", Name: "Pneumococcal conjugate PCV 13", Group: "152", GroupName: "Pneumococcal Conjugate, unspecified formulation", MVX: []mvx{mvxPFR}, Route: "IM", Dose: "0.5", VISDate: "20230512"},
	"03":  {CVX: "03", Name: "MMR", Group: "03", GroupName: "MMR", MVX: []mvx{mvxMSD, mvxSKB}, Route: "SC", Dose: "0.5", VISDate: "20230112"},
	"21":  {CVX: "21", Name: "varicella", Group: "21", GroupName: "varicella", MVX: []mvx{mvxMSD}, Route: "SC", Dose: "0.5", VISDate: "20230112"},
	"83":  {CVX: "83", Name: "Hep A, ped/adol, 2 dose", Group: "85", GroupName: "Hep A, unspecified formulation", MVX: []mvx{mvxMSD, mvxSKB}, Route: "IM", Dose: "0.5", VISDate: "20211015"},
	"116": {CVX: "116", Name: "rotavirus, pentavalent", Group: "122", GroupName: "rotavirus, unspecified formulation", MVX: []mvx{mvxMSD}, Route: "PO", Oral: true, Dose: "2", VISDate: "20211015"},
	"88":  {CVX: "88", Name: "influenza, unspecified formulation", Group: "88", GroupName: "influenza, unspecified formulation", MVX: []mvx{mvxSEQ}, Route: "IM", Dose: "0.5", VISDate: "20230808"},
	"141": {CVX: "141", Name: "Influenza, split virus, trivalent, preservative", Group: "88", GroupName: "influenza, unspecified formulation", MVX: []mvx{mvxSEQ, mvxPMC}, Route: "IM", Dose: "0.5", VISDate: "20230808"},
	"150": {CVX: "150", Name: "Influenza, split virus, quadrivalent, PF", Group: "88", GroupName: "influenza, unspecified formulation", MVX: []mvx{mvxSKB, mvxPMC, mvxSEQ}, Route: "IM", Dose: "0.5", VISDate: "20230808"},
	"208": {CVX: "208", Name: "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose", Group: "213", GroupName: "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED", MVX: []mvx{mvxPFR}, Route: "IM", Dose: "0.3", VISDate: "20230911"},
	"207": {CVX: "207", Name: "COVID-19, mRNA, LNP-S, PF, 100 mcg/0.5mL dose or 50 mcg/0.25mL dose", Group: "213", GroupName: "SARS-COV-2 (COVID-19) vaccine, UNSPECIFIED", MVX: []mvx{mvxMOD}, Route: "IM", Dose: "0.5", VISDate: "20230911"},
	"62":  {CVX: "62", Name: "HPV, quadrivalent", Group: "137", GroupName: "HPV, unspecified formulation", MVX: []mvx{mvxMSD}, Route: "IM", Dose: "0.5", VISDate: "20211015"},
	"165": {CVX: "165", Name: "HPV9", Group: "137", GroupName: "HPV, unspecified formulation", MVX: []mvx{mvxMSD}, Route: "IM", Dose: "0.5", VISDate: "20211015"},
	"115": {CVX: "115", Name: "Tdap", Group: "115", GroupName: "Tdap", MVX: []mvx{mvxSKB, mvxPMC}, Route: "IM", Dose: "0.5", VISDate: "20220809"},
	"114": {CVX: "114", Name: "meningococcal MCV4P", Group: "108", GroupName: "meningococcal ACWY, unspecified formulation", MVX: []mvx{mvxPMC}, Route: "IM", Dose: "0.5", VISDate: "20210806"},
}

// routes: HL70162 code → NCIt code and text (RXR-1 carries both systems
// the way many EHRs do: NCIt first, HL70162 as the alternate).
var routes = map[string]code{
	"IM": {"C28161", "Intramuscular"},
	"SC": {"C38299", "Subcutaneous"},
	"PO": {"C38288", "Oral"},
}

var routeText = map[string]string{"IM": "Intramuscular", "SC": "Subcutaneous", "PO": "Oral"}

// step is one visit of the childhood schedule (CDC/ACIP, simplified).
type step struct {
	AgeDays int
	CVX     []string
}

var schedule = []step{
	{0, []string{"08"}},
	{61, []string{"20", "10", "49", "133", "116", "08"}},
	{122, []string{"20", "10", "49", "133", "116"}},
	{183, []string{"20", "133", "08"}},
	{365, []string{"03", "21", "83", "49", "133"}},
	{456, []string{"20"}},
	{548, []string{"83"}},
	{1461, []string{"20", "10", "03", "21"}},
	{4018, []string{"115", "HPV", "114"}},
	{4200, []string{"HPV"}},
	{5844, []string{"114"}},
}

var vfcCodes = []code{
	{"V02", "VFC eligible - Medicaid/Medicaid Managed Care"},
	{"V03", "VFC eligible - Uninsured"},
	{"V01", "Not VFC eligible"},
	{"V05", "VFC eligible - Federally Qualified Health Center Patient (under-insured)"},
}

var sites = map[string]string{
	"LT": "Left Thigh", "RT": "Right Thigh", "LD": "Left Deltoid", "RD": "Right Deltoid",
	"LA": "Left Arm", "RA": "Right Arm",
}

var refusalReasons = []code{
	{"00", "Parental decision"}, {"01", "Religious exemption"}, {"03", "Patient decision"},
}

var providers = []struct{ NPI, Family, Given string }{
	{"1234567893", "NAKAMURA", "ELLEN"}, {"1245319599", "OKONKWO", "CHIDI"},
	{"1679576722", "BRENNAN", "MARGARET"}, {"1093817001", "SALAZAR", "PEDRO"},
	{"1508896475", "LINDQVIST", "ANNA"}, {"1982745637", "FITZGERALD", "SEAN"},
}
