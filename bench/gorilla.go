package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/boj/redistore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// countingCodec counts securecookie encodes (writes) and decodes (reads):
// for gorilla's CookieStore those are its store operations.
type countingCodec struct {
	securecookie.Codec
	c *Counter
}

func (c countingCodec) Encode(name string, v any) (string, error) {
	c.c.write()
	return c.Codec.Encode(name, v)
}

func (c countingCodec) Decode(name, value string, dst any) error {
	c.c.read()
	return c.Codec.Decode(name, value, dst)
}

// countingConn counts redistore's store calls by the one command each
// issues: load is one GET (a read), save one SETEX and delete one DEL
// (writes). Other commands (PING on creation) are not store calls.
type countingConn struct {
	redis.Conn
	c *Counter
}

func (c countingConn) count(cmd string) {
	switch strings.ToUpper(cmd) {
	case "GET":
		c.c.read()
	case "SETEX", "DEL":
		c.c.write()
	}
}

func (c countingConn) Do(cmd string, args ...any) (any, error) {
	c.count(cmd)
	return c.Conn.Do(cmd, args...)
}

func (c countingConn) Send(cmd string, args ...any) error {
	c.count(cmd)
	return c.Conn.Send(cmd, args...)
}

type gorillaLib struct{ store sessions.Store }

func (l gorillaLib) Wrap(h http.Handler) http.Handler { return h }

func (l gorillaLib) sess(r *http.Request) *sessions.Session {
	// A cookie that does not decode yields a new session and an error;
	// that is the documented way to start over.
	s, _ := l.store.Get(r, CookieName)
	return s
}

func (l gorillaLib) GetString(_ http.ResponseWriter, r *http.Request, key string) string {
	v, _ := l.sess(r).Values[key].(string)
	return v
}

func (l gorillaLib) Incr(w http.ResponseWriter, r *http.Request, key string) {
	s := l.sess(r)
	n, _ := s.Values[key].(int)
	s.Values[key] = n + 1
	if err := s.Save(r, w); err != nil {
		panic(err)
	}
}

func (l gorillaLib) Put(w http.ResponseWriter, r *http.Request, key, value string) {
	s := l.sess(r)
	s.Values[key] = value
	if err := s.Save(r, w); err != nil {
		panic(err)
	}
}

var (
	// gorillaHashKey authenticates (HMAC-SHA256), gorillaBlockKey encrypts
	// (AES-256): securecookie with both keys, gorilla's encrypted mode.
	gorillaHashKey  = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	gorillaBlockKey = []byte("0123456789abcdef0123456789abcdef")
)

// gorillaOptions are the cookie settings shared by every side (Settings).
func gorillaOptions() *sessions.Options {
	return &sessions.Options{Path: "/", MaxAge: int(Lifetime / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

func gorillaBuilders() []Builder {
	return []Builder{
		{"gorilla", "cookie", false, true, func(_ context.Context, _ Options) (*Target, error) {
			c := &Counter{}
			st := sessions.NewCookieStore(gorillaHashKey, gorillaBlockKey)
			st.MaxAge(int(Lifetime / time.Second)) // the codecs' max age too
			st.Options = gorillaOptions()
			for i, cd := range st.Codecs {
				st.Codecs[i] = countingCodec{Codec: cd, c: c}
			}
			return &Target{Lib: "gorilla", Backend: "cookie", Note: "sessions.CookieStore, encrypted (securecookie: gob, AES-256-CTR + HMAC-SHA256); reads = decode, writes = encode",
				L: gorillaLib{st}, C: c, Close: func() {}}, nil
		}},
		{"gorilla", "redis", false, false, func(_ context.Context, o Options) (*Target, error) {
			url := o.redisURL()
			if url == "" {
				return nil, fmt.Errorf("%w: %s is unset", ErrSkip, EnvRedis)
			}
			c := &Counter{}
			p := &redis.Pool{MaxIdle: 10, IdleTimeout: 240 * time.Second, Dial: func() (redis.Conn, error) {
				conn, err := redis.DialURL(url)
				if err != nil {
					return nil, err
				}
				return countingConn{Conn: conn, c: c}, nil
			}}
			st, err := redistore.NewRediStoreWithPool(p, gorillaHashKey, gorillaBlockKey)
			if err != nil {
				_ = p.Close()
				return nil, fmt.Errorf("redis at %s: %w", url, err)
			}
			prefix := UniqueName("gorillabench_") + "_"
			st.SetKeyPrefix(prefix)
			st.SetMaxAge(int(Lifetime / time.Second))
			st.Options = gorillaOptions()
			return &Target{Lib: "gorilla", Backend: "redis", Note: "boj/redistore (redigo pool, MaxIdle 10; encrypted id cookie); reads = load (GET), writes = save (SETEX) / delete (DEL)",
				L: gorillaLib{st}, C: c, Close: func() {
					DeletePrefix(p, prefix)
					_ = p.Close()
				}}, nil
		}},
	}
}
