package storage

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func init() { Register("local", openLocal) }

// local keeps objects as files under Dir/Prefix; the server serves them
// itself, and its signed URLs point back at the server's file route.
type local struct {
	root   string
	signer Signer
}

const partSuffix = ".part" // an upload in progress: "job/.file.<random>.part"

func openLocal(_ context.Context, c Config) (Store, error) {
	if c.Dir == "" {
		return nil, errors.New("storage local: no directory configured")
	}
	root := c.Dir
	if c.Prefix != "" {
		if err := checkPrefix(c.Prefix); err != nil {
			return nil, err
		}
		root = filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(c.Prefix, "/")))
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("storage local: %w", err)
	}
	return &local{root: root, signer: c.Signer}, nil
}

func (l *local) path(name string) string { return filepath.Join(l.root, filepath.FromSlash(name)) }

func (l *local) Create(_ context.Context, name string) (Writer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	final := l.path(name)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return nil, opError("local", "create", name, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+"."+hex.EncodeToString(rnd[:])+partSuffix)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, opError("local", "create", name, err)
	}
	return &localWriter{f: f, bw: bufio.NewWriterSize(f, 64<<10), tmp: tmp, final: final, name: name}, nil
}

type localWriter struct {
	f          *os.File
	bw         *bufio.Writer
	tmp, final string
	name       string
	done       bool
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("storage: write after close")
	}
	n, err := w.bw.Write(p)
	return n, opError("local", "write", w.name, err)
}

// Close flushes, syncs and renames into place, so a crash leaves either the
// whole file or a .part file that CleanIncomplete removes.
func (w *localWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	err := w.bw.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.tmp, w.final)
	}
	if err != nil {
		os.Remove(w.tmp)
		return opError("local", "close", w.name, err)
	}
	return nil
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return opError("local", "abort", w.name, err)
	}
	return nil
}

func (l *local) Stat(_ context.Context, name string) (Info, error) {
	if err := CheckName(name); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(l.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, opError("local", "stat", name, ErrNotExist)
	}
	if err != nil {
		return Info{}, opError("local", "stat", name, err)
	}
	return Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (l *local) Open(ctx context.Context, name string) (io.ReadSeekCloser, Info, error) {
	info, err := l.Stat(ctx, name)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(l.path(name))
	if err != nil {
		return nil, Info{}, opError("local", "open", name, err)
	}
	return f, info, nil
}

func (l *local) Delete(_ context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := os.Remove(l.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return opError("local", "delete", name, err)
	}
	return nil
}

// DeletePrefix removes a directory prefix ("job/") whole, including uploads
// in progress; any other prefix removes the matching files.
func (l *local) DeletePrefix(ctx context.Context, prefix string) error {
	if err := checkPrefix(prefix); err != nil || prefix == "" {
		return fmt.Errorf("storage local: refusing to delete prefix %q", prefix)
	}
	if strings.HasSuffix(prefix, "/") {
		if err := os.RemoveAll(l.path(strings.TrimSuffix(prefix, "/"))); err != nil {
			return opError("local", "delete prefix", prefix, err)
		}
		return nil
	}
	return l.walk(prefix, true, func(rel string, _ fs.FileInfo) error { return l.Delete(ctx, rel) })
}

func (l *local) List(_ context.Context, prefix string, fn func(Info) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	return l.walk(prefix, false, func(rel string, fi fs.FileInfo) error {
		return fn(Info{Name: rel, Size: fi.Size(), ModTime: fi.ModTime()})
	})
}

// walk calls fn for committed files (or, with parts, also .part files) whose
// relative name starts with prefix.
func (l *local) walk(prefix string, parts bool, fn func(rel string, fi fs.FileInfo) error) error {
	// Walk from the deepest directory the prefix names.
	start := l.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = l.path(prefix[:i])
	}
	err := filepath.Walk(start, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if fi.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		isPart := strings.HasSuffix(rel, partSuffix)
		if !strings.HasPrefix(rel, prefix) || (isPart && !parts) {
			return nil
		}
		return fn(rel, fi)
	})
	if err != nil {
		return opError("local", "list", prefix, err)
	}
	return nil
}

// CleanIncomplete removes .part files a crash left behind.
func (l *local) CleanIncomplete(_ context.Context, prefix string, olderThan time.Time) (int, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	n := 0
	err := l.walk(prefix, true, func(rel string, fi fs.FileInfo) error {
		if strings.HasSuffix(rel, partSuffix) && fi.ModTime().Before(olderThan) {
			if err := os.Remove(l.path(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// SignedURL signs a URL to the server's own file route; the name must be
// "job/file" (file may be a path, "output/Patient.ndjson").
func (l *local) SignedURL(_ context.Context, name string, p URLParams) (string, error) {
	if l.signer == nil {
		return "", errors.New("storage local: no URL signer configured")
	}
	job, file, ok := strings.Cut(name, "/")
	if !ok || CheckName(name) != nil {
		return "", fmt.Errorf("storage local: signed URLs need a \"job/file\" name, not %q", name)
	}
	if p.Base == "" || p.TTL <= 0 {
		return "", errors.New("storage local: signed URL needs a base URL and a positive TTL")
	}
	return l.signer.Sign(p.Base, SignedFile{Job: job, File: file, Client: p.Client, Expires: time.Now().Add(p.TTL)})
}
