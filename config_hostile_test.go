package session

// Tests for hostile settings of [session] (issue 9 §5): tiny durations and
// values shown as written. The loader's (passwords in malformed URLs and
// DSNs, sizes that do not fit) are in the config package, the redis
// engine's in kvcache/rediskv, the layered store's in backends/layered.

import (
	"errors"
	"testing"
	"time"
)

// TestConfigDurationFloors: a tiny positive cleanup_interval that would
// turn the cleanup into a busy loop is refused with the key, the value as
// written and what is allowed; 0 keeps its meaning.
func TestConfigDurationFloors(t *testing.T) {
	for _, tc := range []struct {
		name, content       string
		key, value, allowed string // key "" = valid
	}{
		{"cleanup 1ns", "[session]\ncleanup_interval = 1ns\n", "session.cleanup_interval", "1ns", "0 (off) or at least 1s"},
		{"cleanup 999ms", "[session]\ncleanup_interval = 999ms\n", "session.cleanup_interval", "999ms", "0 (off) or at least 1s"},
		{"cleanup 0.5s", "[session]\ncleanup_interval = 0.5s\n", "session.cleanup_interval", "0.5s", "0 (off) or at least 1s"},
		{"cleanup 0 is off", "[session]\ncleanup_interval = 0\n", "", "", ""},
		{"cleanup 1s", "[session]\ncleanup_interval = 1s\n", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", tc.content)))
			if tc.key == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			cfgWantConfigError(t, err, tc.key, tc.value, tc.allowed)
		})
	}
	t.Run("exact message", func(t *testing.T) {
		_, err := LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", "[session]\ncleanup_interval = 1ns\n")))
		if want := `config: session.cleanup_interval = "1ns": allowed: 0 (off) or at least 1s`; err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("SESSIONFX_SESSION__CLEANUP_INTERVAL", "10ns")
		_, err := LoadConfig(cfgLoad(t, ""))
		cfgWantConfigError(t, err, "session.cleanup_interval", "10ns", "at least 1s")
	})
	t.Run("Validate leaves code-set intervals alone", func(t *testing.T) {
		// Tests set a short CleanupInterval on purpose; only values read
		// from a configuration are held to the floor.
		c := DefaultConfig()
		c.CleanupInterval = 10 * time.Millisecond
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		c.CleanupInterval = -time.Second
		var ce *ConfigError
		if err := c.Validate(); !errors.As(err, &ce) || ce.Key != "session.cleanup_interval" || ce.Value != "-1s" {
			t.Fatalf("want a ConfigError for session.cleanup_interval = -1s, got %v", err)
		}
	})
}

// TestConfigValuesShownAsWritten: a range check shows the value as the
// file or the environment wrote it, not as decoded.
func TestConfigValuesShownAsWritten(t *testing.T) {
	_, err := LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nlifetime = 1h30m\nidle_timeout = 2h\n")))
	cfgWantConfigError(t, err, "session.lifetime", "1h30m", "lifetime >= idle_timeout")
	_, err = LoadConfig(cfgLoad(t, cfgWrite(t, "c.ini", "[session]\nmax_session_size = 0KiB\n")))
	cfgWantConfigError(t, err, "session.max_session_size", "0KiB", "more than 0")
	t.Setenv("SESSIONFX_SESSION__IDLE_TIMEOUT", "-90m")
	_, err = LoadConfig(cfgLoad(t, ""))
	cfgWantConfigError(t, err, "session.idle_timeout", "-90m", "a duration of 0 or more")
}
