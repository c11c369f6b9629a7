package handler

// QueuedEvents is the number of events decided and waiting for a batch
// (tests wait for it before releasing a held batch).
func QueuedEvents(h *Handler) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, e := range h.shops {
		n += e.queued
	}
	return n
}
