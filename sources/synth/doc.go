// Package synth generates a synthetic immunization registry world and
// writes its traffic as HL7 v2.5.1 archives (CDC IG R1.5 shapes) together
// with truth.json, the export a correct bridge must produce from them.
// It is the project's demo data, benchmark fixture and correctness oracle.
//
// Output is deterministic: the same Config gives byte-identical files on
// every machine (no clock, no map order, no time zone database: times are
// rendered in the fixed offset -0600). Generation streams: persons are
// simulated 16 at a time, their messages interleaved by time and written
// out, so memory stays flat (26 MB peak RSS for a million messages).
//
// # The world
//
// Facilities are clinics, pharmacies and mass-vaccination sites (3..10;
// MSH-4 NS^OID^ISO; some also send MSH-22 with an org id in XON-10; one
// clinic name holds "&", sent as \T\). Persons are children on the ACIP
// schedule (60%) or adults (flu, COVID, Tdap). Each facility knows a person
// under its own MRN (PID-3 MRN^^^FACILITYNS^MR). The IIS (STATEIIS) assigns
// an SR id at the first report; it travels in RSP PIDs and in VXUs from
// facilities that learned it (SRID^^^STATEIIS^SR beside the MR); a quarter
// of persons never show one. Every PID-carrying message of a person links
// to the person's earlier ones by SR, (authority, MR) or the normalized
// demographic key (upper-case family, given, birth date, sex): the
// generator checks this as it writes and fails otherwise. Keys are unique
// by construction (a keyed permutation over birth date x family x given;
// twins share family and birth date and take a given name from a list
// only twins use; a name change appends "-OTHER" to the family name).
//
// Traffic: VXU^V04 per visit (new doses RXA-9 00 with MVX, lot, RXR, OBX
// 64994-7 VFC eligibility, 30963-3 funding, VIS OBX; clinics often resend
// other providers' doses as 01 history rows; refusals RXA-20 RE with RXA-18
// NIP002; a few RXA-20 NA; patient-level RXA-5 998 orders); later U rows
// (same facility and ORC-3, new lot) and D rows; one D for a dose never
// sent; QBP^Q11 Z34/Z44 before some visits, each followed by RSP^K11
// Z32/Z42 (MSA-2 = the QBP's MSH-10; PID with SR and the asker's MR; the
// IIS's history with ORC-3 IIS-nnn ids, RXA-9 as recorded; Z42 adds
// evaluation OBX and a 998 forecast order); queries about people outside
// the world answered Z33 (QAK NF) or Z31 (candidate PIDs, no RXA); ACK^V04
// from the IIS after some VXUs; name changes and moves (new address and
// phone, sometimes a new clinic).
//
// # Files
//
// One file per framing and FilesPerFraming, named FRAMING-NN.hl7:
//
//	blank   segments end with \n, a blank line after each message
//	msh     segments end with \r, messages back to back (split at MSH)
//	mllp    0x0B message 0x1C 0x0D
//	batch   FHS, then BHS ... BTS|n per 40 messages, FTS|batches
//	gzip    msh framing, gzip-compressed; odd-numbered files have no .gz suffix
//	crlf    segments end with \r\n
//	latin1  msh framing, text in ISO-8859-1, MSH-18 8859/1 (persons there
//	        have accented family names); UTF-8 files with accented names
//	        carry MSH-18 UNICODE UTF-8
//
// Deliberately broken records: in each blank file record 3 is a message
// without MSH and record 7 binary garbage; in each mllp file record 5 is a
// frame cut short (no 0x1C 0x0D). They count as records.
//
// # truth.json
//
// One JSON object; the large arrays have one element per line:
//
//	version         1
//	config          the normalized Config (people 0 when messages was set)
//	iis, facilities {key (MSH-4 namespace = MR authority = ORC-3 namespace),
//	                name (decoded), kind, oid, msh22_id, org_key}; org_key
//	                is pipeline.Membership.OrgKey: msh22_id when sent, else
//	                "namespace|oid"
//	providers       {npi, family, given}: who gives and orders doses
//	files           {name, framing, gzip, charset, messages, batches, bytes}
//	counts          messages, by_kind, by_profile (MSH-21 code, or broken
//	                reason), persons, doses, completed, not_done,
//	                entered_in_error, links
//	unseen_deletes  {file, index, control_id, person, facility, filler, cvx,
//	                date}: a D whose facility+ORC-3 matches nothing; expect a
//	                warning, nothing deleted
//	broken          {file, index, reason: no-msh | garbage | mllp-truncated}
//	persons         see below
//	links           {org_key, facility, person, first, last, via: [vxu, qbp],
//	                 evidence: {trigger: {first, last, records}}}
//	messages        {file, index (1-based record in the file, broken ones
//	                included), kind (VXU, QBP, RSP, ACK, broken), profile,
//	                control_id, person (VXU/QBP/RSP of a world person), time,
//	                sender (the facility key of a VXU or QBP; none for the IIS)}
//
// A person: key (P000001...), iis_id (only if some message carried it),
// ids [{facility, mrn}] in order of appearance, name {family, given,
// middle}, former_names, birth_date, sex (F/M), address {line, city,
// state, zip, country, county}, former_addresses, phone (10 digits),
// mothers_maiden_name, twin (the other twin's key), demographic_key,
// registry_status and registry_status_date (PD1-16/17 of the newest
// message with a PD1), guardian {family, given, relationship, address,
// phone} (NK1 of the newest message with one), messages (VXU/QBP/RSP
// about the person), patient_level_orders (998 rows seen), doses.
//
// A dose: key (PERSON-CVX-YYYYMMDD: at most one per person, CVX and day),
// cvx (table form), date, facility and filler (ORC-3 id) of the record that
// counts, status (completed | not-done | entered-in-error), completion
// (RXA-20: CP, RE, NA), lot, mvx, primary_source, refusal_reason (NIP002),
// updated (a U changed it), deleted_at (time of the D message),
// administration {amount, unit, route (RXR-1.1), site, provider (NPI),
// eligibility, funding, vis {document | vaccine_type and published,
// presented}} as the giver's record that counts carried it (a U has no
// OBX: no eligibility, funding or vis); none for historical doses.
//
// # Rules the truth applies
//
// The truth replays every written message of a person in MSH-7 order
// (each person's messages have strictly increasing MSH-7, except that a
// QBP and its RSP, and a VXU and its ACK, share one):
//
//   - Demographics: the latest PID wins field by field; an empty field is
//     "not sent" and keeps the earlier value (pharmacies and mass-vax sites
//     send no phone). A name or address replaced by a later one is listed
//     in former_names / former_addresses. QPD contents are not used.
//   - Doses are identified by (person, CVX, date). The earliest 00 row
//     gives facility, filler, lot and primary_source true; a dose only ever
//     seen in 01 rows takes facility and filler from the earliest message
//     carrying it, primary_source false. RSP rows (RXA-9 as the IIS
//     recorded it, ORC-3 IIS-nnn) are always copies of doses already sent
//     and change nothing.
//   - U and D rows match on sending facility + ORC-3. U replaces the lot
//     (updated true); D sets entered-in-error and deleted_at. A dose
//     deleted once is never resent. RE and NA rows are not-done doses;
//     998 rows are not doses.
//   - Links: every VXU links its sender (MSH-4 facility, org_key above);
//     a QBP answered by RSP Z32/Z42 (QAK OK, one PID) links the asker at
//     the QBP's MSH-7; Z31, Z33 and ACK link nobody. first/last are message
//     times under the default membership policy (every kind of evidence
//     but query-matched); evidence has them per trigger: vxu (any VXU),
//     vxu-administered (a row with RXA-9 00 that is not deleted, refused,
//     not given or 998), vxu-historical (RXA-9 01), vxu-refusal (RXA-20
//     RE), query, query-matched (Config.UnansweredQueries: a query whose
//     answer was left out links the asker to the person it asks about; a
//     link with only that evidence has no first/last/via).
//
// # Benchmark archive
//
// A fixed number of records, split evenly across files:
//
//	iisbridge gen --messages 1000000 --framing msh --out /tmp/gen1m
//
// writes about 2.1 GB of messages (the average VXU carries several doses
// with their OBX rows) and a truth.json of about 1 GB (a quarter of it the
// given doses' administration details); read the latter with WalkTruth.
// BenchmarkGenerate measures throughput (go test -bench Generate
// ./sources/synth/).
package synth
