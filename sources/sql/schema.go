package sql

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// The default legacy IIS schema, modelled on real registries (the AIRA IIS
// Sandbox's patient_master / vaccination_master / org_master and the
// *_reported submitter tables, the OIS DQA's flat tables): a master row per
// person with its current name and registry status, aliases, addresses,
// phones, identifiers and guardians (with their address and phone) in
// child tables, vaccinations pointing to lots, organizations and providers
// (administering, ordering) and holding amount, route, site, funding,
// eligibility and the VIS given (one per vaccination, DQA-style), local
// codes resolved through code_table, some dates held as strings in odd
// formats, soft-delete flags and a merged-into column.
//
// Every last-modified column (updated_date) holds UTC wall time.

type colType int

const (
	tInt      colType = iota // 32-bit integer key or count
	tStr                     // short text; size in col.size
	tDateTime                // timestamp, UTC wall time
)

type column struct {
	name string
	typ  colType
	size int
	null bool
}

type table struct {
	name    string
	cols    []column
	pk      []string
	indexes [][]string
}

func c(name string, typ colType, size int) column { return column{name: name, typ: typ, size: size} }
func cn(name string, typ colType, size int) column {
	return column{name: name, typ: typ, size: size, null: true}
}

// Layouts of the dates the default schema stores as strings.
const (
	BirthDateLayout      = "01/02/2006"  // patient_master.patient_birth_date
	AdministeredLayout   = "02-JAN-2006" // vaccination_master.administered_date (month upper-case)
	ExpirationDateLayout = "20060102"    // lot_master.expiration_date
	// patient_master.registry_status_indicator_date and
	// vaccination_master.vis_publication_date / vis_presented_date: HL7 DT.
	HL7DateLayout = "20060102"
)

var defaultSchema = []table{
	{name: "org_master", pk: []string{"org_id"}, cols: []column{
		c("org_id", tInt, 0), c("org_code", tStr, 40), c("organization_name", tStr, 250), c("org_kind", tStr, 20),
		c("org_oid", tStr, 80), cn("msh22_id", tStr, 40), c("updated_date", tDateTime, 0)}},
	{name: "code_table", pk: []string{"code_set", "local_code"}, cols: []column{
		c("code_set", tStr, 40), c("local_code", tStr, 40), c("standard_code", tStr, 40), c("code_label", tStr, 250)}},
	{name: "patient_master", pk: []string{"patient_id"}, indexes: [][]string{{"updated_date"}, {"merged_into"}}, cols: []column{
		c("patient_id", tInt, 0), c("patient_external_link", tStr, 30),
		c("patient_name_last", tStr, 250), c("patient_name_first", tStr, 250), cn("patient_name_middle", tStr, 250), cn("patient_mother_maiden", tStr, 250),
		c("patient_birth_date", tStr, 10), c("patient_sex", tStr, 1), cn("patient_birth_flag", tStr, 1), cn("patient_birth_order", tInt, 0),
		cn("patient_race", tStr, 10), cn("patient_ethnicity", tStr, 10), cn("org_id", tInt, 0),
		cn("registry_status_indicator", tStr, 3), cn("registry_status_indicator_date", tStr, 8),
		c("created_date", tDateTime, 0), c("updated_date", tDateTime, 0),
		c("deleted_flag", tStr, 1), cn("merged_into", tInt, 0)}},
	{name: "patient_alias", pk: []string{"alias_id"}, indexes: [][]string{{"patient_id"}, {"updated_date"}}, cols: []column{
		c("alias_id", tInt, 0), c("patient_id", tInt, 0), c("alias_name_last", tStr, 250), c("alias_name_first", tStr, 250),
		cn("alias_name_middle", tStr, 250), c("alias_type", tStr, 1), c("updated_date", tDateTime, 0)}},
	{name: "patient_address", pk: []string{"address_id"}, indexes: [][]string{{"patient_id"}, {"updated_date"}}, cols: []column{
		c("address_id", tInt, 0), c("patient_id", tInt, 0), c("address_line1", tStr, 250), c("address_city", tStr, 250),
		c("address_state", tStr, 2), c("address_zip", tStr, 10), c("address_country", tStr, 3), cn("address_county_parish", tStr, 250),
		c("address_status", tStr, 1), c("updated_date", tDateTime, 0)}},
	{name: "patient_phone", pk: []string{"phone_id"}, indexes: [][]string{{"patient_id"}, {"updated_date"}}, cols: []column{
		c("phone_id", tInt, 0), c("patient_id", tInt, 0), c("phone_number", tStr, 20), c("phone_use", tStr, 3), c("updated_date", tDateTime, 0)}},
	{name: "patient_identifier", pk: []string{"identifier_id"}, indexes: [][]string{{"patient_id"}, {"updated_date"}}, cols: []column{
		c("identifier_id", tInt, 0), c("patient_id", tInt, 0), c("id_authority", tStr, 40), c("id_type", tStr, 2),
		c("id_value", tStr, 40), c("updated_date", tDateTime, 0)}},
	{name: "patient_guardian", pk: []string{"guardian_id"}, indexes: [][]string{{"patient_id"}, {"updated_date"}}, cols: []column{
		c("guardian_id", tInt, 0), c("patient_id", tInt, 0), c("guardian_last", tStr, 250), cn("guardian_first", tStr, 250),
		cn("guardian_maiden", tStr, 250), c("guardian_relationship", tStr, 3),
		cn("guardian_address_line1", tStr, 250), cn("guardian_city", tStr, 250), cn("guardian_state", tStr, 2),
		cn("guardian_zip", tStr, 10), cn("guardian_country", tStr, 3), cn("guardian_phone", tStr, 20),
		c("updated_date", tDateTime, 0)}},
	{name: "lot_master", pk: []string{"lot_id"}, cols: []column{
		c("lot_id", tInt, 0), c("lot_number", tStr, 40), cn("mvx_code", tStr, 10), cn("expiration_date", tStr, 8), c("updated_date", tDateTime, 0)}},
	{name: "provider_master", pk: []string{"provider_id"}, cols: []column{
		c("provider_id", tInt, 0), cn("provider_npi", tStr, 10), c("provider_name_last", tStr, 250), cn("provider_name_first", tStr, 250),
		c("updated_date", tDateTime, 0)}},
	{name: "vaccination_master", pk: []string{"vaccination_id"}, indexes: [][]string{{"patient_id"}, {"updated_date"}}, cols: []column{
		c("vaccination_id", tInt, 0), c("patient_id", tInt, 0), c("vaccination_external_link", tStr, 60),
		c("administered_date", tStr, 11), c("vaccine_cvx_code", tStr, 10), c("completion_code", tStr, 2),
		cn("refusal_reason", tStr, 10), cn("lot_id", tInt, 0), c("org_id", tInt, 0), c("filler_order_id", tStr, 40),
		cn("information_source", tStr, 2),
		cn("administered_amount", tStr, 20), cn("administered_unit", tStr, 20), cn("body_route", tStr, 20), cn("body_site", tStr, 10),
		cn("administering_provider", tInt, 0), cn("ordering_provider", tInt, 0),
		cn("funding_eligibility", tStr, 10), cn("funding_source", tStr, 10),
		cn("vis_document_code", tStr, 40), cn("vis_vaccine_type", tStr, 10), cn("vis_publication_date", tStr, 8), cn("vis_presented_date", tStr, 8),
		c("action_code", tStr, 1), c("deleted_flag", tStr, 1), cn("deleted_date", tDateTime, 0),
		c("reported_date", tDateTime, 0), c("updated_date", tDateTime, 0)}},
	{name: "patient_reported", pk: []string{"patient_reported_id"}, indexes: [][]string{{"patient_id"}, {"org_id"}}, cols: []column{
		c("patient_reported_id", tInt, 0), c("patient_id", tInt, 0), c("org_id", tInt, 0),
		c("first_reported", tDateTime, 0), c("last_reported", tDateTime, 0), c("reported_via", tStr, 10), c("updated_date", tDateTime, 0)}},
}

