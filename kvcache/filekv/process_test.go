package filekv

// Several processes on one file: the test binary re-executes itself
// (os.Args[0] with FILEKV_TEST_CHILD set; TestMain runs childMain instead
// of the tests) to write to the same file at the same time, and to be
// killed with SIGKILL in the middle of writing.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessionfx/session/backends"
	"github.com/sessionfx/session/kvcache"
)

const (
	childEnv     = "FILEKV_TEST_CHILD" // "writers" or "kill"
	childPath    = "FILEKV_TEST_PATH"
	childSession = "FILEKV_TEST_SESSION"
	childTag     = "FILEKV_TEST_TAG"
	childWriters = "FILEKV_TEST_WRITERS"
)

// childMain is the second process. It reports on stdout, one line each.
func childMain() int {
	b, err := New("child", kvcache.BackendConfig{Type: TypeName, Path: os.Getenv(childPath)}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	defer b.Close()
	switch os.Getenv(childEnv) {
	case "writers":
		return childWritersMain(b)
	case "kill":
		return childKillMain(b)
	}
	fmt.Fprintln(os.Stderr, "child: unknown mode", os.Getenv(childEnv))
	return 2
}

// childWritersMain: FILEKV_TEST_WRITERS goroutines each merge one key of
// their own into session FILEKV_TEST_SESSION through a KVStore, all at once
// after the parent writes a line to stdin.
func childWritersMain(b *Backend) int {
	ctx := context.Background()
	st := backends.NewKVStore(kvcache.NewContainer("session", "session:", 0, b))
	n, _ := strconv.Atoi(os.Getenv(childWriters))
	id, tag := os.Getenv(childSession), os.Getenv(childTag)
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "child: waiting for go:", err)
		return 2
	}
	var wg sync.WaitGroup
	var failed sync.Map
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := tag + "-" + strconv.Itoa(i)
			_, err := st.Save(ctx, id, backends.Changes{Set: map[string]any{key: int64(i)}}, backends.SaveOptions{Expires: time.Now().Add(time.Hour)})
			if err != nil {
				failed.Store(key, err)
			}
		}()
	}
	wg.Wait()
	code := 0
	failed.Range(func(k, v any) bool {
		fmt.Fprintf(os.Stderr, "child: save of %s: %v\n", k, v)
		code = 1
		return true
	})
	fmt.Println("done")
	return code
}

