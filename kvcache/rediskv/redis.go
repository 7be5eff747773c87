// Package rediskv is the Redis kvcache backend (type = redis), built on
// github.com/redis/rueidis: one server, a Redis Cluster (several seed
// addresses, or cluster = true) or a Sentinel-managed primary
// (?master_set=name). Reads may be served by rueidis' server-assisted
// client-side cache (client_cache = true): repeated reads of a key on one
// instance need no round trip and Redis invalidates them when any instance
// writes. Every decision that leads to a write (Update, the lock behind
// kvcache.GetOrCreate) reads from the server, never from that cache.
package rediskv

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/zap"

	"github.com/sessionfx/session/config"
	"github.com/sessionfx/session/internal/retry"
	"github.com/sessionfx/session/kvcache"
)

// Defaults applied when the configuration leaves a field at zero.
const (
	DefaultClientCacheTTL = 30 * time.Second
	DefaultDialTimeout    = 2 * time.Second
	DefaultCommandTimeout = 2 * time.Second
	// DefaultWaitTimeout is wait_timeout when wait_replicas is set and it is not.
	DefaultWaitTimeout = 100 * time.Millisecond
	// SentinelRefreshInterval is how often the client re-asks the Sentinels
	// for the primary, on top of following their +switch-master events.
	SentinelRefreshInterval = 2 * time.Second
)

// Update retry policy: optimistic compare-and-set attempts before ErrConflict.
const (
	maxUpdateAttempts = 100
	maxUpdateBackoff  = 32 * time.Millisecond
	scanCount         = 256
	lockNamespace     = "kvcache-lock:"
)

// Topology is how a Backend reaches Redis.
type Topology string

const (
	// Single is one server (ForceSingleClient).
	Single Topology = "single"
	// Cluster is a Redis Cluster: rueidis follows its slots and redirects.
	Cluster Topology = "cluster"
	// Sentinel is a primary found (and followed across failovers) through Sentinels.
	Sentinel Topology = "sentinel"
)

// Backend is a kvcache.Backend on one Redis server, a Redis Cluster or a
// Sentinel-managed primary.
type Backend struct {
	name         string
	addr         string // for messages: the server, the seeds or the Sentinels
	topology     Topology
	client       rueidis.Client
	clientCache  bool
	cacheTTL     time.Duration
	cmdTimeout   time.Duration
	waitReplicas int
	waitTimeout  time.Duration
	log          *zap.Logger
	recent       *recentWrites // with the client cache: keys this instance just wrote

	cacheHits, cacheMisses atomic.Uint64 // reads with the client cache on (ClientCacheStats)
}

// ClientCacheStats returns how many reads (Get) the client-side cache
// served since the backend was created (hits), and how many went to the
// server while it was on (misses: not cached yet, invalidated, or a key
// this instance had just written). Both stay 0 when client_cache is off.
// The session manager's telemetry reports them as
// session.kvcache.redis.client_cache.hits and .misses.
func (b *Backend) ClientCacheStats() (hits, misses uint64) {
	return b.cacheHits.Load(), b.cacheMisses.Load()
}

var (
	_ kvcache.Backend      = (*Backend)(nil)
	_ kvcache.Locker       = (*Backend)(nil)
	_ kvcache.DirectReader = (*Backend)(nil)
)

// Registration makes the "redis" type available to kvcache.New (through the
// fx value group "kvcache_types" or kvcache.WithType).
func Registration() kvcache.TypeRegistration {
	return kvcache.TypeRegistration{Name: "redis", New: func(name string, cfg kvcache.BackendConfig, log *zap.Logger) (kvcache.Backend, error) {
		return New(name, cfg, log)
	}, Validate: validate}
}

// validate is the Registration's check of a redis backend's settings as
// configured: its url (the problem named, the password never shown), the
// floors of its durations and its pool_size.
func validate(b kvcache.BackendConfig, p *config.Problems) {
	if problem := urlProblem(b.URL); problem != "" {
		p.BadBecause("url", b.URL, problem, "a URL like redis://127.0.0.1:6379/0 or rediss://user:password@host:6380/0")
	}
	for _, d := range []struct {
		key     string
		v       time.Duration
		allowed string
	}{
		{"client_cache_ttl", b.ClientCacheTTL, "0 (the default, 30s) or at least 1ms"},
		{"dial_timeout", b.DialTimeout, "0 (the default, 2s) or at least 1ms"},
		{"command_timeout", b.CommandTimeout, "0 (the default, 2s) or at least 1ms"},
	} {
		if d.v < 0 || (d.v > 0 && d.v < MinDuration) {
			p.Bad(d.key, d.v, d.allowed)
		}
	}
	if b.PoolSize < 0 {
		p.Bad("pool_size", b.PoolSize, "a whole number, 0 or more (0 = client default)")
	}
}

