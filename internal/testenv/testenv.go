// Package testenv names the environment variables that point the tests at
// real servers, and skips a test with one uniform message when the variable
// it needs is unset.
//
// go test prints only "ok" for a package whose tests pass (skips included)
// unless it runs with -v, so under the README's `go test -race ./...` these
// skips are silent. To see which variables are unset and which packages'
// tests they enable:
//
//	go test -v -run TestServerVariables ./internal/testenv
package testenv

import (
	"os"
	"testing"
)

// Var is an environment variable that points tests at a server.
type Var struct {
	Name    string // the environment variable
	Server  string // what it points at
	Example string // a value that reaches the server .ci/run starts
}

// The variables the tests read; .ci/run sets all three.
var (
	Postgres = Var{"SESSIONFX_TEST_POSTGRES_DSN", "PostgreSQL", "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"}
	MySQL    = Var{"SESSIONFX_TEST_MYSQL_DSN", "MariaDB or MySQL", "root@tcp(127.0.0.1:3306)/test?parseTime=true&loc=UTC"}
	Redis    = Var{"SESSIONFX_TEST_REDIS_URL", "Redis", "redis://127.0.0.1:6379/0"}
)

// All returns every variable, in the README's order.
func All() []Var { return []Var{Postgres, MySQL, Redis} }

// Require returns the value of v, or skips t with a message naming v, its
// server and an example value when v is unset.
func Require(t testing.TB, v Var) string {
	t.Helper()
	val := os.Getenv(v.Name)
	if val == "" {
		t.Skipf("%s is not set: this test needs %s; set it (for example %s=%q) to run it", v.Name, v.Server, v.Name, v.Example)
	}
	return val
}
