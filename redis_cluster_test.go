package session_test

// Sessions on a Redis Cluster: the two-instance checks (lifecycle races
// included) on the cluster .ci/redis-topologies starts, and a primary
// killed and restarted on a small cluster of the test's own.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionfx/session/kvcache"
	"github.com/sessionfx/session/kvcache/rediskv"
)

const miRedisClusterEnv = "SESSIONFX_TEST_REDIS_CLUSTER_URL"

// TestRedisClusterMultiInstance runs miTwoInstances (and lcRun's races) on
// two instances sharing a Redis Cluster, with and without the client cache.
func TestRedisClusterMultiInstance(t *testing.T) {
	url := os.Getenv(miRedisClusterEnv)
	if url == "" {
		t.Skipf("%s is not set; start a local cluster with eval \"$(.ci/redis-topologies start)\" (or set it, e.g. 'redis://127.0.0.1:7101?addr=127.0.0.1:7102&addr=127.0.0.1:7103') to run the two-instance test on a Redis Cluster", miRedisClusterEnv)
	}
	// The races send 50 writers at once, while go test runs the other
	// packages' tests beside this one on a 2-core CI machine: a cluster
	// reply once took longer than the file's 500ms (a 503 in CI). The
	// default command timeout (2s) is what an app runs with; the 500ms of
	// the file stays for TestRedisClusterPrimaryDown, which times failures.
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__COMMAND_TIMEOUT", "2s")
	miRedisVariants(t, url, "testdata/multi/redis-cluster.ini")
}

// rcNode is one redis-server of a test's own cluster: its port, folder
// (nodes-P.conf, append-only file) and process.
type rcNode struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func (n *rcNode) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// start runs (or runs again, with the same nodes.conf and data) the node.
// appendfsync always: every acknowledged write survives a SIGKILL, so the
// test can tell "recovered" from "came back empty".
func (n *rcNode) start() {
	n.t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(n.port), "--bind", "127.0.0.1", "--dir", n.dir,
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+strconv.Itoa(n.port)+".conf",
		"--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("starting redis-server on port %d: %v", n.port, err)
	}
	n.cmd = cmd
	rcWait(n.t, 10*time.Second, fmt.Sprintf("redis-server on port %d to answer PING", n.port), func() bool {
		out, err := exec.Command("redis-cli", "-p", strconv.Itoa(n.port), "ping").Output()
		return err == nil && strings.TrimSpace(string(out)) == "PONG"
	})
}

// kill sends SIGKILL and waits for the process to end.
func (n *rcNode) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	n.cmd = nil
}

func rcWait(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rcClusterOK(port int) bool {
	out, err := exec.Command("redis-cli", "-p", strconv.Itoa(port), "cluster", "info").Output()
	return err == nil && strings.Contains(string(out), "cluster_state:ok")
}

// startRedisCluster starts a 3-primary cluster (no replicas) on ports and
// stops it when the test ends.
func startRedisCluster(t *testing.T, ports ...int) []*rcNode {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH; install redis (e.g. apt-get install redis-server) to run the cluster failure test", bin)
		}
	}
	var nodes []*rcNode
	var seeds []string
	for _, p := range ports {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), 100*time.Millisecond); err == nil {
			c.Close()
			t.Skipf("port %d is in use: the cluster failure test needs ports %v free", p, ports)
		}
		n := &rcNode{t: t, port: p, dir: filepath.Join(t.TempDir())}
		n.start()
		t.Cleanup(n.kill)
		nodes = append(nodes, n)
		seeds = append(seeds, n.addr())
	}
	args := append([]string{"--cluster", "create"}, seeds...)
	if out, err := exec.Command("redis-cli", append(args, "--cluster-yes")...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range nodes {
		rcWait(t, 20*time.Second, fmt.Sprintf("cluster_state:ok on %d", n.port), func() bool { return rcClusterOK(n.port) })
	}
	return nodes
}

