package cookiestore

import (
	"fmt"

	"github.com/sessionfx/session/backends"
)

// Registration registers the store as backend "cookie". It reads the
// [cookie] section (before: [cookie_store], still read from there with a
// deprecation warning); when cookie.cookie_name is unset it binds the
// tokens to session.cookie.name (or DefaultCookieName when that cannot be read).
func Registration() backends.Registration {
	return backends.Registration{
		Name:    Name,
		Section: Name,
		Config:  Config{},
		New: func(env backends.Env) (backends.Storage, error) {
			var cfg Config
			if env.Config != nil {
				if err := env.Config(Name, &cfg); err != nil {
					return nil, fmt.Errorf("[%s]: %w", Name, err)
				}
				if cfg.CookieName == "" {
					// Only the one key, so the rest of [session] is not
					// reported as unknown to this struct.
					var name string
					if err := env.Config("session.cookie.name", &name); err == nil {
						cfg.CookieName = name
					}
				}
			}
			return New(cfg, env.Logger)
		},
	}
}
