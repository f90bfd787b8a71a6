package schedule

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// fileScans lists folders for file sensors, each folder once: the file
// sensors of one daemon tick often watch the same folder with different
// globs, and listing it (and stating its files) per sensor was most of an
// idle tick. A fileScans lives for one tick; it is safe for concurrent
// use.
type fileScans struct {
	mu    sync.Mutex
	roots map[string]*folderScan
}

func newFileScans() *fileScans { return &fileScans{roots: map[string]*folderScan{}} }

// folderScan is one folder's listing, made by the first sensor asking.
type folderScan struct {
	once  sync.Once
	files []*scannedFile
	err   error
}

// scannedFile is a regular file or a symbolic link under a watched folder.
// Its modification time and size are read on first use (only files some
// glob matches are stated) and then shared.
type scannedFile struct {
	rel, path string // slash-separated relative path; full path
	once      sync.Once
	st        [2]int64
	ok        bool // false: vanished, a dangling link, or a link to a folder
	err       error
}

// scan returns the files under root (none when root does not exist).
func (sc *fileScans) scan(root string) ([]*scannedFile, error) {
	sc.mu.Lock()
	r := sc.roots[root]
	if r == nil {
		r = &folderScan{}
		sc.roots[root] = r
	}
	sc.mu.Unlock()
	r.once.Do(func() { r.files, r.err = listFolder(root) })
	return r.files, r.err
}

func listFolder(root string) ([]*scannedFile, error) {
	var files []*scannedFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, &scannedFile{rel: filepath.ToSlash(rel), path: p})
		return nil
	})
	return files, err
}

// stat returns the file's modification time (Unix nanoseconds) and size,
// following a link; ok is false when there is no file to report.
func (f *scannedFile) stat() (st [2]int64, ok bool, err error) {
	f.once.Do(func() {
		info, err := os.Stat(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// vanished (or a dangling link)
		case err != nil:
			f.err = err
		case !info.IsDir():
			f.st, f.ok = [2]int64{info.ModTime().UnixNano(), info.Size()}, true
		}
	})
	return f.st, f.ok, f.err
}