// urlProblem says what is wrong with a redis backend URL ("" when
// nothing), without repeating any part of it: it may hold a password.
func urlProblem(raw string) string {
	u, err := config.ParseURLSafely(raw)
	switch {
	case err != nil:
		return err.Error()
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return "its scheme is not redis:// or rediss://"
	case u.Opaque != "":
		return `it has no "//" after the scheme`
	case u.Hostname() == "":
		return "it names no host"
	}
	if p := strings.TrimPrefix(u.Path, "/"); u.Path != "" {
		if _, err := strconv.Atoi(p); err != nil || strings.Contains(p, "/") {
			return "its path is not a database number like /0"
		}
	}
	return ""
}

// MinDuration is the smallest positive client_cache_ttl, dial_timeout and
// command_timeout (and URL ?dial_timeout= / ?write_timeout=) New accepts:
// below it no round trip completes, so every command would fail (and a
// sub-millisecond cache TTL truncates to 0 in the TTL arithmetic).
const MinDuration = time.Millisecond

// New connects a Redis backend. cfg.URL is a redis:// or rediss:// URL
// (rueidis.ParseURL: user, password, db path, dial_timeout, ...):
//   - one address: one server;
//   - several (redis://h1:p1?addr=h2:p2&addr=h3:p3), or cfg.Cluster: the
//     seeds of a Redis Cluster (database 0 only);
//   - ?master_set=name: the address(es) are Sentinels and the backend
//     follows the primary they name (?sentinel_username= and
//     ?sentinel_password= authenticate to the Sentinels; the URL's
//     user:password is the primary's).
//
// If one server cannot be reached at start the backend is still returned (a
// warning is logged): commands fail with a clear error until Redis is up,
// and rueidis reconnects on its own. A cluster or Sentinel setup needs one
// seed (Sentinel) reachable at start: New fails otherwise. A malformed URL
// is an error; no error shows the URL's password (a URL that does not parse
// is not shown at all).
func New(name string, cfg kvcache.BackendConfig, log *zap.Logger) (*Backend, error) {
	if log == nil {
		log = zap.NewNop()
	}
	const want = "want redis://host:port/db or rediss://host:port/db"
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, fmt.Errorf("kvcache redis backend %q: url is empty: %s", name, want)
	}
	u, err := kvcache.ParseURLSafely(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("kvcache redis backend %q: url: %s: %v (%s)", name, kvcache.HiddenURL, err, want)
	}
	shown := strconv.Quote(kvcache.RedactURL(cfg.URL))
	if u.Host == "" && u.Scheme != "unix" {
		// rueidis would dial localhost:6379 (with the URL's credentials).
		return nil, fmt.Errorf("kvcache redis backend %q: url %s names no host (%s)", name, shown, want)
	}
	opt, err := rueidis.ParseURL(cfg.URL)
	if err != nil {
		// rueidis' own errors (scheme, db number, query parameters) quote
		// parts of the URL: make sure none of them is the password.
		return nil, fmt.Errorf("kvcache redis backend %q: url %s: %s (%s)", name, shown, scrubPassword(err.Error(), u), want)
	}
	q := u.Query()
	topo := Single
	switch {
	case opt.Sentinel.MasterSet != "":
		topo = Sentinel
		if cfg.Cluster {
			return nil, fmt.Errorf("kvcache redis backend %q: url %s names a Sentinel master set (?master_set=) and cluster = true: choose one", name, shown)
		}
		opt.Sentinel.Username = q.Get("sentinel_username")
		opt.Sentinel.Password = q.Get("sentinel_password")
	case cfg.Cluster || len(opt.InitAddress) > 1:
		topo = Cluster
		if opt.SelectDB != 0 {
			return nil, fmt.Errorf("kvcache redis backend %q: url %s selects database %d: a Redis Cluster has only database 0", name, shown, opt.SelectDB)
		}
	}
	if cfg.PoolSize < 0 || cfg.DialTimeout < 0 || cfg.CommandTimeout < 0 || cfg.ClientCacheTTL < 0 || cfg.WaitReplicas < 0 || cfg.WaitTimeout < 0 {
		return nil, fmt.Errorf("kvcache redis backend %q: pool_size, dial_timeout, command_timeout, client_cache_ttl, wait_replicas and wait_timeout must not be negative", name)
	}
	for _, d := range []struct {
		key     string
		v, def  time.Duration
		fromURL bool
	}{
		{"client_cache_ttl", cfg.ClientCacheTTL, DefaultClientCacheTTL, false},
		{"dial_timeout", cfg.DialTimeout, DefaultDialTimeout, false},
		{"command_timeout", cfg.CommandTimeout, DefaultCommandTimeout, false},
		{"wait_timeout", cfg.WaitTimeout, DefaultWaitTimeout, false},
		{"url ?dial_timeout=", opt.Dialer.Timeout, 0, true},
		{"url ?write_timeout=", opt.ConnWriteTimeout, 0, true},
	} {
		if (d.fromURL && d.v < 0) || (d.v > 0 && d.v < MinDuration) {
			if d.fromURL {
				return nil, fmt.Errorf("kvcache redis backend %q: %s%s: want at least %s", name, d.key, d.v, MinDuration)
			}
			return nil, fmt.Errorf("kvcache redis backend %q: %s = %s: want 0 (the default, %s) or at least %s", name, d.key, d.v, d.def, MinDuration)
		}
	}
	b := &Backend{
		name:         name,
		addr:         opt.InitAddress[0],
		topology:     topo,
		clientCache:  cfg.ClientCache,
		cacheTTL:     orDefault(cfg.ClientCacheTTL, DefaultClientCacheTTL),
		cmdTimeout:   orDefault(cfg.CommandTimeout, DefaultCommandTimeout),
		waitReplicas: cfg.WaitReplicas,
		log:          log,
	}
	if b.clientCache {
		b.recent = newRecentWrites()
	}
	switch topo {
	case Cluster:
		b.addr = "cluster " + strings.Join(opt.InitAddress, ",")
	case Sentinel:
		b.addr = "primary " + strconv.Quote(opt.Sentinel.MasterSet) + " via sentinel " + strings.Join(opt.InitAddress, ",")
	}
	if cfg.WaitReplicas > 0 {
		b.waitTimeout = orDefault(cfg.WaitTimeout, DefaultWaitTimeout)
		if b.waitTimeout >= b.cmdTimeout {
			return nil, fmt.Errorf("kvcache redis backend %q: wait_timeout = %s: want less than command_timeout (%s), or the command times out first", name, b.waitTimeout, b.cmdTimeout)
		}
	} // else wait_timeout is unused (kept so that wait_replicas alone toggles the wait)
	// Configured keys win over the URL's ?dial_timeout= / ?write_timeout=,
	// which win over the defaults.
	if cfg.DialTimeout > 0 || opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = orDefault(cfg.DialTimeout, DefaultDialTimeout)
	}
	if cfg.CommandTimeout > 0 || opt.ConnWriteTimeout == 0 {
		// A dead connection is detected within the command timeout rather
		// than after rueidis' default of ten keep-alive periods.
		opt.ConnWriteTimeout = max(b.cmdTimeout, time.Second)
	}
	opt.DisableCache = !cfg.ClientCache
	if cfg.ClientCache {
		// One pipelined connection (per node on a cluster): rueidis sends a
		// write to a random connection but a cached read to one chosen by
		// key, so with several the invalidation of our own cached copy could
		// trail the write's reply on another connection. On one, the keyed
		// no-op that rides with every write (below) orders it.
		opt.PipelineMultiplex = -1
	}
	if cfg.PoolSize > 0 {
		opt.BlockingPoolSize = cfg.PoolSize
	}
	switch topo {
	case Single:
		// One server: skip cluster discovery, and keep the client even when
		// the first dial fails so the app can start while Redis is down.
		opt.ForceSingleClient = true
	case Sentinel:
		// rueidis dials Sentinels with their own dialer: give it the same
		// timeout (its zero value would wait for the OS).
		opt.Sentinel.Dialer = opt.Dialer
		opt.Sentinel.TLSConfig = opt.TLSConfig
		opt.Sentinel.TopologyRefreshInterval = SentinelRefreshInterval
	}
	client, err := rueidis.NewClient(opt)
	if client == nil {
		return nil, fmt.Errorf("kvcache redis backend %q at %s: %s", name, b.addr, scrubPassword(scrubSentinelPassword(err.Error(), q), u))
	}
	if err != nil {
		log.Warn("redis not reachable at start; commands fail until it is up",
			zap.String("backend", name), zap.String("addr", b.addr), zap.Error(err))
	}
	if topo == Cluster && client.Mode() != rueidis.ClientModeCluster {
		client.Close()
		return nil, fmt.Errorf("kvcache redis backend %q at %s: cluster = true but the server is not in cluster mode (remove cluster = true for one server)", name, b.addr)
	}
	b.client = client
	return b, nil
}

