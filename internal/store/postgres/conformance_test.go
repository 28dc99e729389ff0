package postgres

import (
	"testing"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/storetest"
)

// TestConformance runs the shared store suite, each test on a fresh
// database.
func TestConformance(t *testing.T) {
	baseDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), freshDatabase(t, ""))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