// Tables names the default schema's tables, in creation order.
func Tables() []string {
	var out []string
	for _, t := range defaultSchema {
		out = append(out, t.name)
	}
	return out
}

func (d Dialect) colType(col column) string {
	switch col.typ {
	case tInt:
		if d.Name == "sqlite" {
			return "INTEGER"
		}
		return "INT"
	case tDateTime:
		switch d.Name {
		case "sqlite":
			return "TEXT"
		case "mysql":
			return "DATETIME(6)"
		case "postgres":
			return "TIMESTAMP(6)"
		default:
			return "DATETIME2(6)"
		}
	}
	switch d.Name {
	case "sqlite":
		return "TEXT"
	case "sqlserver":
		return "NVARCHAR(" + strconv.Itoa(col.size) + ")"
	}
	return "VARCHAR(" + strconv.Itoa(col.size) + ")"
}

// DDL is the default schema's CREATE statements in this dialect.
func (d Dialect) DDL() []string {
	var out []string
	for _, t := range defaultSchema {
		var b strings.Builder
		fmt.Fprintf(&b, "CREATE TABLE %s (\n", d.Quote(t.name))
		for _, col := range t.cols {
			null := " NOT NULL"
			if col.null {
				null = ""
			}
			fmt.Fprintf(&b, "  %s %s%s,\n", d.Quote(col.name), d.colType(col), null)
		}
		fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", d.quoteList(t.pk))
		if d.Name == "mysql" {
			b.WriteString(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
		}
		out = append(out, b.String())
		for _, ix := range t.indexes {
			name := "ix_" + t.name + "_" + strings.Join(ix, "_")
			out = append(out, fmt.Sprintf("CREATE INDEX %s ON %s (%s)", d.Quote(name), d.Quote(t.name), d.quoteList(ix)))
		}
	}
	return out
}

func (d Dialect) quoteList(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = d.Quote(id)
	}
	return strings.Join(q, ", ")
}

// CreateSchema creates the default schema's tables; it fails if one
// exists (the loader writes only into an empty schema).
func CreateSchema(ctx context.Context, db *sql.DB, d Dialect) error {
	for _, s := range d.DDL() {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating the schema: %s: %w", firstLine(s), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSuffix(l, " (")
}
