package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// The concurrency tests race operations whose correctness depends on a
// read-check-write being atomic. A store that checks and writes in separate
// steps (or under an isolation level that allows write skew) fails them,
// though not necessarily on every run.

var concurrencyTests = []test{
	{"LastOwnerRace", testRaceLastOwner},
	{"RotateRace", testRaceRotate},
	{"AppendRace", testRaceAppend},
	{"AcceptInviteRace", testRaceAcceptInvite},
	{"DecideReviewRace", testRaceDecideReview},
}

// race runs fn(i) for i in [0, n) at the same moment and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

func testRaceLastOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 10 {
		tn := mkTenant(t, s, fmt.Sprintf("acme%02d", round))
		owners := []store.User{
			mkUser(t, s, tn.ID, fmt.Sprintf("o1-%02d@example.com", round), "owner"),
			mkUser(t, s, tn.ID, fmt.Sprintf("o2-%02d@example.com", round), "owner"),
		}
		errs := race(2, func(i int) error {
			if round%2 == 0 {
				_, err := s.SetUserRole(ctx, tn.ID, owners[i].ID, "admin", t0)
				return err
			}
			_, err := s.DeactivateUser(ctx, tn.ID, owners[i].ID, t0)
			return err
		})
		ok, last := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrLastOwner):
				last++
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 || last != 1 {
			t.Fatalf("round %d: removing both of two owners at once: got %d successes and %d ErrLastOwner, want 1 and 1", round, ok, last)
		}
	}
}

func testRaceRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "ada@example.com", "owner")
	for round := range 5 {
		rt := mkRefresh(t, s, u)
		now := t0.Add(time.Minute)
		errs := race(6, func(int) error {
			_, err := s.RotateRefreshToken(ctx, a.ID, rt.Hash, nextToken(rt, now), now)
			return err
		})
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrTokenReused), errors.Is(err, store.ErrNotFound):
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: rotating one token 6 times at once: got %d successes, want exactly 1", round, ok)
		}
	}
}

func testRaceAppend(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	const writers, batches, size = 4, 10, 20
	errs := race(writers, func(int) error {
		for range batches {
			batch := make([]store.AuditEntry, size)
			for j := range batch {
				tenantID := a.ID
				if j%3 == 0 {
					tenantID = b.ID
				}
				batch[j] = entry(tenantID, "x", t0)
			}
			if err := s.AppendAudit(ctx, batch, seal); err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		isErr(t, fmt.Sprintf("writer %d", i), err, nil)
	}
	perBatchB := (size + 2) / 3
	verifyChain(t, s, a.ID, writers*batches*(size-perBatchB))
	verifyChain(t, s, b.ID, writers*batches*perBatchB)
}

// testRaceAcceptInvite spends one invitation from several callers at once:
// exactly one sets its password, the others find no invitation.
func testRaceAcceptInvite(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	mkUser(t, s, a.ID, "owner@example.com", "owner")
	for round := range 5 {
		u := mkInvited(t, s, a.ID, fmt.Sprintf("invitee%02d@example.com", round), "viewer", t0.Add(time.Hour))
		const n = 4
		errs := race(n, func(i int) error {
			_, err := s.AcceptInvite(ctx, a.ID, u.InviteHash, fmt.Sprintf("$argon2id$caller%d", i), t0)
			return err
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: callers %d and %d both accepted the invitation", round, winner, i)
				}
				winner = i
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody accepted the invitation", round)
		}
		got, err := s.GetUser(ctx, a.ID, u.ID)
		isErr(t, "GetUser", err, nil)
		if want := fmt.Sprintf("$argon2id$caller%d", winner); got.PasswordHash != want || got.InviteHash != "" {
			t.Fatalf("round %d: stored %q (invite %q), want the winner's %q and no invitation", round, got.PasswordHash, got.InviteHash, want)
		}
	}
}
