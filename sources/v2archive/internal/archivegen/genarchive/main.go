// Command genarchive writes a synthetic VXU archive for load tests:
//
//	go run ./sources/v2archive/internal/archivegen/genarchive -size 1G -o /tmp/x.hl7
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/iisbridge/iisbridge/sources/v2archive/internal/archivegen"
)

func main() {
	size := flag.String("size", "100M", "bytes to write (before compression); K, M, G suffixes")
	out := flag.String("o", "", "output file (required)")
	gz := flag.Bool("gzip", false, "gzip the output")
	seed := flag.Int("seed", 0, "first message number")
	flag.Parse()
	n, err := parseSize(*size)
	if err != nil || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: genarchive -size 1G -o FILE [-gzip]")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genarchive:", err)
		os.Exit(1)
	}
	var w io.Writer = f
	var z *gzip.Writer
	if *gz {
		z = gzip.NewWriter(f)
		w = z
	}
	msgs, err := archivegen.Write(w, n, *seed)
	if err == nil && z != nil {
		err = z.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genarchive:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genarchive: %d messages written to %s\n", msgs, *out)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}
