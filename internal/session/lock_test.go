package session

import (
	"context"
	"runtime"
	"testing"

	"github.com/komand-ai/komand/internal/llm"
)

func queued(l *keyLock, key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.held[key]; w != nil {
		return len(w.queue)
	}
	return -1
}

// TestKeyLockFIFO: waiters get the lock in the order they asked; a waiter
// that gives up leaves the queue; other keys are independent; a released,
// idle key takes no memory.
func TestKeyLockFIFO(t *testing.T) {
	l := newKeyLock()
	ctx := context.Background()
	unlock, err := l.lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 8)
	for i := range 5 {
		go func() {
			u, err := l.lock(ctx, "k")
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			u()
		}()
		for queued(l, "k") != i+1 { // wait until waiter i is queued
			runtime.Gosched()
		}
	}
	// A waiter that gives up is removed.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { _, err := l.lock(cctx, "k"); done <- err }()
	for queued(l, "k") != 6 {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled waiter got the lock")
	}
	if n := queued(l, "k"); n != 5 {
		t.Fatalf("queue after cancel: %d", n)
	}
	// Another key is free.
	u2, err := l.lock(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	u2()
	unlock()
	unlock() // a second call is a no-op
	for i := range 5 {
		if got := <-order; got != i {
			t.Fatalf("waiter %d got the lock in position %d", got, i)
		}
	}
	for queued(l, "k") != -1 {
		runtime.Gosched()
	}
	if len(l.held) != 0 {
		t.Errorf("idle keys kept: %d", len(l.held))
	}
}

func TestTrimKeepsNewestAndStartsAtUser(t *testing.T) {
	long := string(make([]byte, 4000))
	msgs := []llm.Message{
		{Role: llm.RoleUser, Text: long},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "1", Name: "t", Arguments: []byte(`{}`)}}},
		{Role: llm.RoleTool, ToolCallID: "1", Text: long},
		{Role: llm.RoleAssistant, Text: "ok"},
		{Role: llm.RoleUser, Text: "newest"},
	}
	got := trim(msgs, 1100)
	if len(got) != 1 || got[0].Text != "newest" {
		t.Fatalf("budget 1100: %d messages, first %+v", len(got), got[0])
	}
	if got := trim(msgs, 1_000_000); len(got) != len(msgs) {
		t.Fatalf("large budget dropped messages: %d", len(got))
	}
	// A budget that cuts into the tool exchange never starts with the tool
	// result or the call.
	got = trim(msgs, 1200)
	if got[0].Role != llm.RoleUser {
		t.Fatalf("history starts with %s", got[0].Role)
	}
	if got := trim(msgs[:1], 1); len(got) != 1 {
		t.Fatalf("the newest message must always be kept")
	}
}
