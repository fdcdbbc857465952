package synth

import (
	"fmt"
	"slices"
	"time"
)

// Config shapes the generated world. The zero value (plus a seed) is the
// demo world; see the package documentation for the benchmark recipe.
type Config struct {
	Seed       int64
	People     int // persons in the world; default 200. Ignored when Messages > 0.
	Facilities int // reporting organizations (clinics, pharmacies, mass-vax sites); default 6, at least 3, at most 10
	// Messages, when > 0, is the exact number of records to write (every
	// file gets an equal share); persons are added until it is reached.
	Messages   int
	Start, End time.Time // message time span; default 2023-01-01 .. 2025-12-31 (jurisdiction time, UTC-6)
	// Framings: subset of Framings(); empty = all of them.
	Framings        []string
	FilesPerFraming int // default 1
	// UnansweredQueries is the share (0..1) of single-match queries whose
	// answer (RSP) is left out of the archive, as when a log misses it:
	// the truth then has query-matched evidence (the person asked about)
	// instead of query. Default 0.
	UnansweredQueries float64
}

// Summary describes what Generate wrote.
type Summary struct {
	Files    []string // archive file names (relative to dir), in generation order
	Messages int64    // records written, broken ones included
	Bytes    int64    // archive bytes on disk (truth.json excluded)
	People   int      // persons in the truth
	Doses    int      // dose entries in the truth, refusals and deleted ones included
}

// Framings lists the archive layouts Generate can write, in the order the
// files are generated.
func Framings() []string {
	return []string{"blank", "msh", "mllp", "batch", "gzip", "crlf", "latin1"}
}

const (
	defaultPeople     = 200
	defaultFacilities = 6
	maxFacilities     = 10 // len(facilityNames)
)

func (c Config) normalized() (Config, error) {
	if c.People < 0 || c.Messages < 0 || c.Facilities < 0 || c.FilesPerFraming < 0 {
		return c, fmt.Errorf("synth: negative count in config")
	}
	if c.UnansweredQueries < 0 || c.UnansweredQueries > 1 {
		return c, fmt.Errorf("synth: unanswered queries share %g is not within 0..1", c.UnansweredQueries)
	}
	if c.People == 0 {
		c.People = defaultPeople
	}
	if c.Facilities == 0 {
		c.Facilities = defaultFacilities
	}
	if c.Facilities < 3 || c.Facilities > maxFacilities {
		return c, fmt.Errorf("synth: facilities must be between 3 and %d, got %d", maxFacilities, c.Facilities)
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2023, 1, 1, 0, 0, 0, 0, tz)
	}
	if c.End.IsZero() {
		c.End = time.Date(2025, 12, 31, 23, 59, 59, 0, tz)
	}
	c.Start, c.End = c.Start.In(tz), c.End.In(tz)
	if c.End.Sub(c.Start) < 60*24*time.Hour {
		return c, fmt.Errorf("synth: time span %s .. %s is shorter than 60 days", c.Start.Format(time.DateOnly), c.End.Format(time.DateOnly))
	}
	if c.Start.Year() < 1990 || c.End.Year() > 2200 {
		return c, fmt.Errorf("synth: time span must lie between 1990 and 2200")
	}
	if c.FilesPerFraming == 0 {
		c.FilesPerFraming = 1
	}
	all := Framings()
	if len(c.Framings) == 0 {
		c.Framings = all
	} else {
		var fr []string
		for _, f := range all {
			if slices.Contains(c.Framings, f) {
				fr = append(fr, f)
			}
		}
		for _, f := range c.Framings {
			if !slices.Contains(all, f) {
				return c, fmt.Errorf("synth: unknown framing %q (want one of %v)", f, all)
			}
		}
		c.Framings = fr
	}
	nfiles := len(c.Framings) * c.FilesPerFraming
	if c.Messages > 0 && c.Messages < 20*nfiles {
		return c, fmt.Errorf("synth: %d messages are too few for %d files (need 20 a file)", c.Messages, nfiles)
	}
	if c.Messages == 0 && c.People < nfiles {
		return c, fmt.Errorf("synth: %d people are too few for %d files", c.People, nfiles)
	}
	return c, nil
}