// TestRedisClusterPrimaryDown kills one primary (no replica) of a cluster
// of the test's own: the sessions stored in its slots get 503, the others
// keep working; when the node is restarted (same port, same nodes.conf and
// data) the same app serves them all again.
func TestRedisClusterPrimaryDown(t *testing.T) {
	nodes := startRedisCluster(t, 7161, 7162, 7163)
	url := fmt.Sprintf("redis://%s?addr=%s&addr=%s", nodes[0].addr(), nodes[1].addr(), nodes[2].addr())
	prefix := miRandom("sessionfx-cluster-down-") + ":"
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__URL", url)
	t.Setenv("SESSIONFX_KVCACHE__CONTAINERS__SESSIONS__PREFIX", prefix)
	t.Setenv("SESSIONFX_KVCACHE__BACKENDS__SHARED__CLIENT_CACHE", "true")
	app := miStart(t, "testdata/multi/redis-cluster.ini")

	const n = 30
	cookies := make([]string, n)
	for i := range cookies {
		code, body, c := miDo(t, app, fmt.Sprintf("/?op=set&key=a&val=%d", i), "")
		miWant(t, "write while the cluster is up", code, body, 200, fmt.Sprintf("a=%d", i))
		cookies[i] = c
	}
	// Which primary holds each session? Count the container's keys per node.
	b, err := rediskv.New("probe", kvcache.BackendConfig{Type: "redis", URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	perNode := map[string]int{}
	for addr, c := range b.Client().Nodes() {
		keys, err := c.Do(ctx, c.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice() // a test's own cluster: KEYS is fine
		if err != nil {
			t.Fatalf("KEYS on %s: %v", addr, err)
		}
		perNode[addr] = len(keys)
	}
	victim := nodes[2]
	onVictim := perNode[victim.addr()]
	t.Logf("sessions per primary: %v; killing %s (%d sessions)", perNode, victim.addr(), onVictim)
	if onVictim == 0 || onVictim == n {
		t.Fatalf("the victim holds %d of %d sessions: want some, not all", onVictim, n)
	}

	check := func(phase string) (ok, unavailable int) {
		t.Helper()
		for i, c := range cookies {
			start := time.Now()
			code, body, _ := miDo(t, app, "/?op=get&key=a", c)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("%s: session %d answered after %s; want within about the 500ms command timeout", phase, i, took)
			}
			switch {
			case code == 200 && strings.Contains(body, fmt.Sprintf("a=%d", i)):
				ok++
			case code == http.StatusServiceUnavailable:
				unavailable++
			default:
				t.Fatalf("%s: session %d: %d %q; want 200 with a=%d or 503", phase, i, code, body, i)
			}
		}
		return ok, unavailable
	}

	victim.kill()
	killed := time.Now()
	for _, phase := range []string{"right after the kill", "after the cluster marked the node failed"} {
		if phase != "right after the kill" {
			// cluster-node-timeout is 1s: by now the others flag it FAIL; with
			// cluster-require-full-coverage no they keep serving their slots.
			time.Sleep(time.Until(killed.Add(3 * time.Second)))
		}
		ok, unavailable := check(phase)
		if unavailable != onVictim || ok != n-onVictim {
			t.Fatalf("%s: %d sessions 200, %d 503; want %d and %d (the killed primary's)", phase, ok, unavailable, n-onVictim, onVictim)
		}
		t.Logf("%s: %d sessions served, %d answered 503", phase, ok, unavailable)
	}
	// A request that never touches the session does not notice.
	code, body, _ := miDo(t, app, "/?op=none", cookies[0])
	miWant(t, "request that never touches the session, a primary down", code, body, 200, "untouched")

	victim.start() // same port, nodes.conf and append-only file: it rejoins with its slots and data
	restarted := time.Now()
	var recovered time.Duration
	deadline := restarted.Add(20 * time.Second)
	for {
		ok := 0
		for i, c := range cookies {
			code, body, _ := miDo(t, app, "/?op=get&key=a", c)
			if code == 200 && strings.Contains(body, fmt.Sprintf("a=%d", i)) {
				ok++
			}
		}
		if ok == n {
			recovered = time.Since(restarted)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after the primary restarted, %d of %d sessions are served: no recovery without an app restart", ok, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every session (with its data) served again %s after the primary restarted, without restarting the app", recovered.Round(time.Millisecond))
	for i, c := range cookies {
		code, body, _ := miDo(t, app, "/?op=set&key=b&val=2", c)
		miWant(t, fmt.Sprintf("session %d: write after the recovery", i), code, body, 200, "b=2")
	}
}
