// Package filekv is the embedded file kvcache backend (type = file): one
// SQLite file, no server, pure Go (modernc.org/sqlite, no cgo). It is the
// Go form of score.kvcache's FileCache.
//
//   - Durable: the file is in WAL mode with synchronous = FULL, so a write
//     whose call returned nil has been fsynced to the write-ahead log. It
//     survives a kill -9 of the process and a crash or power loss of the
//     machine (NORMAL would survive the first but not the second).
//   - Shared: several processes on one host may open the same file (not
//     over NFS or other network file systems: WAL needs shared memory).
//     Writes are transactions that take SQLite's write lock up front
//     (BEGIN IMMEDIATE), so Update is atomic across processes; a process
//     waits for another's lock up to busy_timeout (10s).
//   - Group commit: the writes of one Backend go through one connection
//     and one goroutine that commits whatever is queued as one transaction
//     (one fsync for many concurrent writes), and answers each caller only
//     after that commit.
//   - Expiry: rows carry expires_at (Unix milliseconds); expired rows are
//     invisible to every read at once and deleted by a sweep at open and
//     every SweepInterval, so no other component needs to sweep.
//   - Bounded by the disk only: it never refuses a write for capacity
//     (a full disk is an error, as for any database).
package filekv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"modernc.org/sqlite"

	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/kvcache"
)

// TypeName is the kvcache backend type this package registers.
const TypeName = "file"

// Tuning.
const (
	// BusyTimeout is how long a write waits for another process's write
	// lock (and a read for a lock during WAL recovery) before failing.
	BusyTimeout = 10 * time.Second
	// SweepInterval is how often expired rows are deleted from the file.
	SweepInterval = time.Minute
	// maxBatch bounds how many queued writes one transaction commits.
	maxBatch = 256
	// sweepChunk bounds how many expired rows one sweep transaction deletes.
	sweepChunk = 1000
	// scanBatch is how many keys Scan reads per query.
	scanBatch = 512
	// table and lockTable are the tables the backend keeps in the file.
	table     = "kvcache"
	lockTable = "kvcache_locks"
)

// Backend is a kvcache.Backend on one SQLite file.
type Backend struct {
	name string
	path string
	log  *zap.Logger
	now  func() time.Time

	rdb *sql.DB // readers: a small pool, WAL lets them run beside the writer
	wdb *sql.DB // the one writer connection (BEGIN IMMEDIATE)

	ops  chan *op
	mu   sync.RWMutex // held (R) while sending to ops; Close takes it (W)
	shut bool
	quit chan struct{}
	wg   sync.WaitGroup

	sweepEvery  time.Duration
	sweepCtx    context.Context // cancelled by Close
	sweepCancel context.CancelFunc
}

