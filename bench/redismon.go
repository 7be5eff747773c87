package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// StartPrivateRedis starts a redis-server of its own on a free loopback
// port (no persistence), so that the commands counted by a RedisMonitor are
// only the measured target's. It returns the server's URL and a function
// that stops it (the process it started, by its pid).
func StartPrivateRedis() (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("%w: redis-server not found: %v", ErrSkip, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	for i := 0; ; i++ {
		c, err := redis.DialURL(url)
		if err == nil {
			_, err = c.Do("PING")
			_ = c.Close()
			if err == nil {
				return url, stop, nil
			}
		}
		if i == 100 {
			stop()
			return "", nil, fmt.Errorf("private redis-server on port %d did not answer: %w", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RedisMonitor reads a Redis server's MONITOR feed and counts the commands
// clients send (each line "[db host:port]") apart from the commands Lua
// scripts run inside the server ("[db lua]").
type RedisMonitor struct {
	url   string
	conn  redis.Conn
	lines chan string
	seq   int
}

// NewRedisMonitor connects to url and starts MONITOR.
func NewRedisMonitor(url string) (*RedisMonitor, error) {
	c, err := redis.DialURL(url)
	if err != nil {
		return nil, err
	}
	if err := c.Send("MONITOR"); err != nil {
		_ = c.Close()
		return nil, err
	}
	if err := c.Flush(); err != nil {
		_ = c.Close()
		return nil, err
	}
	if _, err := c.Receive(); err != nil {
		_ = c.Close()
		return nil, err
	}
	m := &RedisMonitor{url: url, conn: c, lines: make(chan string, 4096)}
	go func() {
		defer close(m.lines)
		for {
			s, err := redis.String(c.Receive())
			if err != nil {
				return
			}
			m.lines <- s
		}
	}()
	return m, nil
}

// Close stops the monitor.
func (m *RedisMonitor) Close() { _ = m.conn.Close() }

// RedisCount is what a RedisMonitor counted between two Syncs.
type RedisCount struct {
	Sent   map[string]int // commands sent by clients, by upper-case name
	Script map[string]int // commands run inside scripts, by upper-case name
}

// Sync returns what was counted since the previous Sync: it sends a marker
// (ECHO) on a connection of its own and reads the feed up to it. The marker,
// PING (keep-alive) and HELLO (connection set-up) are not counted.
func (m *RedisMonitor) Sync() (RedisCount, error) {
	m.seq++
	marker := fmt.Sprintf("bench-monitor-marker-%d-%d", time.Now().UnixNano(), m.seq)
	c, err := redis.DialURL(m.url)
	if err != nil {
		return RedisCount{}, err
	}
	_, err = c.Do("ECHO", marker)
	_ = c.Close()
	if err != nil {
		return RedisCount{}, err
	}
	out := RedisCount{Sent: map[string]int{}, Script: map[string]int{}}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-m.lines:
			if !ok {
				return out, errors.New("redis monitor: connection closed")
			}
			if strings.Contains(line, marker) {
				return out, nil
			}
			where, name, ok := parseMonitorLine(line)
			if !ok || name == "PING" || name == "HELLO" {
				continue
			}
			if strings.HasSuffix(where, " lua") {
				out.Script[name]++
			} else {
				out.Sent[name]++
			}
		case <-timeout:
			return out, errors.New("redis monitor: marker not seen within 10s")
		}
	}
}

// parseMonitorLine splits `1700000000.123456 [0 127.0.0.1:5000] "GET" "k"`
// into "0 127.0.0.1:5000" and "GET".
func parseMonitorLine(line string) (where, name string, ok bool) {
	i := strings.IndexByte(line, '[')
	j := strings.Index(line, "] \"")
	if i < 0 || j < i {
		return "", "", false
	}
	where = line[i+1 : j]
	rest := line[j+3:]
	k := strings.IndexByte(rest, '"')
	if k < 0 {
		return "", "", false
	}
	return where, strings.ToUpper(rest[:k]), true
}

// RedisCommands builds a fresh target of bl with o (o.RedisURL: the server
// mon watches), seeds it, lets it settle (Settle) as the benchmarks do, serves
// one warm-up request of sc, then counts the Redis commands of reqs more
// requests. It returns the commands per request.
func RedisCommands(ctx context.Context, bl Builder, o Options, sc Scenario, mon *RedisMonitor, reqs int) (RedisCount, error) {
	t, err := bl.New(ctx, o)
	if err != nil {
		return RedisCount{}, err
	}
	defer t.Close()
	cookie, err := Seed(t)
	if err != nil {
		return RedisCount{}, err
	}
	Settle(sc)
	h := t.L.Wrap(sc.Handler(t.L))
	base := Request(sc, cookie)
	if err := CheckResponse(Serve(h, base)); err != nil {
		return RedisCount{}, fmt.Errorf("%s %s warm-up: %w", t.Name(), sc.Name, err)
	}
	if _, err := mon.Sync(); err != nil {
		return RedisCount{}, err
	}
	for i := range reqs {
		if err := CheckResponse(Serve(h, base)); err != nil {
			return RedisCount{}, fmt.Errorf("%s %s request %d: %w", t.Name(), sc.Name, i, err)
		}
	}
	return mon.Sync()
}

// Format renders c divided by reqs: "2 (GET 1, EVALSHA 1; in scripts: GET 1, SET 1)".
func (c RedisCount) Format(reqs int) string {
	part := func(m map[string]int) (string, float64) {
		names := make([]string, 0, len(m))
		total := 0.0
		for n, v := range m {
			names = append(names, n)
			total += float64(v)
		}
		sort.Strings(names)
		var b []string
		for _, n := range names {
			b = append(b, n+" "+fmtPerReq(float64(m[n])/float64(reqs)))
		}
		return strings.Join(b, ", "), total / float64(reqs)
	}
	sent, total := part(c.Sent)
	s := fmtPerReq(total)
	if sent != "" {
		s += " (" + sent
		if in, _ := part(c.Script); in != "" {
			s += "; in scripts: " + in
		}
		s += ")"
	}
	return s
}

func fmtPerReq(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }
