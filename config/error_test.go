package config_test

// Error values and the problems a section's validation reports: values
// shown as written, secrets never.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/config"
)

func TestProblems(t *testing.T) {
	f := load(t, write(t, "c.ini", "[session]\nlifetime = 1h30m\n[kvcache]\nbackends.r.url = redis://u:s3cretPW@h:bad/0\nbackends.r.password = s3cretPW\nbackends.m.max_size = 0.5KiB\n"))
	p := f.Problems("session")
	p.Bad("lifetime", 90*time.Minute, "lifetime >= idle_timeout")
	p.Bad("member", "", "a non-empty name")
	if err := p.Err(); err == nil {
		t.Fatal("no error")
	} else {
		want := `config: session.lifetime = "1h30m": allowed: lifetime >= idle_timeout` + "\n" + `config: session.member = "": allowed: a non-empty name`
		if err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != "session.lifetime" || ce.Value != "1h30m" {
			t.Errorf("first error %#v", ce)
		}
	}
	if err := f.Problems("gorm").Err(); err != nil {
		t.Errorf("no problems: %v", err)
	}

	// Sub: keys relative to an entry; secrets left out of the values.
	kp := f.Problems("kvcache")
	r := kp.Sub("backends.r")
	r.BadBecause("url", "redis://u:s3cretPW@h:bad/0", "its port is not a number", "a URL like redis://host:6379/0")
	r.Bad("password", "s3cretPW", "a password")
	kp.Sub("backends.m").Bad("max_size", config.ByteSize(512), "at least 1KiB")
	kp.Bad("containers.c.ttl", time.Nanosecond, "0 or at least 1ms")
	err := kp.Err()
	want := `config: kvcache.backends.r.url = ` + config.HiddenURL + `: its port is not a number; allowed: a URL like redis://host:6379/0` + "\n" +
		`config: kvcache.backends.r.password = (not shown: it may be a secret): allowed: a password` + "\n" +
		`config: kvcache.backends.m.max_size = "0.5KiB": allowed: at least 1KiB` + "\n" +
		`config: kvcache.containers.c.ttl = "1ns": allowed: 0 or at least 1ms`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}

	// Without a file (a configuration built in code), the value as given,
	// still without secrets.
	var none *config.File
	p = none.Problems("kvcache")
	p.Bad("backends.r.url", "redis://u:s3cretPW@h/0", "a redis URL")
	p.Bad("backends.m.max_size", config.ByteSize(512), "at least 1KiB")
	want = `config: kvcache.backends.r.url = "redis://u:xxxxx@h/0": allowed: a redis URL` + "\n" +
		`config: kvcache.backends.m.max_size = "512B": allowed: at least 1KiB`
	if err := p.Err(); err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if _, _, ok := none.Written("x"); ok {
		t.Error("a nil File has written values")
	}
}

// TestSecretsNotEchoedByGenericErrors: the generic errors (a key set
// twice, a value next to a section, a value of the wrong shape) do not
// show a DSN's or URL's password, nor a cookie key.
func TestSecretsNotEchoedByGenericErrors(t *testing.T) {
	const pw = "s3cretPW"
	for _, tc := range []struct {
		name, file, content, key string
	}{
		{"gorm dsn URL set twice", "c.ini", "gorm.dsn = postgres://u:" + pw + "@h/db\n[gorm]\ndsn = postgres://u:" + pw + "@h/db2\n", "gorm.dsn"},
		{"gorm dsn keywords set twice", "c.ini", "gorm.dsn = host=h password=" + pw + "\n[gorm]\ndsn = host=h password=" + pw + "\n", "gorm.dsn"},
		{"mysql dsn set twice", "c.yaml", "gorm.dsn: u:" + pw + "@tcp(h:3306)/db\ngorm:\n  dsn: u:" + pw + "@tcp(h:3306)/db\n", "gorm.dsn"},
		{"redis url next to a section", "c.ini", "[kvcache]\nbackends.r.url = redis://u:" + pw + "@h/0\nbackends.r.url.x = 1\n", "kvcache.backends.r.url"},
		{"malformed url set twice", "c.ini", "kvcache.backends.r.url = redis://u:" + pw + "@h:x/0\n[kvcache]\nbackends.r.url = redis://u:" + pw + "@h:x/0\n", "kvcache.backends.r.url"},
		{"cookie keys set twice", "c.ini", "cookie.keys = " + pw + "\n[cookie]\nkeys = " + pw + "\n", "cookie.keys"},
		{"old cookie keys set twice", "c.ini", "session.cookie_store.keys = " + pw + "\n[session.cookie_store]\nkeys = " + pw + "\n", "session.cookie_store.keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(write(t, tc.file, tc.content), nil, tOptions)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("want an Error for %s, got %v", tc.key, err)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(ce.Value, pw) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
	t.Run("url of the wrong shape", func(t *testing.T) {
		f := load(t, write(t, "c.yaml", "kvcache:\n  backends:\n    r: {type: redis, url: [\"redis://u:"+pw+"@h/0\"]}\n"))
		_, err := kv(f)
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Errorf("want an error without the password, got %v", err)
		}
	})
	t.Run("strict unknown key", func(t *testing.T) {
		f := load(t, write(t, "c.ini", "[session]\nstrict = true\n[gorm]\npasswrd = "+pw+"\n"))
		err := f.Check()
		if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "gorm.passwrd") {
			t.Errorf("want an error naming gorm.passwrd without the password, got %v", err)
		}
	})
}

// TestSizesShownAsWritten: a size that does not fit is refused with the
// value as written (a NaN used to show as -8388608TiB), in INI, YAML and
// the environment; valid spellings load.
func TestSizesShownAsWritten(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        config.ByteSize // when valid
		bad         bool
	}{
		{"NaN", "NaN", 0, true},
		{"nan lower", "nan", 0, true},
		{"NaN with unit", "NaNKiB", 0, true},
		{"Inf", "Inf", 0, true},
		{"+Inf", "+Inf", 0, true},
		{"-Inf", "-Inf", 0, true},
		{"negative", "-1", 0, true},
		{"negative with unit", "-1KiB", 0, true},
		{"1e400", "1e400", 0, true},
		{"too big", "9EiB", 0, true},
		{"too big number", "1e19", 0, true},
		{"empty", "", 0, true},
		{"spaces", "   ", 0, true},
		{"less than a byte", "0.5", 0, true},
		{"unknown unit", "64 MiBs", 0, true},
		{"64 MiB with a space", "64 MiB", 64 << 20, false},
		{"64MiB", "64MiB", 64 << 20, false},
		{"fraction with unit", "1.5KiB", 1536, false},
		{"decimal units", "2MB", 2_000_000, false},
		{"plain bytes", "4096", 4096, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf := load(t, write(t, "c.ini", "[session]\nmax_session_size = "+tc.value+"\n"))
			s, serr := session(t, sf)
			kf := load(t, write(t, "c.ini", "[kvcache]\nbackends.default.type = redis\nbackends.default.url = redis://h/0\nbackends.default.max_size = "+tc.value+"\n"))
			k, kerr := kv(kf)
			written := strings.TrimSpace(tc.value)
			if tc.bad {
				wantError(t, serr, "session.max_session_size", written, "a size like 64MiB")
				wantError(t, kerr, "kvcache.backends.default.max_size", written, "a size like 64MiB")
				return
			}
			if serr != nil || kerr != nil {
				t.Fatalf("want valid, got %v / %v", serr, kerr)
			}
			if s.MaxSessionSize != tc.want || k.Backends["default"].MaxSize != tc.want {
				t.Errorf("got %d / %d, want %d", s.MaxSessionSize, k.Backends["default"].MaxSize, tc.want)
			}
		})
	}
	t.Run("exact message", func(t *testing.T) {
		f := load(t, write(t, "c.ini", "[kvcache]\nbackends.default.type = memory\nbackends.default.max_size = NaN\n"))
		_, err := kv(f)
		if want := `config: kvcache.backends.default.max_size = "NaN": allowed: a size like 64MiB`; err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("yaml numbers", func(t *testing.T) {
		for in, shown := range map[string]string{".nan": "NaN", ".inf": "+Inf", "-.inf": "-Inf", "-1": "-1", "1e30": "1e+30", "0.5": "0.5"} {
			f := load(t, write(t, "c.yaml", "kvcache:\n  backends:\n    default: {type: redis, url: \"redis://h/0\", max_size: "+in+"}\n"))
			_, err := kv(f)
			wantError(t, err, "kvcache.backends.default.max_size", shown, "a size like 64MiB")
		}
		f := load(t, write(t, "c.yaml", "kvcache:\n  backends:\n    default: {type: memory, max_size: 2048}\n"))
		if c, err := kv(f); err != nil || c.Backends["default"].MaxSize != 2048 {
			t.Errorf("max_size: 2048 -> %v, %v", c.Backends["default"].MaxSize, err)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__MAX_SESSION_SIZE", "NaN")
		_, err := session(t, load(t, ""))
		wantError(t, err, "session.max_session_size", "NaN", "a size like 64MiB")
	})
}

func TestParseByteSize(t *testing.T) {
	for _, s := range []string{"NaN", "nan", "NaNMiB", "-nan", "Inf", "+Inf", "-Inf", "infinity", "-1", "-1KiB", "1e400", "1e19", "9EiB", "", "  ", "0.5", "0.1B", "lots", "64 MiBs"} {
		if v, err := config.ParseByteSize(s); err == nil {
			t.Errorf("ParseByteSize(%q) = %d (%s), want an error", s, int64(v), v)
		}
	}
	for s, want := range map[string]config.ByteSize{
		"0": 0, "-0": 0, "4096": 4096, "64MiB": 64 << 20, "64 MiB": 64 << 20, "64mib": 64 << 20,
		"1.5KiB": 1536, "0.5KiB": 512, "2MB": 2_000_000, "10k": 10 << 10, "1TiB": 1 << 40, " 8 B ": 8,
	} {
		if v, err := config.ParseByteSize(s); err != nil || v != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", s, int64(v), err, int64(want))
		}
	}
	for v, want := range map[config.ByteSize]string{0: "0B", 512: "512B", 1536: "1536B", 64 << 20: "64MiB", 1 << 40: "1TiB"} {
		if got := v.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(v), got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://user:s3cret@host:6379/0":        "redis://user:xxxxx@host:6379/0",
		"postgres://h/db?password=s3cret&x=1":    "postgres://h/db?password=xxxxx&x=1",
		"redis://user:s3cret@host:bad/0":         config.HiddenURL,
		"user:s3cret@tcp(127.0.0.1:3306)/db":     config.HiddenURL,
		"redis://user:s3cret@host:6379/0?auth=x": "redis://user:xxxxx@host:6379/0?auth=xxxxx",
	} {
		if got := config.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := config.ParseURLSafely("redis://user:s3cretPW@host:bad/0"); err == nil || strings.Contains(err.Error(), "s3cretPW") {
		t.Errorf("ParseURLSafely: %v", err)
	}
}