var (
	_ kvcache.Backend = (*Backend)(nil)
	_ kvcache.Adder   = (*Backend)(nil)
	_ kvcache.Swapper = (*Backend)(nil)
	_ kvcache.Locker  = (*Backend)(nil)
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("kvcache file backend: closed")

// Registration makes the "file" type available to kvcache.New (through the
// fx value group "kvcache_types" or kvcache.WithType).
func Registration() kvcache.TypeRegistration {
	return kvcache.TypeRegistration{Name: TypeName, New: func(name string, cfg kvcache.BackendConfig, log *zap.Logger) (kvcache.Backend, error) {
		return New(name, cfg, log)
	}, Validate: validate}
}

// validate is the Registration's check of a file backend's settings as
// configured: it needs a path (New checks the rest, on the disk).
func validate(b kvcache.BackendConfig, p *config.Problems) {
	if strings.TrimSpace(b.Path) == "" {
		p.Bad("path", b.Path, "the file that holds the cache, e.g. ${here}/_sessions.sqlite3")
	}
}

// New opens (creating when absent) the SQLite file cfg.Path. A relative
// path is taken from the working directory; the folder must exist. A new
// file is created with mode 0600 (SQLite gives its -wal and -shm files the
// same mode): it holds session data.
func New(name string, cfg kvcache.BackendConfig, log *zap.Logger) (*Backend, error) {
	return open(name, cfg, log, options{})
}

// options are test hooks.
type options struct {
	synchronous string // "" = FULL
	sweepEvery  time.Duration
	now         func() time.Time
}

func open(name string, cfg kvcache.BackendConfig, log *zap.Logger, o options) (*Backend, error) {
	if log == nil {
		log = zap.NewNop()
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("kvcache file backend %q: "+format, append([]any{name}, args...)...)
	}
	const want = "want the path of a SQLite file, e.g. path = ${here}/_sessions.sqlite3"
	p := strings.TrimSpace(cfg.Path)
	if p == "" {
		return nil, fail("path is empty: %s", want)
	}
	if p == ":memory:" || strings.HasPrefix(p, "file:") {
		return nil, fail("path %q: %s (a plain file path, not %q or a file: URI)", p, want, ":memory:")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fail("path %q: %v", p, err)
	}
	if fi, err := os.Stat(filepath.Dir(abs)); err != nil || !fi.IsDir() {
		return nil, fail("path %q: folder %s does not exist (create it first)", p, filepath.Dir(abs))
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, fail("path %q is a folder: %s", p, want)
	}
	// Create the file ourselves so that it is private to its owner.
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fail("opening %s: %v", abs, err)
	} else {
		_ = f.Close()
	}
	if cfg.MaxSize != 0 {
		log.Warn("kvcache file backend: max_size is ignored; the file is bounded by the disk only",
			zap.String("backend", name), zap.String("path", abs))
	}
	sync := o.synchronous
	if sync == "" {
		sync = "FULL"
	}
	dsn := "file:" + uriEscape(abs) + "?" + strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds()),
		"_pragma=synchronous(" + sync + ")",
		"_pragma=journal_size_limit(67108864)",
	}, "&")

	b := &Backend{
		name:       name,
		path:       abs,
		log:        log,
		now:        time.Now,
		ops:        make(chan *op, maxBatch),
		quit:       make(chan struct{}),
		sweepEvery: SweepInterval,
	}
	if o.now != nil {
		b.now = o.now
	}
	if o.sweepEvery > 0 {
		b.sweepEvery = o.sweepEvery
	}
	b.wdb, err = sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, b.wrap("open", err)
	}
	b.wdb.SetMaxOpenConns(1)
	b.wdb.SetMaxIdleConns(1)
	b.wdb.SetConnMaxLifetime(0)
	b.wdb.SetConnMaxIdleTime(0)
	if err := b.setup(); err != nil {
		_ = b.wdb.Close()
		return nil, err
	}
	b.rdb, err = sql.Open("sqlite", dsn)
	if err != nil {
		_ = b.wdb.Close()
		return nil, b.wrap("open", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	b.rdb.SetMaxOpenConns(n)
	b.rdb.SetMaxIdleConns(n)
	b.rdb.SetConnMaxLifetime(0)
	b.rdb.SetConnMaxIdleTime(0)
	b.sweepCtx, b.sweepCancel = context.WithCancel(context.Background())
	b.wg.Add(2)
	go b.writer()
	go b.sweeper()
	return b, nil
}

// uriEscape escapes what a SQLite file: URI gives a meaning to.
func uriEscape(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.ToSlash(p))
}

