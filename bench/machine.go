package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the benchmark ran.
type machine struct {
	CPU          string  `json:"cpu"`
	Cores        int     `json:"cores"`
	MemoryGB     float64 `json:"memory_gb"`
	Kernel       string  `json:"kernel"`
	Go           string  `json:"go"`
	PostgreSQL   string  `json:"postgresql"`
	HypoPG       string  `json:"hypopg"`
	LoadAvgStart string  `json:"load_avg_start"`
	LoadAvgEnd   string  `json:"load_avg_end"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadAvgStart: loadAvg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(fs[1], 64)
				m.MemoryGB = float64(int(kb/1024/1024*10+0.5)) / 10
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (m *machine) fillServer(ctx context.Context, e *env) {
	conn, err := e.connect(ctx, "postgres", false)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_ = conn.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&m.PostgreSQL)
	_ = conn.QueryRow(ctx, "SELECT extversion FROM pg_extension WHERE extname = 'hypopg'").Scan(&m.HypoPG)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// goBench is one line of a go test benchmark, as go test reports it.
type goBench struct {
	Line  string `json:"line,omitempty"`
	Error string `json:"error,omitempty"`
}

// runGoBench runs the benchmarks of pkg that pattern selects once (each
// starts what it needs: a cluster, an agent process) and returns the
// first result line.
func runGoBench(ctx context.Context, pkg, pattern string) *goBench {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pattern, "-benchtime", "1x", pkg)
	out, err := cmd.CombinedOutput()
	if m := resultLine.FindString(string(out)); m != "" {
		return &goBench{Line: strings.Join(strings.Fields(m), " ")}
	}
	if err == nil {
		return &goBench{Error: "no result line:\n" + tail(out)}
	}
	return &goBench{Error: err.Error() + "\n" + tail(out)}
}

var resultLine = regexp.MustCompile(`(?m)^Benchmark\S+\s+\d+\s+.*$`)
