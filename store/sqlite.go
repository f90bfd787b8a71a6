package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// SQLite is the default Store: one SQLite file in WAL mode.
//
// All writes go through one goroutine that commits whatever is pending in a
// single transaction (group commit) and then acknowledges each caller, so
// many concurrent Record calls cost one commit. Reads use their own
// connections and never wait for writes. Several processes may open the
// same file: write transactions take SQLite's write lock up front and wait
// up to the busy timeout for it.
type SQLite struct {
	path  string
	rdb   *sql.DB // readers
	wdb   *sql.DB // one connection, used only by the writer goroutine
	ops   chan *writeOp
	quit  chan struct{}
	wdone chan struct{}

	mu     sync.RWMutex // guards closed against sends racing Close
	closed bool
	once   sync.Once
	cerr   error

	now   func() time.Time
	pid   int
	host  string
	alive func(pid int) bool

	commits atomic.Int64 // transactions committed by the writer (tests, benchmarks)
}

// Option configures Open.
type Option func(*SQLite)

// WithClock replaces time.Now for run, heartbeat, lock and tick times.
func WithClock(now func() time.Time) Option { return func(s *SQLite) { s.now = now } }

// WithPID sets the process id recorded as the owner of runs, locks and the
// daemon lock (default os.Getpid()).
func WithPID(pid int) Option { return func(s *SQLite) { s.pid = pid } }

// WithProcessCheck replaces the test of whether a process on this host is
// still alive (default: signal 0).
func WithProcessCheck(alive func(pid int) bool) Option {
	return func(s *SQLite) { s.alive = alive }
}

// busyTimeout is how long a write waits for another process's write lock.
const busyTimeout = 10 * time.Second

// maxBatch bounds the writes committed together.
const maxBatch = 512

// Open opens (creating the folder and file when missing) the SQLite store at
// path, typically <project>/.elt/elt.db, and brings its schema up to date.
func Open(ctx context.Context, path string, opts ...Option) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("open run store: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open run store %s: %w", path, err)
	}
	host, _ := os.Hostname()
	s := &SQLite{
		path:  path,
		ops:   make(chan *writeOp, maxBatch),
		quit:  make(chan struct{}),
		wdone: make(chan struct{}),
		now:   time.Now,
		pid:   os.Getpid(),
		host:  host,
		alive: processAlive,
	}
	for _, o := range opts {
		o(s)
	}
	s.wdb = sql.OpenDB(connector{dsn: dsn(path, true), driver: &sqlite3.SQLiteDriver{ConnectHook: writerPragmas}})
	// One long-lived writer connection: its statement cache stays warm.
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	// Two processes creating the file at once can see SQLITE_BUSY while
	// one of them switches it to WAL, which the busy timeout does not
	// cover: try again briefly.
	var merr error
	for attempt := 0; attempt < 20; attempt++ {
		if merr = migrateWith(ctx, s.wdb, path, migrations, s.now); merr == nil || !isBusy(merr) {
			break
		}
		select {
		case <-ctx.Done():
			merr = ctx.Err()
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
			continue
		}
		break
	}
	if merr != nil {
		s.wdb.Close()
		return nil, merr
	}
	s.rdb = sql.OpenDB(connector{dsn: dsn(path, false), driver: &sqlite3.SQLiteDriver{}})
	s.rdb.SetMaxOpenConns(4)
	s.rdb.SetMaxIdleConns(4)
	go s.writeLoop()
	return s, nil
}

// dsn builds the connection string: WAL, NORMAL sync (durable against a
// killed process; only a power loss can drop the last commits), foreign
// keys, a busy timeout, cached prepared statements, and for the writer
// BEGIN IMMEDIATE so the write lock is taken before reading.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_stmt_cache_size", "64")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// walCheckpointPages is how many WAL pages (4 KiB each) a commit may leave
// before it copies them back into the database file. SQLite's default of
// 1000 makes one commit in a few hundred pay for a checkpoint and its
// fsyncs; the pages rewritten most (the tails of events and of indexes) are
// copied once per checkpoint however often they changed, so checkpointing
// less often does less work in total. The WAL is removed on Close.
const walCheckpointPages = 10000

func writerPragmas(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walCheckpointPages), nil)
	return err
}

// connector opens connections with a driver value of our own, so the store
// needs no globally registered driver for its connect hook.
type connector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.driver }

// Path returns the file the store lives in.
func (s *SQLite) Path() string { return s.path }

// Close commits pending writes and closes the database. It is safe to call
// more than once.
func (s *SQLite) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.quit)
		<-s.wdone
		s.cerr = errors.Join(s.rdb.Close(), s.wdb.Close())
	})
	return s.cerr
}

// writeOp is one unit of work for the writer goroutine. fn runs inside the
// shared transaction under its own savepoint, so a failing op leaves the
// others of its batch intact.
type writeOp struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error // buffered, 1
}

// write runs fn in the writer goroutine and returns once its transaction is
// committed (or fn failed).
func (s *SQLite) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-op.done:
		return s.asWriteError(err)
	case <-ctx.Done():
		// The write may still commit; the caller stopped waiting.
		return ctx.Err()
	}
}

func (s *SQLite) writeLoop() {
	defer close(s.wdone)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-s.ops:
			batch = append(batch[:0], op)
		case <-s.quit:
			// Close waited for every sender, so the channel holds all
			// that is left.
			for {
				batch = batch[:0]
				for len(batch) < maxBatch {
					select {
					case op := <-s.ops:
						batch = append(batch, op)
						continue
					default:
					}
					break
				}
				if len(batch) == 0 {
					return
				}
				s.commit(batch)
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-s.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch of ops in one transaction and reports to each.
func (s *SQLite) commit(batch []*writeOp) {
	ctx := context.Background() // a caller giving up must not abort the others
	errs := make([]error, len(batch))
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		err = fmt.Errorf("run store %s: begin: %w", s.path, err)
		for _, op := range batch {
			op.done <- err
		}
		return
	}
	ok := 0
	if len(batch) == 1 {
		errs[0] = runOp(batch[0], tx)
		if errs[0] == nil {
			ok++
		}
	} else {
		for i, op := range batch {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
				errs[i] = err
				continue
			}
			if errs[i] = runOp(op, tx); errs[i] != nil {
				_, _ = tx.ExecContext(ctx, "ROLLBACK TO op")
			} else {
				ok++
			}
			if _, err := tx.ExecContext(ctx, "RELEASE op"); err != nil && errs[i] == nil {
				errs[i] = err
				ok--
			}
		}
	}
	if ok == 0 {
		_ = tx.Rollback()
	} else if err := tx.Commit(); err == nil {
		s.commits.Add(1)
	} else {
		err = fmt.Errorf("run store %s: commit: %w", s.path, err)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	for i, op := range batch {
		op.done <- errs[i]
	}
}

func runOp(op *writeOp, tx *sql.Tx) error {
	if err := op.ctx.Err(); err != nil {
		return err
	}
	return op.fn(tx)
}

// isBusy reports SQLite's "database is locked" / "busy" errors.
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return strings.Contains(err.Error(), "database is locked")
}