// setup switches the file to WAL and creates the tables. Several processes
// may do it at once: SQLite serializes them (the busy timeout waits), and
// a switch to WAL that finds the file busy is retried.
func (b *Backend) setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), BusyTimeout+5*time.Second)
	defer cancel()
	for {
		var mode string
		err := b.wdb.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil && !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("kvcache file backend %q: %s: the file cannot be switched to WAL mode (journal_mode is %q); is it on a network file system?", b.name, b.path, mode)
		}
		if err == nil {
			break
		}
		if !isBusy(err) || ctx.Err() != nil {
			return b.wrap("PRAGMA journal_mode=WAL", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := b.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
	key TEXT PRIMARY KEY,
	value BLOB NOT NULL,
	expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS `+table+`_expires ON `+table+` (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS `+lockTable+` (
	key TEXT PRIMARY KEY,
	token TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);`)
	if err != nil {
		return b.wrap("creating the tables", err)
	}
	return nil
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == 5 || c == 6 // SQLITE_BUSY, SQLITE_LOCKED
	}
	return false
}

// wrap names the backend, the file and the operation. Keys are left out on
// purpose: they may hold session ids.
func (b *Backend) wrap(op string, err error) error {
	if isBusy(err) {
		return fmt.Errorf("kvcache file backend %q: %s on %s: the file stayed locked by another connection or process for %s: %w", b.name, op, b.path, BusyTimeout, err)
	}
	return fmt.Errorf("kvcache file backend %q: %s on %s: %w", b.name, op, b.path, err)
}

// Name returns the backend's configured name.
func (b *Backend) Name() string { return b.name }

// Path returns the absolute path of the SQLite file.
func (b *Backend) Path() string { return b.path }

// DB returns the reader pool (for diagnostics such as PRAGMA
// integrity_check). Do not write through it.
func (b *Backend) DB() *sql.DB { return b.rdb }

// nowMs is the current time in Unix milliseconds.
func (b *Backend) nowMs() int64 { return b.now().UnixMilli() }

// expiresAt converts a TTL into an expires_at value: nil for none, else now
// plus the TTL rounded up to whole milliseconds.
func expiresAt(now int64, ttl time.Duration) any {
	if ttl <= 0 {
		return nil
	}
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return now + ms
}

// blob makes sure a value is bound as a BLOB, never as NULL.
func blob(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

const live = `(expires_at IS NULL OR expires_at > ?)`

// Get returns the value and its remaining TTL, or kvcache.ErrNotFound.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	now := b.nowMs()
	var (
		v   []byte
		exp sql.NullInt64
	)
	err := b.rdb.QueryRowContext(ctx, `SELECT value, expires_at FROM `+table+` WHERE key = ? AND `+live, key, now).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, kvcache.ErrNotFound
	}
	if err != nil {
		return nil, 0, b.wrap("get", err)
	}
	if v == nil {
		v = []byte{}
	}
	if !exp.Valid {
		return v, 0, nil
	}
	return v, time.Duration(exp.Int64-now) * time.Millisecond, nil
}

// Exists reports whether key is present and unexpired.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	var one int
	err := b.rdb.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE key = ? AND `+live, key, b.nowMs()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, b.wrap("exists", err)
	}
	return true, nil
}

// Scan calls fn for every live key starting with prefix, in key order, a
// batch of keys at a time (no transaction is held while fn runs, so fn may
// write to the backend).
func (b *Backend) Scan(ctx context.Context, prefix string, fn func(key string) error) error {
	upper, bounded := successor(prefix)
	from, incl := prefix, true
	keys := make([]string, 0, scanBatch)
	for {
		q := `SELECT key FROM ` + table + ` WHERE key >= ?`
		if !incl {
			q = `SELECT key FROM ` + table + ` WHERE key > ?`
		}
		args := []any{from}
		if bounded {
			q += ` AND key < ?`
			args = append(args, upper)
		}
		q += ` AND ` + live + ` ORDER BY key LIMIT ?`
		args = append(args, b.nowMs(), scanBatch)
		keys = keys[:0]
		rows, err := b.rdb.QueryContext(ctx, q, args...)
		if err != nil {
			return b.wrap("scan", err)
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				_ = rows.Close()
				return b.wrap("scan", err)
			}
			keys = append(keys, k)
		}
		if err := rows.Err(); err != nil {
			_ = rows.Close()
			return b.wrap("scan", err)
		}
		_ = rows.Close()
		for _, k := range keys {
			if !strings.HasPrefix(k, prefix) {
				continue // defensive: the range is exactly the prefix
			}
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(keys) < scanBatch {
			return nil
		}
		from, incl = keys[len(keys)-1], false
	}
}

// successor is the smallest string greater than every string starting with
// p; false when there is none (p is empty or all 0xff bytes).
func successor(p string) (string, bool) {
	s := []byte(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return string(s[:i+1]), true
		}
	}
	return "", false
}

// Set stores value; ttl <= 0 means no expiry.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	// value is only read before Set returns: the caller keeps its slice.
	return b.submit(ctx, op{kind: opSet, name: "set", key: key, value: blob(value), ttl: ttl})
}

