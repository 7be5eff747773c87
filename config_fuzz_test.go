package session

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionfx/session/kvcache/filekv"
	"github.com/sessionfx/session/kvcache/rediskv"
)

// cfgFuzzLoad writes data as a config file and runs every loader on it
// (the generic one in package config, the renames, [session], [kvcache]
// with its engines): errors are fine, panics are not.
func cfgFuzzLoad(t *testing.T, name string, data []byte) {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cf, err := LoadConfigFile(p, nil)
	if err != nil {
		if cf != nil {
			t.Fatalf("LoadConfigFile returned both a file and the error %v", err)
		}
		return
	}
	sc, err := LoadConfig(cf)
	if err == nil {
		// A loaded config that passed validation must validate again.
		if err := sc.Validate(); err != nil {
			t.Fatalf("LoadConfig accepted a config that Validate rejects: %v", err)
		}
	}
	_, _ = LoadKVCacheConfig(cf, rediskv.Registration(), filekv.Registration())
	var anyTree map[string]any
	_ = cf.Unmarshal("", &anyTree)
	_ = cf.CheckSections("gorm")
	_ = cf.Check("layered", "cookie")
	_ = cf.UnknownKeys()
}

func FuzzLoadINI(f *testing.F) {
	for _, seed := range []string{
		"",
		"[session]\nlifetime = 12h\nidle_timeout = 30m\ncookie.name = sid\ncookie.same_site = strict ; comment\n",
		"[kvcache]\nbackends.default.type = memory\nbackends.default.max_size = 64MiB\nbackends.r.type = redis\nbackends.r.url = redis://h:1/0\ncontainers.session.backend = r\n",
		"[session]\ncookie = x\n[session.cookie]\nname = y\n",
		"[a]\nb = x\nb.c = y\n",
		"[session]\nidle_timeout = 30 minutes\nmax_session_size = lots\ncookie.secure = maybe\n",
		"[session\nbroken",
		"top = ${here}\n[kvcache]\nbackends.default = memory\n",
		"[session]\nlayered.local_ttl = 1.5d\nbackend = layered\nlayered.front = a\n",
		"[session]\nbackend = x\nstore = y\nlayered = 1\n[layered]\nfront = a\n[cookie_store]\nkeys = k\n[cookie]\nkeys.x = 1\n",
		"session.layered.front = a\n[session.layered]\nback = b\n[layered.x]\ny = 1\n",
		"[kvcache]\nbackends.f.type = file\nbackends.f.path =\n",
		"[kvcache]\nbackends..type = memory\n",
		"[session]\ncleanup_interval = 1ns\nmax_session_size = NaN\nlayered.local_ttl = 1us\n",
		"[kvcache]\nbackends.r.type = redis\nbackends.r.url = redis://u:p%zz@h:bad/x\nbackends.r.max_size = 1e400\nbackends.r.command_timeout = 1ns\ncontainers.c.ttl = 1ns\n",
	} {
		f.Add([]byte(seed))
	}
	if data, err := os.ReadFile(filepath.Join(cfgFullDir, "full.ini")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { cfgFuzzLoad(t, "c.ini", data) })
}

func FuzzLoadYAML(f *testing.F) {
	for _, seed := range []string{
		"",
		"session:\n  lifetime: 12h\n  cookie: {name: sid, same_site: strict}\n",
		"kvcache:\n  backends:\n    default: {type: memory, max_size: 100}\n  containers:\n    s: {backend: nope}\n",
		"a.b: x\na:\n  b:\n    c: y\n",
		"session:\n  lifetime: 3600\n  hash_ids: [1, 2]\n  cookie: 5\n",
		"session: [\n",
		"1: {2: 3}\nsession: {max_cookie_size: 1e40}\n",
		"x: &a [*a]\n",
		"- just\n- a list\n",
		"session:\n  \"\": 1\n",
		"session: {backend: a, store: b, layered: {front: x}}\nlayered: 5\ncookie_store: [1]\n",
		"session: {cleanup_interval: 1ns, max_session_size: .nan}\nkvcache:\n  backends:\n    r: {type: redis, url: \"redis://u:p/w@h:1/0\", max_size: .inf}\n",
	} {
		f.Add([]byte(seed))
	}
	if data, err := os.ReadFile(filepath.Join(cfgFullDir, "full.yaml")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { cfgFuzzLoad(t, "c.yaml", data) })
}