// scrubSentinelPassword hides ?sentinel_password= in msg.
func scrubSentinelPassword(msg string, q url.Values) string {
	if pw := q.Get("sentinel_password"); pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// Topology reports whether the backend is on one server, a cluster or a
// Sentinel-managed primary.
func (b *Backend) Topology() Topology { return b.topology }

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// scrubPassword replaces u's password, decoded or as written, in msg.
func scrubPassword(msg string, u *url.URL) string {
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "xxxxx")
	if raw := u.User.String(); strings.Contains(raw, ":") {
		msg = strings.ReplaceAll(msg, raw[strings.IndexByte(raw, ':')+1:], "xxxxx")
	}
	return msg
}

// Name returns the backend's configured name.
func (b *Backend) Name() string { return b.name }

// Client exposes the rueidis client (for pub/sub or diagnostics).
func (b *Backend) Client() rueidis.Client { return b.client }

// ClientCache reports whether reads may be served from the client-side cache.
func (b *Backend) ClientCache() bool { return b.clientCache }

func (b *Backend) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= b.cmdTimeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.cmdTimeout)
}

// wrap names the backend, the server and the operation. Keys are left out
// on purpose: they may hold session ids.
func (b *Backend) wrap(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("kvcache redis backend %q: %s: no reply from %s within %s (is redis up?): %w", b.name, op, b.addr, b.cmdTimeout, err)
	}
	return fmt.Errorf("kvcache redis backend %q: %s on %s: %w", b.name, op, b.addr, err)
}

