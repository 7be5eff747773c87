package layered

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/config"
)

// Config is the [layered] section (before: session.layered, still read
// from there with a deprecation warning).
type Config struct {
	// Front is the kvcache container that holds the short-lived copies
	// (normally on a memory backend).
	Front string `koanf:"front"`
	// Back is the name of a registered store (e.g. "gorm", opened with
	// its own section, as [session] store = gorm would) or else the name
	// of a kvcache container (normally on a redis backend) holding the
	// sessions. A store name wins over a container of the same name.
	Back string `koanf:"back"`
	// LocalTTL is how long a front copy lives (0: DefaultLocalTTL) when
	// the back does not push its changes: the bound on how long another
	// instance may serve a stale copy.
	LocalTTL time.Duration `koanf:"local_ttl"`
	// Invalidation is "auto" (the default, also ""): when the back pushes
	// its changes (gorm on PostgreSQL), subscribe and drop a front copy as
	// soon as its session changes; or "off": never subscribe.
	Invalidation string `koanf:"invalidation"`
	// InvalidatedTTL is how long a front copy lives while the back's
	// changes are pushed (0: DefaultInvalidatedTTL; never below LocalTTL).
	InvalidatedTTL time.Duration `koanf:"invalidated_ttl"`
}

// Section is the configuration section the store owns: Registration reads
// Config from [layered].
const Section = "layered"

// MinLocalTTL is the smallest positive local_ttl the registration accepts:
// a shorter front lifetime is never what was meant.
const MinLocalTTL = time.Millisecond

// Registration registers the store as "layered". Its constructor reads
// [layered] (Config): the front is env.KV's container Config.Front;
// the back is the gorm store (built as gormstore.Registration would, from
// [gorm]) when Config.Back is "gorm", else a backends.KVStore on env.KV's
// container Config.Back.
func Registration() backends.Registration {
	return backends.Registration{Name: "layered", Section: Section, Config: Config{}, New: newFromEnv}
}

func newFromEnv(env backends.Env) (backends.Storage, error) {
	cfg := Config{LocalTTL: DefaultLocalTTL}
	if env.Config != nil {
		if err := env.Config(Section, &cfg); err != nil {
			return nil, fmt.Errorf("reading the [%s] configuration: %w", Section, err)
		}
	}
	switch {
	case cfg.Front == "":
		return nil, &config.Error{Key: "layered.front", Allowed: "the name of a kvcache container (store = layered needs one)"}
	case cfg.Back == "":
		return nil, &config.Error{Key: "layered.back", Allowed: "the name of a registered store (e.g. gorm) or of a kvcache container (store = layered needs one)"}
	case cfg.Back == cfg.Front:
		return nil, &config.Error{Key: "layered.back", Value: cfg.Back, Allowed: "a store other than layered.front"}
	case cfg.LocalTTL < 0 || (cfg.LocalTTL > 0 && cfg.LocalTTL < MinLocalTTL):
		return nil, &config.Error{Key: "layered.local_ttl", Value: cfg.LocalTTL.String(),
			Allowed: fmt.Sprintf("0 (the default, %s) or at least %s", DefaultLocalTTL, MinLocalTTL)}
	case cfg.Invalidation != "" && cfg.Invalidation != "auto" && cfg.Invalidation != "off":
		return nil, &config.Error{Key: "layered.invalidation", Value: cfg.Invalidation, Allowed: "auto (the default) or off"}
	case cfg.InvalidatedTTL < 0 || (cfg.InvalidatedTTL > 0 && cfg.InvalidatedTTL < MinLocalTTL):
		return nil, &config.Error{Key: "layered.invalidated_ttl", Value: cfg.InvalidatedTTL.String(),
			Allowed: fmt.Sprintf("0 (the default, %s) or at least %s", DefaultInvalidatedTTL, MinLocalTTL)}
	}
	if env.KV == nil {
		return nil, errors.New("the layered store needs a kvcache.Cache for layered.front, and none is configured (Env.KV is nil)")
	}
	log := env.Logger
	if log == nil {
		log = zap.NewNop()
	}
	front, err := env.KV.Container(cfg.Front)
	if err != nil {
		return nil, fmt.Errorf("layered.front = %q: %w", cfg.Front, err)
	}
	back, err := openBack(env, cfg.Back, log)
	if err != nil {
		return nil, err
	}
	return New(front, back, WithLocalTTL(cfg.LocalTTL), WithLogger(log),
		WithInvalidation(cfg.Invalidation != "off"), WithInvalidatedTTL(cfg.InvalidatedTTL)), nil
}

// openBack opens the back store: the registered store named back (through
// env.Open), else a KVStore on the kvcache container named back.
func openBack(env backends.Env, back string, log *zap.Logger) (backends.Store, error) {
	if env.Open != nil {
		st, err := env.Open(back)
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, backends.ErrUnknownStore) {
			return nil, fmt.Errorf("layered.back = %q: %w", back, err)
		}
	}
	c, err := env.KV.Container(back)
	if err != nil {
		return nil, fmt.Errorf("layered.back = %q: neither a registered store nor a kvcache container: %w", back, err)
	}
	if !c.CrossProcess() {
		log.Warn("layered session store: the back container is in process memory, so sessions are neither shared between instances nor kept across restarts; put it on a redis backend or use a store such as gorm",
			zap.String("back", back))
	}
	return backends.NewKVStore(c), nil
}
