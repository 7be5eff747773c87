package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// A request sent with the id a login has just renewed (the browser had not
// got the new cookie yet) cannot write: 409 with a generic body, never a
// 500, and it leaves the login's cookie alone.
func TestWriteWithRenewedIDIsAConflict(t *testing.T) {
	for _, cfg := range []string{"config.ini", "config.gorm.ini", "config.file.ini"} {
		t.Run(cfg, func(t *testing.T) {
			c, app, _ := startExample(t, copyConfig(t, cfg))
			defer app.Stop(context.Background())
			c.do("POST", "/visits", nil)
			old := c.cookie
			if code, _, _ := c.do("POST", "/login", url.Values{"user": {"alice"}}); code != 200 || c.cookie == old || c.cookie == "" {
				t.Fatalf("login: %d, cookie changed %v", code, c.cookie != old)
			}
			late := &client{t: t, base: c.base, cookie: old}
			code, body, res := late.send("PUT", "/kv/x", "text/plain", strings.NewReader("v"))
			if code != 409 || body != "{\"error\":\"session renewed by a login; retry\"}\n" {
				t.Fatalf("write with the renewed id: %d %q; want 409 and the generic body", code, body)
			}
			if sc := res.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("write with the renewed id set cookies %q; want none (the login's cookie must stand)", sc)
			}
			if code, _, _ := c.do("GET", "/kv/x", nil); code != 404 {
				t.Fatalf("the refused write reached the renewed session: GET /kv/x = %d", code)
			}
		})
	}
}
