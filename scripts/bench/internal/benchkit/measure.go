package benchkit

import (
	"context"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one operation of a benchmark client. client numbers the calling
// goroutine from 0, so an op can act as the same resident every time; rng
// is that goroutine's own.
type Op func(ctx context.Context, rng *rand.Rand, client int) error

// warmUp is how long Measure runs before it counts, so pools, caches and
// the server are busy when the clock starts.
const warmUp = 300 * time.Millisecond

// Measure runs op from clients goroutines for d (after a short warm-up)
// and returns the operations completed, the time taken and the database
// server's CPU time meanwhile. Failed operations are not counted; the
// first few are logged.
func Measure(ctx context.Context, clients int, d time.Duration, op Op) Result {
	var done, failed atomic.Int64
	var counting atomic.Bool
	stopAt := time.Now().Add(d + warmUp)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for time.Now().Before(stopAt) {
				if err := op(ctx, rng, i); err != nil {
					if failed.Add(1) < 5 {
						log.Print(err)
					}
					continue
				}
				if counting.Load() {
					done.Add(1)
				}
			}
		})
	}
	time.Sleep(warmUp)
	counting.Store(true)
	start, cpu := time.Now(), serverCPU()
	wg.Wait()
	return Result{ops: done.Load(), elapsed: time.Since(start), dbCPU: serverCPU() - cpu}
}

// Result accumulates measured rounds of one operation.
type Result struct {
	ops     int64
	elapsed time.Duration
	dbCPU   time.Duration
}

// Add adds round x, so rounds interleaved with other operations' rounds
// sum to one figure.
func (r *Result) Add(x Result) {
	r.ops += x.ops
	r.elapsed += x.elapsed
	r.dbCPU += x.dbCPU
}

// Rate is operations per second.
func (r Result) Rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// CPU is the database server's CPU time per operation.
func (r Result) CPU() time.Duration {
	if r.ops == 0 {
		return 0
	}
	return (r.dbCPU / time.Duration(r.ops)).Round(time.Microsecond)
}

// serverCPU reads the CPU time the local database server process has used
// so far (Linux, server on this machine); 0 when it cannot.
func serverCPU() time.Duration {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil {
			continue
		}
		if name := strings.TrimSpace(string(comm)); name != "mariadbd" && name != "mysqld" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			return 0
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
	}
	return 0
}
