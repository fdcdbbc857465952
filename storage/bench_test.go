package storage_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/iisbridge/iisbridge/storage"
	"github.com/iisbridge/iisbridge/storage/storagetest"
)

// BenchmarkStreamUpload streams 32 MiB objects into each store (the object
// stores are the local servers of .ci/storage-servers.sh) in default-size
// parts; ns/op and MB/s are per object.
func BenchmarkStreamUpload(b *testing.B) {
	const size = 32 << 20
	for _, kind := range append([]string{"local"}, storagetest.Kinds...) {
		b.Run(kind, func(b *testing.B) {
			c := storage.Config{Kind: "local", Dir: b.TempDir()}
			if kind != "local" {
				c = storagetest.Config(b, kind)
			}
			c.PartSize = storage.DefaultPartSize
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
				if _, err := io.Copy(w, io.LimitReader(storage.Zeros{}, size)); err != nil {
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