// px converts a TTL to whole milliseconds, rounding up so that a positive
// TTL never becomes "no expiry" or an invalid PX 0.
func px(ttl time.Duration) int64 {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return ms
}

// Get returns the value and its remaining TTL in one round trip (GET and
// PTTL pipelined), or none at all when the client-side cache holds both.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	if !b.clientCache {
		return b.getDirect(ctx, key)
	}
	if b.recent.has(key) {
		// A key this instance wrote a moment ago was just invalidated in
		// its cache: a cached read would miss and pay for the caching
		// handshake on top of the GET. Read it plainly until it rests.
		b.cacheMisses.Add(1)
		return b.getDirect(ctx, key)
	}
	res := b.client.DoMultiCache(ctx,
		rueidis.CT(b.client.B().Get().Key(key).Cache(), b.cacheTTL),
		rueidis.CT(b.client.B().Pttl().Key(key).Cache(), b.cacheTTL))
	if res[0].IsCacheHit() {
		b.cacheHits.Add(1)
	} else {
		b.cacheMisses.Add(1)
	}
	s, err := res[0].ToString()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, 0, kvcache.ErrNotFound
		}
		return nil, 0, b.wrap("GET", err)
	}
	pttl, err := res[1].AsInt64()
	if err != nil {
		return nil, 0, b.wrap("PTTL", err)
	}
	if pttl == -2 {
		return nil, 0, kvcache.ErrNotFound
	}
	ttl := time.Duration(0)
	if pttl >= 0 {
		if res[1].IsCacheHit() {
			// The cached PTTL was true when it was fetched. rueidis stamps
			// the entry with min(fetch+pttl, fetch+cacheTTL); recover the
			// fetch time from that stamp to age the TTL.
			fetched := res[1].CachePXAT() - min(pttl, b.cacheTTL.Milliseconds())
			pttl -= time.Now().UnixMilli() - fetched
			if pttl <= 0 {
				return nil, 0, kvcache.ErrNotFound
			}
		}
		ttl = time.Duration(pttl) * time.Millisecond
	}
	// The string is shared with the client-side cache: hand out a copy.
	return []byte(s), ttl, nil
}

// GetDirect reads key and its TTL from the server, bypassing the
// client-side cache (kvcache.DirectReader).
func (b *Backend) GetDirect(ctx context.Context, key string) ([]byte, time.Duration, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.getDirect(ctx, key)
}

