package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/komand-ai/komand/internal/store"
)

// TestWrapErrUnavailable (issue 15, defect 13): what the driver reports
// when the database cannot be reached or cannot work maps to
// store.ErrUnavailable, keeping the cause; statement errors do not.
func TestWrapErrUnavailable(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	for name, c := range map[string]struct {
		err  error
		want error
	}{
		"connect failed":        {&pgconn.ConnectError{}, store.ErrUnavailable},
		"terminated backend":    {pg("57P01"), store.ErrUnavailable},
		"database gone":         {pg("3D000"), store.ErrUnavailable},
		"connection failure":    {pg("08006"), store.ErrUnavailable},
		"disk full":             {pg("53100"), store.ErrUnavailable},
		"too many connections":  {pg("53300"), store.ErrUnavailable},
		"read-only standby":     {pg("25006"), store.ErrUnavailable},
		"connection lost":       {fmt.Errorf("read: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		"conn closed":           {pgconn.ErrConnClosed, store.ErrUnavailable},
		"deadline":              {context.DeadlineExceeded, store.ErrUnavailable},
		"unique violation":      {pg("23505"), store.ErrConflict},
		"undefined table":       {pg("42P01"), nil},
		"caller cancelled":      {context.Canceled, nil},
		"sentinel passes as is": {fmt.Errorf("x: %w", store.ErrUnavailable), store.ErrUnavailable},
	} {
		got := wrapErr("op", c.err)
		if c.want == nil {
			if errors.Is(got, store.ErrUnavailable) || errors.Is(got, store.ErrConflict) {
				t.Errorf("%s: %v is classified", name, got)
			}
			continue
		}
		if !errors.Is(got, c.want) || c.want == store.ErrUnavailable && !errors.Is(got, c.err) {
			t.Errorf("%s: wrapErr = %v, want %v keeping the cause", name, got, c.want)
		}
	}
}

// TestOpenOnAClosedPort: a server that does not listen is unavailable.
func TestOpenOnAClosedPort(t *testing.T) {
	_, err := Open(t.Context(), "postgres://komand@127.0.0.1:1/komand?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a closed port: %v, want store.ErrUnavailable", err)
	}
}
