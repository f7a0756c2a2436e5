package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// benchstatPkg is a pinned benchstat, fetched through the Go module proxy
// when available; without it the raw lines are printed (benchstat reads
// them as they are).
const benchstatPkg = "golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

// goBench is the output of the engine benchmarks.
type goBench struct {
	raw       string // go test output: benchstat's input format
	benchstat string // its summary, "" when benchstat could not run
	// medians by benchmark name (without -GOMAXPROCS) and unit
	median map[string]map[string]float64
}

func runGoBench(o options) (*goBench, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", strconv.Itoa(o.count), "-benchtime", o.benchtime, "./plugin/", "./store/", "./pdk/envoy/")
	cmd.Dir = root()
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test -bench: %v\n%s%s", err, out.Bytes(), stderr.Bytes())
	}
	g := &goBench{raw: out.String(), median: parseBench(out.String())}

	f, err := os.CreateTemp("", "o2p-bench-*.txt")
	if err == nil {
		defer os.Remove(f.Name())
		f.WriteString(g.raw)
		f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		bs := exec.CommandContext(ctx, "go", "run", benchstatPkg, filepath.Base(f.Name()))
		bs.Dir = filepath.Dir(f.Name())
		if b, err := bs.Output(); err == nil {
			g.benchstat = string(b)
		} else {
			progress("benchstat unavailable (%v): printing the raw benchmark lines", err)
		}
	}
	return g, nil
}

// parseBench returns the median of every benchmark result by unit.
func parseBench(out string) map[string]map[string]float64 {
	vals := map[string]map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		if vals[name] == nil {
			vals[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				vals[name][f[i+1]] = append(vals[name][f[i+1]], v)
			}
		}
	}
	med := map[string]map[string]float64{}
	for name, units := range vals {
		med[name] = map[string]float64{}
		for u, vs := range units {
			slices.Sort(vs)
			med[name][u] = vs[len(vs)/2]
		}
	}
	return med
}