func (b *Backend) getDirect(ctx context.Context, key string) ([]byte, time.Duration, error) {
	res := b.client.DoMulti(ctx, b.client.B().Get().Key(key).Build(), b.client.B().Pttl().Key(key).Build())
	v, err := res[0].AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, 0, kvcache.ErrNotFound
		}
		return nil, 0, b.wrap("GET", err)
	}
	pttl, err := res[1].AsInt64()
	if err != nil {
		return nil, 0, b.wrap("PTTL", err)
	}
	switch {
	case pttl == -2:
		return nil, 0, kvcache.ErrNotFound
	case pttl < 0:
		return v, 0, nil
	}
	return v, time.Duration(pttl) * time.Millisecond, nil
}

// Set stores value with PX ttl (no expiry when ttl <= 0).
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	cmd := b.client.B().Set().Key(key).Value(rueidis.BinaryString(value))
	var err error
	if ttl > 0 {
		err = b.writeErr(ctx, key, cmd.PxMilliseconds(px(ttl)).Build())
	} else {
		err = b.writeErr(ctx, key, cmd.Build())
	}
	if err != nil {
		return b.wrap("SET", err)
	}
	return nil
}

// SetNX stores value only when key is absent (SET NX PX): one round trip.
// It reports whether it stored.
func (b *Backend) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	cmd := b.client.B().Set().Key(key).Value(rueidis.BinaryString(value)).Nx()
	var (
		res  rueidis.RedisResult
		werr error
	)
	if ttl > 0 {
		res, werr = b.write(ctx, key, cmd.PxMilliseconds(px(ttl)).Build())
	} else {
		res, werr = b.write(ctx, key, cmd.Build())
	}
	if err := res.Error(); err != nil {
		if rueidis.IsRedisNil(err) {
			return false, nil // key exists
		}
		return false, b.wrap("SET NX", err)
	}
	if werr != nil {
		return false, b.wrap("SET NX", werr)
	}
	return true, nil
}

// Delete removes key; an absent key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	if err := b.writeErr(ctx, key, b.client.B().Del().Key(key).Build()); err != nil {
		return b.wrap("DEL", err)
	}
	return nil
}

// Exists reports whether key is present. With the client cache it reads a
// cached PTTL (-2 = absent), so repeated checks need no round trip.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	var (
		n   int64
		err error
	)
	if b.clientCache {
		n, err = b.client.DoCache(ctx, b.client.B().Pttl().Key(key).Cache(), b.cacheTTL).AsInt64()
		if err == nil {
			return n != -2, nil
		}
		return false, b.wrap("PTTL", err)
	}
	n, err = b.client.Do(ctx, b.client.B().Exists().Key(key).Build()).AsInt64()
	if err != nil {
		return false, b.wrap("EXISTS", err)
	}
	return n == 1, nil
}

// write sends a command that modifies key and returns its reply.
//
// With the client cache on, a keyed no-op (PTTL key, never cached) rides in
// the same round trip: since Redis 7 the invalidation of this connection's
// own cached copy is sent after the command's reply (redis/redis#9422,
// rueidis#534), but before the next reply, so when the no-op's reply is
// back our cache no longer holds the old value and the next Get on this
// instance reads the write (read-your-writes). This relies on the single
// pipelined connection (per node) New configures with the client cache. The
// no-op names the key rather than being a PING so that on a cluster it goes
// to the key's node, and follows the write if a MOVED redirects it: a
// keyless PING could be answered by another node.
//
// With wait_replicas, a WAIT is pipelined after the command on the same
// (dedicated: WAIT blocks) connection, so it counts the replicas that have
// this write; fewer than asked fails the write with errNotReplicated (the
// write happened on the primary but may be lost in a failover). With the
// client cache too, the write ran on that other connection, so the no-op
// follows on the cached-read connection: the invalidation for it was queued
// there while the write executed, before the write's reply went out.
func (b *Backend) write(ctx context.Context, key string, cmd rueidis.Completed) (rueidis.RedisResult, error) {
	switch {
	case b.waitReplicas > 0:
		res := b.client.DoMulti(ctx, cmd, b.client.B().Wait().Numreplicas(int64(b.waitReplicas)).Timeout(b.waitTimeout.Milliseconds()).Build())
		if err := res[0].NonRedisError(); err != nil {
			return res[0], nil
		}
		if b.clientCache {
			b.recent.add(key)
			_ = b.client.Do(ctx, b.client.B().Pttl().Key(key).Build()).Error()
		}
		n, err := res[1].AsInt64()
		if err != nil {
			return res[0], fmt.Errorf("WAIT %d %d after the write: %w", b.waitReplicas, b.waitTimeout.Milliseconds(), err)
		}
		if n < int64(b.waitReplicas) {
			return res[0], fmt.Errorf("%w: %d of %d replicas acknowledged the write within wait_timeout (%s); it may be lost if the primary fails", errNotReplicated, n, b.waitReplicas, b.waitTimeout)
		}
		return res[0], nil
	case b.clientCache:
		b.recent.add(key)
		return b.client.DoMulti(ctx, cmd, b.client.B().Pttl().Key(key).Build())[0], nil
	}
	return b.client.Do(ctx, cmd), nil
}