// childKillMain writes until it is killed: 8 goroutines Set keys of their
// own and one increments a counter with Update; each prints a line after
// its write returned nil ("set <key>" or "count <n>").
func childKillMain(b *Backend) int {
	ctx := context.Background()
	tag := os.Getenv(childTag)
	var mu sync.Mutex
	ack := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stdout.WriteString(s + "\n"); err != nil {
			os.Exit(3)
		}
	}
	for g := range 8 {
		go func() {
			for i := 0; ; i++ {
				k := tag + ":" + strconv.Itoa(g) + ":" + strconv.Itoa(i)
				if err := b.Set(ctx, k, []byte("value of "+k), 0); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(1)
				}
				ack("set " + k)
			}
		}()
	}
	for {
		var n int
		err := b.Update(ctx, "counter", func(old []byte, found bool) ([]byte, time.Duration, error) {
			n = 0
			if found {
				var err error
				if n, err = strconv.Atoi(string(old)); err != nil {
					return nil, 0, err
				}
			}
			n++
			return []byte(strconv.Itoa(n)), 0, nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		ack("count " + strconv.Itoa(n))
	}
}

func child(t *testing.T, mode, path string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + mode, childPath + "=" + path}, env...)...)
	cmd.Stderr = &lockedBuffer{}
	return cmd
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTwoProcesses: two processes × 25 writers each merge a key of their
// own into one session on one file, all at once; the session ends with all
// 50 keys (no merge is lost across processes).
func TestTwoProcesses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses POSIX process control")
	}
	const writers = 25
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "shared.sqlite3")
	b := openAt(t, path)
	defer b.Close()
	st := backends.NewKVStore(kvcache.NewContainer("session", "session:", 0, b))
	id := "two-processes-session"
	if _, err := st.Save(ctx, id, backends.Changes{Set: map[string]any{"seed": "x"}}, backends.SaveOptions{Expires: time.Now().Add(time.Hour), New: true}); err != nil {
		t.Fatal(err)
	}
	type proc struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Scanner
	}
	var procs []proc
	for _, tag := range []string{"p1", "p2"} {
		cmd := child(t, "writers", path, childSession+"="+id, childTag+"="+tag, childWriters+"="+strconv.Itoa(writers))
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, proc{cmd: cmd, in: in, out: bufio.NewScanner(out)})
	}
	for _, p := range procs {
		if !p.out.Scan() || p.out.Text() != "ready" {
			t.Fatalf("child did not get ready: %q; stderr: %s", p.out.Text(), p.cmd.Stderr)
		}
	}
	for _, p := range procs {
		_, _ = io.WriteString(p.in, "go\n")
	}
	for _, p := range procs {
		for p.out.Scan() {
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("child: %v; stderr: %s", err, p.cmd.Stderr)
		}
	}
	r, err := st.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, tag := range []string{"p1", "p2"} {
		for i := range writers {
			k := tag + "-" + strconv.Itoa(i)
			if v, ok := r.Data[k]; !ok || fmt.Sprint(v) != strconv.Itoa(i) {
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 || len(r.Data) != 2*writers+1 {
		t.Fatalf("the session has %d keys (want %d + seed); missing: %q", len(r.Data), 2*writers, missing)
	}
	t.Logf("2 processes x %d concurrent writers: all %d keys merged into one session", writers, 2*writers)
}

// TestKill9: a child writes as fast as it can and acknowledges each write on
// stdout after it returned; the parent kills it with SIGKILL mid-stream,
// reopens the file and finds every acknowledged write, with a clean
// integrity check. Three rounds on the same file.
func TestKill9(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGKILL")
	}
	path := filepath.Join(t.TempDir(), "kill9.sqlite3")
	var allSets []string
	maxCount := 0
	for round := range 3 {
		tag := "r" + strconv.Itoa(round)
		cmd := child(t, "kill", path, childTag+"="+tag)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		acked, killed := 0, false
		start := time.Now()
		// Kill after a varying number of acknowledgements (or 10s).
		killAt := 300 + 700*round
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "set "):
				allSets = append(allSets, strings.TrimPrefix(line, "set "))
			case strings.HasPrefix(line, "count "):
				n, _ := strconv.Atoi(strings.TrimPrefix(line, "count "))
				maxCount = max(maxCount, n)
			default:
				t.Fatalf("child wrote %q", line)
			}
			acked++
			if !killed && (acked >= killAt || time.Since(start) > 10*time.Second) {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child: %v (want killed by SIGKILL); stderr: %s", err, cmd.Stderr)
		}
		// Reopen (recovering the WAL the dead process left) and check.
		b := openAt(t, path)
		ctx := t.Context()
		var lost []string
		for _, k := range allSets {
			v, _, err := b.Get(ctx, k)
			if err != nil || string(v) != "value of "+k {
				lost = append(lost, k)
			}
		}
		v, _, err := b.Get(ctx, "counter")
		n, _ := strconv.Atoi(string(v))
		if err != nil || n < maxCount {
			t.Errorf("round %d: counter = %q, %v; want at least the acknowledged %d", round, v, err, maxCount)
		}
		ic := integrity(t, b)
		present := rowCount(t, b)
		_ = b.Close()
		if len(lost) > 0 {
			t.Fatalf("round %d: %d of %d acknowledged writes lost after kill -9, e.g. %q", round, len(lost), len(allSets), lost[:min(5, len(lost))])
		}
		if ic != "ok" {
			t.Fatalf("round %d: integrity_check = %q", round, ic)
		}
		t.Logf("round %d: killed after %d acks in %s; %d acknowledged Sets so far, all present (%d rows; counter %d >= acked %d); integrity_check ok",
			round, acked, time.Since(start).Round(time.Millisecond), len(allSets), present, n, maxCount)
	}
}
