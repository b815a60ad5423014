package daemon

import (
	"runtime/debug"
	"sync"
	"time"
)

// releaseAfter is how long the agent must be idle before it gives the
// memory its last burst freed back to the OS.
const releaseAfter = 5 * time.Second

// idleRelease returns the heap's free pages to the OS once the agent has
// been idle for releaseAfter. Samples and analysis cycles come in bursts
// (a 5,000-entry snapshot, a report) between minutes of idleness, and the
// runtime's background scavenger takes minutes to return what a burst
// freed: resident memory would sit at the burst's peak. One forced GC per
// idle stretch costs a few milliseconds.
type idleRelease struct {
	mu    sync.Mutex
	timer *time.Timer
}

// busy restarts the idle clock; the first call starts it.
func (r *idleRelease) busy() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.timer = time.AfterFunc(releaseAfter, debug.FreeOSMemory)
		return
	}
	r.timer.Reset(releaseAfter)
}

// stop cancels a pending release.
func (r *idleRelease) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
}