// errNotReplicated fails a write that fewer replicas than wait_replicas
// acknowledged.
var errNotReplicated = errors.New("written on the primary but not replicated")

// writeErr is write for the callers that only need the reply's error.
func (b *Backend) writeErr(ctx context.Context, key string, cmd rueidis.Completed) error {
	res, err := b.write(ctx, key, cmd)
	if e := res.Error(); e != nil {
		return e
	}
	return err
}

// script is a Lua script run with EVALSHA, falling back to EVAL when the
// server does not know it yet (after a restart, for instance).
type script struct {
	src, sha string
}

func newScript(src string) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:])}
}

// eval runs s on one key through write (so it gets the same
// read-your-writes guarantee, and replica wait, as the plain commands).
func (b *Backend) eval(ctx context.Context, s *script, key string, args ...string) (rueidis.RedisResult, error) {
	res, err := b.write(ctx, key, b.client.B().Evalsha().Sha1(s.sha).Numkeys(1).Key(key).Arg(args...).Build())
	if e, ok := rueidis.IsRedisErr(res.Error()); ok && e.IsNoScript() {
		res, err = b.write(ctx, key, b.client.B().Eval().Script(s.src).Numkeys(1).Key(key).Arg(args...).Build())
	}
	return res, err
}

// evalInt is eval for scripts that return an integer, 0 meaning "wrote
// nothing" (so the replica wait does not matter).
func (b *Backend) evalInt(ctx context.Context, s *script, key string, args ...string) (int64, error) {
	res, werr := b.eval(ctx, s, key, args...)
	n, err := res.AsInt64()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	return n, werr
}

// persistScript removes a key's expiry, telling an absent key (0) from a
// key that had no expiry (1), which PERSIST alone does not.
var persistScript = newScript(`if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PERSIST', KEYS[1])
return 1`)

// Expire sets a new TTL without rewriting the value: PEXPIRE, or PERSIST
// when ttl <= 0. ErrNotFound when the key is absent.
func (b *Backend) Expire(ctx context.Context, key string, ttl time.Duration) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	var (
		n   int64
		err error
		op  = "PEXPIRE"
	)
	if ttl > 0 {
		var (
			res  rueidis.RedisResult
			werr error
		)
		res, werr = b.write(ctx, key, b.client.B().Pexpire().Key(key).Milliseconds(px(ttl)).Build())
		if n, err = res.AsInt64(); err == nil && n != 0 {
			err = werr
		}
	} else {
		op = "PERSIST"
		n, err = b.evalInt(ctx, persistScript, key)
	}
	if err != nil {
		return b.wrap(op, err)
	}
	if n == 0 {
		return kvcache.ErrNotFound
	}
	return nil
}

// casScript writes KEYS[1] only if it still holds what Update read:
// ARGV[1] is "" for "absent" or the SHA-1 of the value read. ARGV[2] is
// "set" or "del", ARGV[3] the new value, ARGV[4] the PX in ms ("0": none).
// Returns 1 when written, 0 on conflict.
var casScript = newScript(`local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if cur then return 0 end
elseif (not cur) or redis.sha1hex(cur) ~= ARGV[1] then
  return 0
end
if ARGV[2] == 'del' then
  redis.call('DEL', KEYS[1])
elseif ARGV[4] == '0' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1`)

