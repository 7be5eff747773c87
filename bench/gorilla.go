package bench

import (
	"context"
	"net/http"
	"strings"

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

// countingConn counts the Redis commands a redigo connection sends (PING and
// the pool's empty flush commands excluded).
type countingConn struct {
	redis.Conn
	c *Counter
}

func (c countingConn) count(cmd string) {
	switch strings.ToUpper(cmd) {
	case "", "PING":
	case "GET", "EXISTS", "PTTL", "TTL":
		c.c.read()
	default:
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
	gorillaHashKey  = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	gorillaBlockKey = []byte("0123456789abcdef0123456789abcdef")
)

func gorillaBuilders() []Builder {
	return []Builder{
		{"gorilla", "cookie", func(_ context.Context, _ Options) (*Target, error) {
			c := &Counter{}
			st := sessions.NewCookieStore(gorillaHashKey, gorillaBlockKey)
			st.Options.MaxAge = 86400
			for i, cd := range st.Codecs {
				st.Codecs[i] = countingCodec{Codec: cd, c: c}
			}
			return &Target{Lib: "gorilla", Backend: "cookie", Note: "sessions.CookieStore (securecookie, AES + HMAC); ops = cookie encodes + decodes",
				L: gorillaLib{st}, Ops: &c.Ops, Writes: &c.Writes, Close: func() {}}, nil
		}},
		{"gorilla", "redis", func(_ context.Context, _ Options) (*Target, error) {
			p, err := NewRedigoPool()
			if err != nil {
				return nil, err
			}
			c := &Counter{}
			dial := p.Dial
			p.Dial = func() (redis.Conn, error) {
				conn, err := dial()
				if err != nil {
					return nil, err
				}
				return countingConn{Conn: conn, c: c}, nil
			}
			// Drop the connection the ping opened, so every later one counts.
			_ = p.Close()
			p = &redis.Pool{MaxIdle: 16, Dial: p.Dial}
			st, err := redistore.NewRediStoreWithPool(p, gorillaHashKey, gorillaBlockKey)
			if err != nil {
				return nil, err
			}
			prefix := UniqueName("gorillabench_") + "_"
			st.SetKeyPrefix(prefix)
			st.SetMaxAge(86400)
			return &Target{Lib: "gorilla", Backend: "redis", Note: "boj/redistore (redigo); ops = Redis commands",
				L: gorillaLib{st}, Ops: &c.Ops, Writes: &c.Writes, Close: func() {
					DeletePrefix(p, prefix)
					_ = p.Close()
				}}, nil
		}},
	}
}
