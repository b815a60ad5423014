package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress tells the person watching what the demo is doing: on a
// terminal one status line redrawn in place under the permanent lines,
// otherwise plain lines, the status ones at most every plainEvery.
type progress struct {
	w        io.Writer
	terminal bool

	mu        sync.Mutex
	status    string    // the line redrawn on a terminal
	lastPlain time.Time // when the last plain status line was written
}

// plainEvery spaces the status lines written when w is not a terminal.
const plainEvery = 10 * time.Second

func newProgress(w io.Writer, terminal bool) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, terminal: terminal}
}

// printf writes a permanent line.
func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	if !p.terminal {
		fmt.Fprintln(p.w, line)
		return
	}
	fmt.Fprint(p.w, "\r\033[K"+line+"\n"+p.status)
}

// update replaces the status line. Off a terminal it is written when
// force is set or plainEvery has passed since the last one.
func (p *progress) update(status string, force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		p.status = status
		fmt.Fprint(p.w, "\r\033[K"+status)
		return
	}
	if force || time.Since(p.lastPlain) >= plainEvery {
		p.lastPlain = time.Now()
		fmt.Fprintln(p.w, status)
	}
}

// clear removes the status line.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal && p.status != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.status = ""
	p.lastPlain = time.Time{}
}

// redrawEvery calls render and shows its line every interval on a
// terminal, so that a long step's clock keeps moving, until stop is called.
func (p *progress) redrawEvery(interval time.Duration, render func() string) (stop func()) {
	if !p.terminal {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.update(render(), false)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// bar draws done/total as a fixed-width bar.
func bar(done, total float64) string {
	const width = 24
	n := 0
	if total > 0 {
		n = int(min(1, max(0, done/total)) * width)
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// clock formats an elapsed time as m:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