// Update is an optimistic read-modify-write checked by the server: GET
// (from the server, never the client cache), fn, then a compare-and-set
// script that writes only if the value is unchanged. On conflict it retries
// with jittered backoff, up to maxUpdateAttempts, then kvcache.ErrConflict.
//
// Why not WATCH/MULTI/EXEC: that needs a dedicated connection per
// concurrent Update (rueidis Dedicated, a pool of TCP connections) and
// three round trips; the script runs on the shared auto-pipelined
// connection in two round trips, and because it travels on the same
// connection as cached reads, the invalidation of this instance's cached
// copy arrives before the script's reply (read-your-writes).
func (b *Backend) Update(ctx context.Context, key string, fn kvcache.UpdateFunc) error {
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		if attempt > 0 {
			if err := retry.Wait(ctx, attempt, maxUpdateBackoff); err != nil {
				return b.wrap("UPDATE", err)
			}
		}
		done, err := b.tryUpdate(ctx, key, fn)
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("%w: redis backend %q: key changed under %d consecutive update attempts", kvcache.ErrConflict, b.name, maxUpdateAttempts)
}

func (b *Backend) tryUpdate(ctx context.Context, key string, fn kvcache.UpdateFunc) (bool, error) {
	cctx, cancel := b.ctx(ctx)
	defer cancel()
	old, err := b.client.Do(cctx, b.client.B().Get().Key(key).Build()).AsBytes()
	found := true
	if err != nil {
		if !rueidis.IsRedisNil(err) {
			return false, b.wrap("GET", err)
		}
		found, old = false, nil
	}
	value, ttl, err := fn(old, found)
	if err != nil {
		return false, err
	}
	if value == nil && !found {
		return true, nil // deleting an absent key: nothing to write
	}
	expect := ""
	if found {
		expect = sha1Hex(old)
	}
	return b.cas(cctx, key, expect, value, ttl)
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// cas runs casScript: write value (nil deletes) only if key's SHA-1 is
// still expect ("" = absent).
func (b *Backend) cas(ctx context.Context, key, expect string, value []byte, ttl time.Duration) (bool, error) {
	op, ms := "set", "0"
	if value == nil {
		op = "del"
	} else if ttl > 0 {
		ms = strconv.FormatInt(px(ttl), 10)
	}
	n, err := b.evalInt(ctx, casScript, key, expect, op, rueidis.BinaryString(value), ms)
	if err != nil {
		return false, b.wrap("compare-and-set", err)
	}
	return n == 1, nil
}

// CompareAndSwap writes value (nil deletes) only if key still holds old
// (compared by SHA-1 on the server): one round trip, no read. It reports
// whether it wrote.
func (b *Backend) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	cctx, cancel := b.ctx(ctx)
	defer cancel()
	return b.cas(cctx, key, sha1Hex(old), value, ttl)
}

