package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRelativePath(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"/", ".", true},
		{"/a/b.txt", "a/b.txt", true},
		{"/a//b/./c", "a/b/c", true},
		{"/a%20b", "a b", true},
		{"/../etc/passwd", "", false},
		{"/%2e%2e/etc/passwd", "", false},
		{"/a/..%2f..%2fetc", "", false},
		{"/a/%2E%2E/b", "", false},
		{"/a%00.html", "", false},
		{"/bad%zz", "", false},
		{"relative", "", false},
	}
	for _, c := range cases {
		got, ok := relativePath([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("relativePath(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		spec       string
		start, end int64
		err        error
	}{
		{"bytes=0-4", 0, 4, nil},
		{"bytes=5-", 5, 9, nil},
		{"bytes=-3", 7, 9, nil},
		{"bytes=-30", 0, 9, nil},
		{"bytes=8-100", 8, 9, nil},
		{"bytes=10-", 0, 0, errUnsatisfiable},
		{"bytes=-0", 0, 0, errUnsatisfiable},
		{"bytes=0-1,3-4", 0, 0, errBadRange},
		{"bytes=4-2", 0, 0, errBadRange},
		{"items=0-1", 0, 0, errBadRange},
		{"bytes=x-1", 0, 0, errBadRange},
	}
	for _, c := range cases {
		s, e, err := parseRange(c.spec, 10)
		if err != c.err || (err == nil && (s != c.start || e != c.end)) {
			t.Errorf("parseRange(%q) = %d, %d, %v; want %d, %d, %v", c.spec, s, e, err, c.start, c.end, c.err)
		}
	}
}

func TestAcceptsCoding(t *testing.T) {
	for _, c := range []struct {
		accept, coding string
		want           bool
	}{
		{"gzip, deflate, br", "br", true},
		{"gzip;q=0.5", "gzip", true},
		{"gzip;q=0", "gzip", false},
		{"gzip;q=0.0", "gzip", false},
		{"GZIP", "gzip", true},
		{"identity", "gzip", false},
		{"xgzip", "gzip", false},
	} {
		if got := acceptsCoding([]byte(c.accept), c.coding); got != c.want {
			t.Errorf("acceptsCoding(%q, %q) = %v", c.accept, c.coding, got)
		}
	}
}

// The folder's escape guard: whatever the request path, find never names
// a file outside the root (a symlink out of it included).
func FuzzStaticFind(f *testing.F) {
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "in.txt"), []byte("in"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(dir, "out"))
	os.Symlink("..", filepath.Join(dir, "sub", "up"))
	s, err := newStaticFiles(dir, 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"/in.txt", "/out", "/sub/up/in.txt", "/../etc/passwd", "/%2e%2e/x", "/sub/up/up/etc/passwd"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rel, ok := relativePath([]byte(p))
		if !ok {
			return
		}
		f, name, _, found := s.find(rel)
		if !found {
			return
		}
		f.Close()
		real, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil || !strings.HasPrefix(real, dir+string(filepath.Separator)) {
			t.Fatalf("%q resolved to %q (%v), outside %s", p, real, err, dir)
		}
	})
}