// SetNX stores value only when key is absent or expired (one statement) and
// reports whether it stored.
func (b *Backend) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	value = blob(value)
	var stored bool
	err := b.do(ctx, "set if absent", func(tx *sql.Tx, now int64) error {
		res, err := tx.Exec(`INSERT INTO `+table+` (key, value, expires_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
WHERE `+table+`.expires_at IS NOT NULL AND `+table+`.expires_at <= ?`,
			key, value, expiresAt(now, ttl), now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		stored = n == 1
		return err
	})
	return stored && err == nil, err
}

// CompareAndSwap writes value (nil deletes) only if key is live and still
// holds old (one statement), and reports whether it wrote.
func (b *Backend) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	old = blob(old)
	var swapped bool
	err := b.do(ctx, "compare-and-swap", func(tx *sql.Tx, now int64) error {
		var (
			res sql.Result
			err error
		)
		if value == nil {
			res, err = tx.Exec(`DELETE FROM `+table+` WHERE key = ? AND value = ? AND `+live, key, old, now)
		} else {
			res, err = tx.Exec(`UPDATE `+table+` SET value = ?, expires_at = ? WHERE key = ? AND value = ? AND `+live,
				value, expiresAt(now, ttl), key, old, now)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		swapped = n == 1
		return err
	})
	return swapped && err == nil, err
}

// Delete removes key; an absent key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.submit(ctx, op{kind: opDelete, name: "delete", key: key})
}

