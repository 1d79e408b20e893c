// Package benchkit holds what the benchmark commands under scripts/bench
// share: their server flags, a throwaway database and Redis prefix, and
// closed-loop measuring that also reads the database server's CPU time.
package benchkit

import (
	"flag"
	"log"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
)

// ServerFlags defines the -dsn and -redis flags, defaulting to the
// TEST_MYSQL_DSN and TEST_REDIS_URL the tests use, so a benchmark runs
// against the same servers as the tests without flags.
func ServerFlags() (dsn, redisURL *string) {
	dsn = flag.String("dsn", envOr("TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"), "MySQL/MariaDB server DSN (the database name is replaced)")
	redisURL = flag.String("redis", envOr("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL")
	return dsn, redisURL
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Ints parses a comma-separated list of positive numbers, such as a
// -clients flag, and exits on anything else.
func Ints(list string) []int {
	var out []int
	for s := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("bad number %q", s)
		}
		out = append(out, n)
	}
	return out
}

// StartCPUProfile profiles this process into the file at path until stop
// is called. With an empty path (the flag not given) it does nothing.
func StartCPUProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