// escapeGlob escapes the characters SCAN MATCH treats as patterns.
func escapeGlob(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// Scan walks the keys starting with prefix with SCAN ... MATCH prefix*
// (never KEYS), a batch at a time; on a cluster, on every primary in turn
// (nodes that answer ROLE with anything but "master" are skipped: replicas
// hold copies). A primary that does not answer fails the Scan: the walk
// would be incomplete. As with SCAN itself, a key may be reported twice if
// Redis resizes its table during the walk (or, on a cluster, if its slot
// migrates during the walk).
func (b *Backend) Scan(ctx context.Context, prefix string, fn func(key string) error) error {
	if b.topology != Cluster {
		return b.scanNode(ctx, b.client, b.addr, prefix, fn)
	}
	nodes := b.client.Nodes()
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	primaries := 0
	for _, a := range addrs {
		n := nodes[a]
		cctx, cancel := b.ctx(ctx)
		role, err := n.Do(cctx, n.B().Role().Build()).ToArray()
		cancel()
		if err != nil {
			return fmt.Errorf("kvcache redis backend %q: SCAN: ROLE on node %s of %s: %w", b.name, a, b.addr, err)
		}
		if len(role) == 0 {
			continue
		}
		if r, _ := role[0].ToString(); r != "master" {
			continue
		}
		primaries++
		if err := b.scanNode(ctx, n, "node "+a+" of "+b.addr, prefix, fn); err != nil {
			return err
		}
	}
	if primaries == 0 {
		return fmt.Errorf("kvcache redis backend %q: SCAN on %s: no primary known", b.name, b.addr)
	}
	return nil
}

func (b *Backend) scanNode(ctx context.Context, c rueidis.Client, where, prefix string, fn func(key string) error) error {
	match := escapeGlob(prefix) + "*"
	var cursor uint64
	for {
		cctx, cancel := b.ctx(ctx)
		e, err := c.Do(cctx, c.B().Scan().Cursor(cursor).Match(match).Count(scanCount).Build()).AsScanEntry()
		cancel()
		if err != nil {
			if where != b.addr {
				return fmt.Errorf("kvcache redis backend %q: SCAN on %s: %w", b.name, where, err)
			}
			return b.wrap("SCAN", err)
		}
		for _, k := range e.Elements {
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			if err := fn(k); err != nil {
				return err
			}
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

// CrossProcess is true: every instance on the same Redis shares the data.
func (b *Backend) CrossProcess() bool { return true }

// Close closes the client and its connections.
func (b *Backend) Close() error {
	b.client.Close()
	return nil
}

var unlockScript = newScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// TryLock takes a short lock named after key (in its own "kvcache-lock:"
// namespace, so container scans never see it, and with key's hash tag, so
// that on a cluster it lives in key's slot: see lockKey) with SET NX PX.
// unlock deletes it only if this holder still owns it (compare-and-delete).
func (b *Backend) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if ttl <= 0 {
		return nil, false, fmt.Errorf("kvcache redis backend %q: lock ttl %s: want > 0", b.name, ttl)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	lk := lockKey(key)
	cctx, cancel := b.ctx(ctx)
	defer cancel()
	err := b.client.Do(cctx, b.client.B().Set().Key(lk).Value(token).Nx().PxMilliseconds(px(ttl)).Build()).Error()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, false, nil
		}
		return nil, false, b.wrap("SET NX (lock)", err)
	}
	unlock := func() {
		uctx, cancel := b.ctx(context.WithoutCancel(ctx))
		defer cancel()
		if _, err := b.evalInt(uctx, unlockScript, lk, token); err != nil && !errors.Is(err, errNotReplicated) {
			b.log.Warn("releasing a kvcache lock failed; it expires on its own", zap.String("backend", b.name), zap.Duration("ttl", ttl), zap.Error(err))
		}
	}
	return unlock, true, nil
}

// indexAddScript adds ARGV[2] with score ARGV[1] (Unix ms) to the sorted set
// KEYS[1] and makes the set live at least ARGV[3] ms (0: no expiry).
var indexAddScript = newScript(`local cur = redis.call('PTTL', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl <= 0 then
  redis.call('PERSIST', KEYS[1])
elseif cur == -2 or (cur >= 0 and cur < ttl) then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`)

// indexRemoveScript removes those of ARGV[2..] whose score is at most
// ARGV[1]: a member added again meanwhile stays.
var indexRemoveScript = newScript(`local n = 0
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) <= tonumber(ARGV[1]) then n = n + redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return n`)

// IndexAdd implements kvcache.Indexer: ZADD on a sorted set scored by the
// time added, and its TTL extended (never shortened) to ttl.
func (b *Backend) IndexAdd(ctx context.Context, key, member string, at time.Time, ttl time.Duration) error {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	res, err := b.eval(ctx, indexAddScript, key, strconv.FormatInt(at.UnixMilli(), 10), member, strconv.FormatInt(ttl.Milliseconds(), 10))
	if e := res.Error(); e != nil {
		err = e
	}
	if err != nil {
		return b.wrap("index add", err)
	}
	return nil
}

// IndexMembers implements kvcache.Indexer: ZRANGE WITHSCORES.
func (b *Backend) IndexMembers(ctx context.Context, key string) ([]kvcache.IndexMember, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	zs, err := b.client.Do(ctx, b.client.B().Zrange().Key(key).Min("0").Max("-1").Withscores().Build()).AsZScores()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, nil
		}
		return nil, b.wrap("index members", err)
	}
	out := make([]kvcache.IndexMember, len(zs))
	for i, z := range zs {
		out[i] = kvcache.IndexMember{Member: z.Member, Added: time.UnixMilli(int64(z.Score)).UTC()}
	}
	return out, nil
}

// IndexRemove implements kvcache.Indexer.
func (b *Backend) IndexRemove(ctx context.Context, key string, cutoff time.Time, members ...string) (int, error) {
	if len(members) == 0 {
		return 0, nil
	}
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	args := append([]string{strconv.FormatInt(cutoff.UnixMilli(), 10)}, members...)
	n, err := b.evalInt(ctx, indexRemoveScript, key, args...)
	if err != nil {
		return 0, b.wrap("index remove", err)
	}
	return int(n), nil
}
