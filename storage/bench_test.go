package storage

import (
	"context"
	"fmt"
	"io"
	"testing"
)

// BenchmarkStreamUpload streams 32 MiB objects into each store (the object
// stores are the local servers of .ci/storage-servers.sh) in default-size
// parts; ns/op and MB/s are per object.
func BenchmarkStreamUpload(b *testing.B) {
	const size = 32 << 20
	stores := map[string]func(testing.TB) Config{
		"local":  func(tb testing.TB) Config { return Config{Kind: "local", Dir: tb.TempDir()} },
		"s3":     s3TestConfig,
		"azblob": azTestConfig,
		"gcs":    gcsTestConfig,
	}
	for _, kind := range []string{"local", "s3", "azblob", "gcs"} {
		b.Run(kind, func(b *testing.B) {
			c := stores[kind](b)
			c.PartSize = DefaultPartSize
			st := openTest(b, c)
			ctx := context.Background()
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("jobB/%d.ndjson", i)
				w, err := st.Create(ctx, name)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(w, io.LimitReader(zeros{}, size)); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := st.DeletePrefix(ctx, "jobB/"); err != nil {
				b.Error(err)
			}
		})
	}
}
