package e2e_test

import (
	"os"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
)

// TestMain: on PostgreSQL, each app starts on a copy of a database
// migrated once (apptest.Main).
func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
