package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
)

// profiler profiles the ledger's slices only (-cpuprofile): each slice to
// a file of its own, merged at the end into the profile asked for, whose
// top 15 functions (flat) go into the report. The github.com/google/pprof
// packages are not a dependency of this module: the merge and the top
// are go tool pprof's.
type profiler struct {
	dir   string
	parts []string
	cur   *os.File
}

func newProfiler() (*profiler, error) {
	dir, err := os.MkdirTemp("", "payoutbench-prof-")
	if err != nil {
		return nil, err
	}
	return &profiler{dir: dir}, nil
}

// start profiles until stop (nil profiler: nothing).
func (p *profiler) start() error {
	if p == nil {
		return nil
	}
	f, err := os.Create(filepath.Join(p.dir, fmt.Sprintf("part%03d.prof", len(p.parts))))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.cur = f
	p.parts = append(p.parts, f.Name())
	return nil
}

func (p *profiler) stop() {
	if p == nil || p.cur == nil {
		return
	}
	pprof.StopCPUProfile()
	p.cur.Close()
	p.cur = nil
}

// finish merges the parts into out and returns go tool pprof -top's
// first 15 functions of it.
func (p *profiler) finish(out string) (string, error) {
	p.stop()
	defer os.RemoveAll(p.dir)
	if len(p.parts) == 0 {
		return "", nil
	}
	goTool := goBinary()
	merged, err := exec.Command(goTool, append([]string{"tool", "pprof", "-proto"}, p.parts...)...).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof -proto: %w", exitErr(err))
	}
	if err := os.WriteFile(out, merged, 0o644); err != nil {
		return "", err
	}
	top, err := exec.Command(goTool, "tool", "pprof", "-top", "-nodecount=15", out).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof -top: %w", exitErr(err))
	}
	return string(bytes.TrimSpace(top)), nil
}

// goBinary is the go command: the toolchain this binary was built with,
// else the one on PATH.
func goBinary() string {
	if root := runtime.GOROOT(); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func exitErr(err error) error {
	var ee *exec.ExitError
	if e, ok := err.(*exec.ExitError); ok {
		ee = e
	}
	if ee != nil && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
