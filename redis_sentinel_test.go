package session_test

// Sessions on a Sentinel-managed primary: the primary is killed under a
// steady write load on a setup of the test's own (a primary, two replicas,
// one Sentinel); the app follows the promotion without a restart. Measured:
// how long session requests get 503, and how many acknowledged writes are
// lost, without and with backends.shared.wait_replicas = 1.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

const (
	sentinelMasterSet = "sessionfx-failover"
	// sentinelTrialsEnv runs each failover variant that many times (default 1).
	sentinelTrialsEnv = "SESSIONFX_TEST_FAILOVER_TRIALS"
)

// sentinelSetup is a primary, two replicas and one Sentinel of the test's own.
type sentinelSetup struct {
	t                 *testing.T
	primary, sentinel int
	replicas          []int
	primaryCmd        *exec.Cmd
	replicaCmds       []*exec.Cmd
	dir               string
}

func redisCLI(port int, args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(port)}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

// startSentinelSetup starts the processes on ports base (primary), base+1
// and base+2 (replicas) and base+5 (Sentinel: quorum 1, down after 1000 ms)
// and stops them all when the test ends. It restores nothing: each call
// starts afresh.
func startSentinelSetup(t *testing.T, base int) *sentinelSetup {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH; install redis (e.g. apt-get install redis-server) to run the Sentinel failover test", bin)
		}
	}
	s := &sentinelSetup{t: t, primary: base, replicas: []int{base + 1, base + 2}, sentinel: base + 5, dir: t.TempDir()}
	for _, p := range []int{s.primary, s.replicas[0], s.replicas[1], s.sentinel} {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), 100*time.Millisecond); err == nil {
			c.Close()
			t.Skipf("port %d is in use: the Sentinel failover test needs ports %d-%d free", p, base, base+5)
		}
	}
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command("redis-server", args...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("redis-server %v: %v", args, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	server := func(port int, extra ...string) *exec.Cmd {
		dir := filepath.Join(s.dir, strconv.Itoa(port))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := run(append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"}, extra...)...)
		rcWait(t, 10*time.Second, fmt.Sprintf("redis-server on %d", port), func() bool { out, err := redisCLI(port, "ping"); return err == nil && out == "PONG" })
		return cmd
	}
	s.primaryCmd = server(s.primary)
	for _, r := range s.replicas {
		s.replicaCmds = append(s.replicaCmds, server(r, "--replicaof", "127.0.0.1", strconv.Itoa(s.primary)))
	}
	rcWait(t, 20*time.Second, "both replicas in sync", func() bool {
		out, _ := redisCLI(s.primary, "info", "replication")
		return strings.Count(out, "state=online") == 2
	})
	conf := filepath.Join(s.dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %[3]s 1000
sentinel failover-timeout %[3]s 3000
sentinel parallel-syncs %[3]s 2
`, s.sentinel, s.dir, sentinelMasterSet, s.primary)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(conf, "--sentinel")
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("SENTINEL REPLICAS: %q", last)
		}
	})
	rcWait(t, 20*time.Second, "the Sentinel to know both replicas", func() bool {
		out, err := redisCLI(s.sentinel, "sentinel", "replicas", sentinelMasterSet)
		last = out
		return err == nil && strings.Count(out, "flags\nslave\n") == 2 && !strings.Contains(out, "disconnected") && !strings.Contains(out, "s_down")
	})
	return s
}

func (s *sentinelSetup) url() string {
	return fmt.Sprintf("redis://127.0.0.1:%d?master_set=%s", s.sentinel, sentinelMasterSet)
}

// master is the primary's port as the Sentinel names it.
func (s *sentinelSetup) master() int {
	out, err := redisCLI(s.sentinel, "sentinel", "get-master-addr-by-name", sentinelMasterSet)
	if err != nil {
		return 0
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// failoverResult is what one failover trial measured.
type failoverResult struct {
	unavailable   time.Duration // kill to the last 503
	promoted      time.Duration // kill to the Sentinel naming the new primary
	failed, acked int           // requests answered 503 / 200 during the trial
	lost          int           // acknowledged values greater than what reads back
}

// runFailover starts a setup and an app on it, runs writers goroutines
// that each increment a value of their own session, kills the primary,
// waits until every writer is acknowledged again after the promotion, and
// compares what each writer was last acknowledged with what reads back.
//
// With lag, the replicas fall behind first: they are stopped (SIGSTOP)
// while 128 MiB of other writes fill the replication buffers (more than
// the kernel's socket buffers hold, so the rest waits in the primary), so what the
// primary acknowledges in that time has not reached them when it is killed;
// they are resumed (SIGCONT) right after the kill. On loopback a quiet
// replica has every acknowledged write within microseconds (the stream is
// in its socket buffer even if the primary dies): lag is how the test makes
// asynchronous replication lose writes, as a slow network or a busy replica
// would.
func runFailover(t *testing.T, base, waitReplicas int, lag bool) failoverResult {
	const writers = 6
	s := startSentinelSetup(t, base)
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__URL", s.url())
	t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__SESSIONS__PREFIX", miRandom("sessionfx-failover-")+":")
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__WAIT_REPLICAS", strconv.Itoa(waitReplicas))
	app := miStart(t, "testdata/multi/redis-sentinel.ini")
	client := &http.Client{Timeout: 5 * time.Second}

	cookies := make([]string, writers)
	for i := range cookies {
		code, body, c := miDo(t, app, "/?op=set&key=v0&val=1", "")
		miWant(t, "first write", code, body, 200, "v0=1")
		cookies[i] = c
	}

	var (
		res      failoverResult
		mu       sync.Mutex
		lastFail time.Time
		killed   time.Time
		acked    = make([][]string, writers)     // the keys each writer was acknowledged
		sinceOK  = make([]atomic.Int64, writers) // acknowledgements since the kill
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		bad      []string
	)
	for w := range writers {
		wg.Go(func() {
			for v := 1; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/?op=set&key=v%d&val=1", app, v), nil)
				req.AddCookie(&http.Cookie{Name: "sid", Value: cookies[w]})
				r, err := client.Do(req)
				code, body := 0, ""
				if err == nil {
					b, _ := io.ReadAll(r.Body)
					r.Body.Close()
					code, body = r.StatusCode, string(b)
				}
				mu.Lock()
				switch {
				case code == 200 && strings.Contains(body, fmt.Sprintf(" v%d=1", v)):
					acked[w] = append(acked[w], "v"+strconv.Itoa(v))
					res.acked++
					if !killed.IsZero() {
						sinceOK[w].Add(1)
					}
				case code == http.StatusServiceUnavailable:
					res.failed++
					lastFail = time.Now()
					sinceOK[w].Store(0)
				default:
					bad = append(bad, fmt.Sprintf("writer %d value %d: %d %q %v", w, v, code, body, err))
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	time.Sleep(time.Second) // steady load first
	old := s.master()
	if lag {
		for _, c := range s.replicaCmds {
			_ = c.Process.Signal(syscall.SIGSTOP)
		}
		junk, err := rediskv.New("junk", kvcache.BackendConfig{Type: "redis", URL: fmt.Sprintf("redis://127.0.0.1:%d/0", s.primary)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		big := strings.Repeat("x", 64<<10)
		for i := range 2048 { // 128 MiB: more than the socket buffers (tcp_rmem max is often 32 MiB) hold
			if err := junk.Set(context.Background(), "junk:"+strconv.Itoa(i%64), []byte(big), 0); err != nil {
				t.Fatalf("filler write: %v", err)
			}
		}
		_ = junk.Close()
		time.Sleep(700 * time.Millisecond) // session writes acknowledged by the primary alone
	}
	mu.Lock()
	_ = s.primaryCmd.Process.Kill() // SIGKILL: no goodbye to replicas or clients
	killed = time.Now()
	mu.Unlock()
	_ = s.primaryCmd.Wait()
	for _, c := range s.replicaCmds {
		_ = c.Process.Signal(syscall.SIGCONT)
	}

	deadline := killed.Add(45 * time.Second)
	for {
		m := s.master()
		if res.promoted == 0 && m != 0 && m != old {
			res.promoted = time.Since(killed)
		}
		done := res.promoted > 0
		for w := range writers {
			if sinceOK[w].Load() < 20 {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			close(stop)
			wg.Wait()
			t.Fatalf("45s after the primary was killed: promoted after %s (Sentinel names port %d), acknowledgements per writer since the kill %v: no recovery", res.promoted, m, func() (n []int64) {
				for w := range writers {
					n = append(n, sinceOK[w].Load())
				}
				return n
			}())
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	if !lastFail.IsZero() {
		res.unavailable = lastFail.Sub(killed)
	}
	// Each write added a key of its own to its writer's session: an
	// acknowledged key missing afterwards is a lost write (later writes do
	// not hide it, as overwriting one counter would).
	for w, c := range cookies {
		code, body, _ := miDo(t, app, "/?op=get&key=none", c)
		if code != 200 || !strings.HasPrefix(body, "keys=") {
			t.Fatalf("writer %d: read back after the failover: %d %q", w, code, body)
		}
		have := map[string]bool{}
		for _, k := range strings.Split(strings.TrimPrefix(strings.Fields(body)[0], "keys="), ",") {
			have[k] = true
		}
		var lost []string
		for _, k := range acked[w] {
			if !have[k] {
				lost = append(lost, k)
			}
		}
		if len(lost) > 0 {
			res.lost += len(lost)
			t.Logf("writer %d: %d of %d acknowledged writes lost (%s ... %s)", w, len(lost), len(acked[w]), lost[0], lost[len(lost)-1])
		}
	}
	return res
}

// TestRedisSentinelFailover: kill the primary under load; the app follows
// the Sentinel's promotion without a restart. With wait_replicas = 1 no
// acknowledged write may be lost; without it the loss is reported.
func TestRedisSentinelFailover(t *testing.T) {
	trials := 1
	if v, err := strconv.Atoi(os.Getenv(sentinelTrialsEnv)); err == nil && v > 0 {
		trials = v
	}
	for _, v := range []struct {
		wait int
		lag  bool
	}{{0, false}, {1, false}, {0, true}, {1, true}} {
		wait := v.wait
		name := "wait_replicas=" + strconv.Itoa(wait)
		if v.lag {
			name += "/lagging_replicas"
		}
		t.Run(name, func(t *testing.T) {
			var sum failoverResult
			var worst time.Duration
			for trial := range trials {
				var r failoverResult
				if !t.Run(fmt.Sprintf("trial%d", trial), func(t *testing.T) { r = runFailover(t, 7171, wait, v.lag) }) {
					return
				}
				if r.acked == 0 {
					return // filtered out by -run
				}
				t.Logf("trial %d: primary killed; Sentinel promoted a replica after %s; session requests answered 503 until %s after the kill (%d requests 503, %d acknowledged); %d acknowledged writes lost",
					trial, r.promoted.Round(10*time.Millisecond), r.unavailable.Round(10*time.Millisecond), r.failed, r.acked, r.lost)
				if wait > 0 && r.lost > 0 {
					t.Errorf("trial %d: %d acknowledged writes lost with wait_replicas = %d", trial, r.lost, wait)
				}
				if r.unavailable > 20*time.Second {
					t.Errorf("trial %d: 503 for %s after the kill; want the failover within 20s", trial, r.unavailable)
				}
				sum.lost += r.lost
				sum.failed += r.failed
				sum.acked += r.acked
				worst = max(worst, r.unavailable)
			}
			t.Logf("%s, %d trials: worst 503 window %s, %d acknowledged writes lost of %d acknowledged", name, trials, worst.Round(10*time.Millisecond), sum.lost, sum.acked)
		})
	}
}
