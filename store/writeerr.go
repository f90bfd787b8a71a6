package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// WriteError is a failure to make something durable in the run store
// because of the disk or the file system (full, read-only, no permission,
// I/O error), as opposed to a refused write. The CLI maps it to exit
// code 3 and prints the path and the OS error.
type WriteError struct {
	Path string // the database file
	Err  error  // SQLite's error
}

func (e *WriteError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), "run store "+e.Path+": ")
	var se sqlite3.Error
	if errors.As(e.Err, &se) && se.SystemErrno != 0 && !strings.Contains(msg, se.SystemErrno.Error()) {
		msg = fmt.Sprintf("%s: %s", msg, se.SystemErrno.Error())
	}
	return fmt.Sprintf("cannot write the run store %s: %s", e.Path, msg)
}

func (e *WriteError) Unwrap() error { return e.Err }

// asWriteError wraps err in a WriteError when it comes from the disk or
// the file system; other errors are returned as they are.
func (s *SQLite) asWriteError(err error) error {
	var se sqlite3.Error
	var we *WriteError
	if err == nil || errors.As(err, &we) || !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrIoErr, sqlite3.ErrReadonly, sqlite3.ErrFull, sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
		return &WriteError{Path: s.path, Err: err}
	}
	return err
}
