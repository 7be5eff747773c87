package layered

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/backends/gormstore"
)

// Config is the session.layered configuration subtree.
type Config struct {
	// Front is the kvcache container that holds the short-lived copies
	// (normally on a memory backend).
	Front string `koanf:"front"`
	// Back is "gorm" (the [gorm] table store) or the name of a kvcache
	// container (normally on a redis backend) holding the sessions.
	Back string `koanf:"back"`
	// LocalTTL is how long a front copy lives (0: DefaultLocalTTL): the
	// bound on how long another instance may serve a stale copy.
	LocalTTL time.Duration `koanf:"local_ttl"`
}

// ConfigPath is where Registration reads Config.
const ConfigPath = "session.layered"

// Registration registers the store as "layered". Its constructor reads
// session.layered (Config): the front is env.KV's container Config.Front;
// the back is the gorm store (built as gormstore.Registration would, from
// [gorm]) when Config.Back is "gorm", else a backends.KVStore on env.KV's
// container Config.Back.
func Registration() backends.Registration {
	return backends.Registration{Name: "layered", New: newFromEnv}
}

func newFromEnv(env backends.Env) (backends.Store, error) {
	cfg := Config{LocalTTL: DefaultLocalTTL}
	if env.Config != nil {
		if err := env.Config(ConfigPath, &cfg); err != nil {
			return nil, fmt.Errorf("reading the [%s] configuration: %w", ConfigPath, err)
		}
	}
	switch {
	case cfg.Front == "":
		return nil, errors.New("session.layered.front is empty: want the name of a kvcache container (backend = layered needs one)")
	case cfg.Back == "":
		return nil, errors.New(`session.layered.back is empty: want "gorm" or the name of a kvcache container (backend = layered needs one)`)
	case cfg.Back == cfg.Front:
		return nil, fmt.Errorf("session.layered.back = %q is also session.layered.front: want a different store behind the front", cfg.Back)
	case cfg.LocalTTL < 0:
		return nil, fmt.Errorf("session.layered.local_ttl = %s: want a duration of 0 (default %s) or more", cfg.LocalTTL, DefaultLocalTTL)
	}
	if env.KV == nil {
		return nil, errors.New("the layered store needs a kvcache.Cache for session.layered.front, and none is configured (Env.KV is nil)")
	}
	log := env.Logger
	if log == nil {
		log = zap.NewNop()
	}
	front, err := env.KV.Container(cfg.Front)
	if err != nil {
		return nil, fmt.Errorf("session.layered.front = %q: %w", cfg.Front, err)
	}
	var back backends.Store
	if cfg.Back == "gorm" {
		back, err = gormstore.Registration().New(env)
		if err != nil {
			return nil, fmt.Errorf("session.layered.back = gorm: %w", err)
		}
	} else {
		c, err := env.KV.Container(cfg.Back)
		if err != nil {
			return nil, fmt.Errorf("session.layered.back = %q: %w", cfg.Back, err)
		}
		if !c.CrossProcess() {
			log.Warn("layered session store: the back container is in process memory, so sessions are neither shared between instances nor kept across restarts; put it on a redis backend or use back = gorm",
				zap.String("back", cfg.Back))
		}
		back = backends.NewKVStore(c)
	}
	return New(front, back, WithLocalTTL(cfg.LocalTTL), WithLogger(log)), nil
}
