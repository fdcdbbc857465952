package mapping

// Person is one person of a relational source (`source: sql`): the
// person's own row, their rows in each child table (names, addresses,
// immunizations, ...) and the lookup rows those point to (lots,
// facilities). A mapping reads it through paths such as
// persons.last_name, aliases.given inside `foreach: aliases`, and
// lots.lot_number inside `foreach: immunizations`. sources/sql's *Record
// implements it.
type Person interface {
	// Root is the person row (the description's persons table).
	Root() Row
	// Rows are the person's rows of the named child table, in key order
	// (none when the name is unknown).
	Rows(child string) []Row
	// Lookup is the row of the named lookup table that from (one of the
	// person's child rows) points to; false when from points to none or
	// the lookup is not reached from from's table.
	Lookup(name string, from Row) (Row, bool)
}

// SourceRow is what a Row may add (optional; found by type assertion):
// where it was read, so that an issue about it names the table (by its
// name in the source description) and the row's key, never a value; and
// whether the row is soft-deleted, which the path _deleted reads (the
// default mapping makes such a vaccination an entered-in-error
// Immunization, which the pipeline reports under deleted).
type SourceRow interface {
	Row
	Origin() (table, key string)
	SoftDeleted() bool
}
