// Package match finds which of the bridge's persons a set of demographics
// (a roster row, a Patient/$bulk-match input) is, and how sure that is: a
// FHIR match-grade per candidate and one Outcome per input.
//
// A Matcher normalizes names, dates, postal codes, phones and identifiers,
// looks candidates up by blocking keys, applies the deterministic rules, and
// scores the rest with per-field, per-level weights; all of it comes from
// one YAML Config (default.yaml, checked with file:line:column). Candidates
// is the person side: MemStore in memory, SQLStore on disk with flat memory.
// Matcher.All streams any number of inputs through workers and hands the
// results back in input order.
package match