// Expire sets a new TTL (<= 0: none) on a live key without rewriting its
// value; kvcache.ErrNotFound when it is absent or expired.
func (b *Backend) Expire(ctx context.Context, key string, ttl time.Duration) error {
	var found bool
	err := b.do(ctx, "expire", func(tx *sql.Tx, now int64) error {
		res, err := tx.Exec(`UPDATE `+table+` SET expires_at = ? WHERE key = ? AND `+live, expiresAt(now, ttl), key, now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		found = n == 1
		return err
	})
	if err == nil && !found {
		return kvcache.ErrNotFound
	}
	return err
}

// Update reads key, calls fn and writes its result in one transaction that
// holds the file's write lock (BEGIN IMMEDIATE): atomic across every
// connection and process on the file, so it never returns
// kvcache.ErrConflict. fn runs on the backend's writer goroutine, inside
// that transaction: it must be quick and must not call the backend's write
// methods (it would wait for itself). A panic in fn is re-raised in the
// caller.
func (b *Backend) Update(ctx context.Context, key string, fn kvcache.UpdateFunc) error {
	return b.do(ctx, "update", func(tx *sql.Tx, now int64) error {
		var (
			old []byte
			exp sql.NullInt64
		)
		found := true
		err := tx.QueryRow(`SELECT value, expires_at FROM `+table+` WHERE key = ? AND `+live, key, now).Scan(&old, &exp)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			found, old = false, nil
		case err != nil:
			return err
		case old == nil:
			old = []byte{}
		}
		value, ttl, err := fn(old, found)
		if err != nil {
			return fnError{err}
		}
		if value == nil {
			if !found {
				return nil
			}
			_, err = tx.Exec(`DELETE FROM `+table+` WHERE key = ?`, key)
			return err
		}
		_, err = tx.Exec(`INSERT INTO `+table+` (key, value, expires_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
			key, value, expiresAt(now, ttl))
		return err
	})
}

// fnError carries an error of the caller's own function: returned as is.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// panicked carries a panic of the caller's function to the caller.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprint("panic: ", p.v) }

// CrossProcess is true: every process that opens the file shares the data.
func (b *Backend) CrossProcess() bool { return true }

// TryLock takes a short lock named after key, kept in a table of its own
// (so Scan never sees it), and returns the function that releases it (only
// if this holder still owns it).
func (b *Backend) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if ttl <= 0 {
		return nil, false, fmt.Errorf("kvcache file backend %q: lock ttl %s: want > 0", b.name, ttl)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	var got bool
	err := b.do(ctx, "lock", func(tx *sql.Tx, now int64) error {
		res, err := tx.Exec(`INSERT INTO `+lockTable+` (key, token, expires_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
WHERE `+lockTable+`.expires_at <= ?`, key, token, expiresAt(now, ttl), now)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		got = n == 1
		return err
	})
	if err != nil || !got {
		return nil, false, err
	}
	unlock := func() {
		err := b.do(context.WithoutCancel(ctx), "unlock", func(tx *sql.Tx, _ int64) error {
			_, err := tx.Exec(`DELETE FROM `+lockTable+` WHERE key = ? AND token = ?`, key, token)
			return err
		})
		if err != nil {
			b.log.Warn("releasing a kvcache lock failed; it expires on its own", zap.String("backend", b.name), zap.Duration("ttl", ttl), zap.Error(err))
		}
	}
	return unlock, true, nil
}

// Sweep deletes expired rows (and expired locks) now, a chunk per
// transaction, and returns how many rows it deleted. It runs on its own at
// open and every SweepInterval; reads never see expired rows either way.
func (b *Backend) Sweep(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		err := b.do(ctx, "sweep", func(tx *sql.Tx, now int64) error {
			res, err := tx.Exec(`DELETE FROM `+table+` WHERE rowid IN (SELECT rowid FROM `+table+` WHERE expires_at <= ? LIMIT ?)`, now, sweepChunk)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			_, err = tx.Exec(`DELETE FROM `+lockTable+` WHERE expires_at <= ?`, now)
			return err
		})
		total += n
		if err != nil || n < sweepChunk {
			return total, err
		}
	}
}

func (b *Backend) sweeper() {
	defer b.wg.Done()
	ctx := b.sweepCtx
	t := time.NewTicker(b.sweepEvery)
	defer t.Stop()
	for {
		if n, err := b.Sweep(ctx); err != nil {
			if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
				b.log.Warn("kvcache file backend: sweeping expired rows failed; reads skip them anyway",
					zap.String("backend", b.name), zap.String("path", b.path), zap.Error(err))
			}
		} else if n > 0 {
			b.log.Debug("kvcache file backend: swept expired rows", zap.String("backend", b.name), zap.Int64("rows", n))
		}
		select {
		case <-b.quit:
			return
		case <-t.C:
		}
	}
}

// op is one write, run by the writer goroutine inside a batch transaction.
type op struct {
	ctx  context.Context
	name string
	done chan error

	kind  opKind
	run   func(tx *sql.Tx, now int64) error // opFunc
	key   string                            // opSet, opDelete
	value []byte                            // opSet
	ttl   time.Duration                     // opSet
}

// opKind tells the writer how to run an op. Runs of consecutive opSet (or
// opDelete) ops in a batch become one multi-row statement, so that a batch
// of concurrent writes costs one statement, not one each.
type opKind uint8

const (
	opFunc opKind = iota
	opSet
	opDelete
)

var opPool = sync.Pool{New: func() any { return &op{done: make(chan error, 1)} }}

// do queues a write and waits until the transaction that holds it has
// committed (or failed).
func (b *Backend) do(ctx context.Context, name string, run func(tx *sql.Tx, now int64) error) error {
	return b.submit(ctx, op{kind: opFunc, name: name, run: run})
}

func (b *Backend) submit(ctx context.Context, spec op) error {
	if err := ctx.Err(); err != nil {
		return b.wrap(spec.name, err)
	}
	o := opPool.Get().(*op)
	done := o.done
	*o = spec
	o.ctx, o.done = ctx, done
	b.mu.RLock()
	if b.shut {
		b.mu.RUnlock()
		*o = op{done: o.done}
		opPool.Put(o)
		return fmt.Errorf("%w (%q, %s)", ErrClosed, b.name, b.path)
	}
	b.ops <- o
	b.mu.RUnlock()
	// Wait for the outcome even when ctx ends: the writer skips an op whose
	// context has ended before it runs, and once it ran the outcome is the
	// commit's, which follows within the busy timeout.
	err := <-o.done
	*o = op{done: o.done}
	opPool.Put(o)
	var p panicked
	if errors.As(err, &p) {
		panic(p.v)
	}
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// writer commits queued writes in batches until Close; the writes queued
// before Close are committed too.
func (b *Backend) writer() {
	defer b.wg.Done()
	batch := make([]*op, 0, maxBatch)
	errs := make([]error, maxBatch)
	for {
		var first *op
		select {
		case first = <-b.ops:
		case <-b.quit:
			// Close holds the lock: nothing more is being sent.
			for {
				select {
				case o := <-b.ops:
					batch = append(batch[:0], o)
					b.commit(batch, errs)
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case o := <-b.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		b.commit(batch, errs)
	}
}

// commit runs batch in one IMMEDIATE transaction and answers every op.
func (b *Backend) commit(batch []*op, errs []error) {
	errs = errs[:len(batch)]
	clear(errs)
	anyRun := false
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			errs[i] = b.wrap(o.name, err)
		} else {
			anyRun = true
		}
	}
	if anyRun {
		tx, err := b.wdb.BeginTx(context.Background(), nil)
		if err != nil {
			for i := range batch {
				if errs[i] == nil {
					errs[i] = b.wrap(batch[i].name+" (begin)", err)
				}
			}
		} else {
			now := b.nowMs()
			var failed error // a database error: the batch is rolled back
			for i := 0; i < len(batch); i++ {
				o := batch[i]
				if errs[i] != nil {
					continue
				}
				if o.kind != opFunc {
					// This op and the following ones of its kind, as one statement.
					j := i + 1
					for j < len(batch) && (batch[j].kind == o.kind || errs[j] != nil) {
						j++
					}
					if err := b.runMany(tx, batch[i:j], errs[i:j], now); err != nil {
						failed = b.wrap(o.name, err)
						break
					}
					i = j - 1
					continue
				}
				err := runOp(o, tx, now)
				switch e := err.(type) {
				case nil:
				case fnError, panicked:
					errs[i] = e // the caller's function failed: nothing was written
				default:
					// SQLite may have rolled the whole transaction back
					// (disk full, I/O error, interrupt): every op fails.
					failed = b.wrap(o.name, err)
				}
				if failed != nil {
					break
				}
			}
			if failed == nil {
				failed = tx.Commit()
				if failed != nil {
					failed = b.wrap("commit", failed)
				}
			} else {
				_ = tx.Rollback()
			}
			if failed != nil {
				for i := range batch {
					var fe fnError
					var p panicked
					if !errors.As(errs[i], &fe) && !errors.As(errs[i], &p) {
						errs[i] = failed
					}
				}
			}
		}
	}
	for i, o := range batch {
		o.done <- errs[i]
	}
}

// runMany runs ops of one kind (opSet or opDelete), skipping those with an
// error already, as one multi-row INSERT ... ON CONFLICT or DELETE ... IN.
// Rows are inserted in order, so the last Set of a key wins.
func (b *Backend) runMany(tx *sql.Tx, ops []*op, errs []error, now int64) error {
	var q strings.Builder
	args := make([]any, 0, 3*len(ops))
	n := 0
	switch ops[0].kind {
	case opSet:
		q.WriteString(`INSERT INTO ` + table + ` (key, value, expires_at) VALUES `)
		for i, o := range ops {
			if errs[i] != nil {
				continue
			}
			if n > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, o.key, o.value, expiresAt(now, o.ttl))
			n++
		}
		q.WriteString(` ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`)
	case opDelete:
		q.WriteString(`DELETE FROM ` + table + ` WHERE key IN (`)
		for i, o := range ops {
			if errs[i] != nil {
				continue
			}
			if n > 0 {
				q.WriteString(", ")
			}
			q.WriteString("?")
			args = append(args, o.key)
			n++
		}
		q.WriteString(")")
	}
	if n == 0 {
		return nil
	}
	_, err := tx.Exec(q.String(), args...)
	return err
}

// runOp runs one op, turning a panic of the caller's function into an
// error that do re-raises in the caller.
func runOp(o *op, tx *sql.Tx, now int64) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return o.run(tx, now)
}

// Close commits the writes already queued, stops the sweep and closes the
// file. Writes after Close fail with ErrClosed.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.shut {
		b.mu.Unlock()
		return nil
	}
	b.shut = true
	b.mu.Unlock()
	b.sweepCancel()
	close(b.quit)
	b.wg.Wait()
	return errors.Join(b.rdb.Close(), b.wdb.Close())
}
