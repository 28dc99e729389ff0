package authz

import (
	"context"
	"errors"
	"testing"
)

type memSink struct {
	denials []Denial
	err     error
}

func (m *memSink) RecordDenial(_ context.Context, d Denial) error {
	if m.err != nil {
		return m.err
	}
	m.denials = append(m.denials, d)
	return nil
}

// TestMatrix pins security.md's RBAC table. A change to the matrix that
// widens or narrows a role shows up here.
func TestMatrix(t *testing.T) {
	type rule struct {
		role Role
		verb Verb
		res  Resource
		want bool
	}
	rules := []rule{
		// Owner: full access, billing, user management.
		{Owner, Update, Tenant, true}, {Owner, Create, Users, true}, {Owner, Update, Users, true},
		{Owner, Delete, Users, true}, {Owner, Delete, Agents, true}, {Owner, Create, Credentials, true},
		// Admin: agents, skills, channels — not users or billing.
		{Admin, Create, Agents, true}, {Admin, Update, Agents, true}, {Admin, Delete, Agents, true},
		{Admin, Create, Skills, true}, {Admin, Update, Channels, true}, {Admin, Read, Users, true},
		{Admin, Create, Users, false}, {Admin, Update, Users, false}, {Admin, Delete, Users, false},
		{Admin, Update, Tenant, false}, {Admin, Read, Tenant, false},
		// Operator: send messages, view history, basic CRM.
		{Operator, Create, Messages, true}, {Operator, Read, Sessions, true}, {Operator, Read, CRM, true},
		{Operator, Update, CRM, true}, {Operator, Delete, CRM, false}, {Operator, Create, Agents, false},
		{Operator, Update, Agents, false}, {Operator, Read, Users, false}, {Operator, Read, Credentials, false},
		{Operator, Create, Skills, false},
		// Viewer: read-only dashboards and logs.
		{Viewer, Read, Dashboard, true}, {Viewer, Read, AuditLog, true}, {Viewer, Read, Agents, true},
		{Viewer, Create, Messages, false}, {Viewer, Create, Agents, false}, {Viewer, Read, CRM, false},
		{Viewer, Read, Users, false}, {Viewer, Read, Credentials, false},
		// Nobody edits the audit log; unknown roles, verbs and resources are denied.
		{Owner, Update, AuditLog, false}, {Owner, Delete, AuditLog, false},
		{Role("root"), Read, Agents, false}, {Role(""), Read, Agents, false},
		{Owner, Verb("execute"), Agents, false}, {Owner, Read, Resource("billing-secrets"), false},
	}
	for _, r := range rules {
		if got := Allowed(r.role, r.verb, r.res); got != r.want {
			t.Errorf("Allowed(%s, %s, %s) = %v, want %v", r.role, r.verb, r.res, got, r.want)
		}
	}
	// Roles are cumulative upward: whatever a lower role may do, a higher may.
	for i := 1; i < len(Roles); i++ {
		for res, verbs := range matrix[Roles[i]] {
			for _, v := range verbs {
				if !Allowed(Roles[i-1], v, res) {
					t.Errorf("%s may %s %s but %s may not", Roles[i], v, res, Roles[i-1])
				}
			}
		}
	}
}

func TestCanGrant(t *testing.T) {
	for _, c := range []struct {
		by, to Role
		want   bool
	}{
		{Owner, Owner, true}, {Owner, Viewer, true}, {Admin, Owner, false}, {Admin, Admin, true},
		{Operator, Admin, false}, {Viewer, Viewer, true}, {Viewer, Operator, false},
		{Role("god"), Viewer, false}, {Owner, Role("god"), false},
	} {
		if got := c.by.CanGrant(c.to); got != c.want {
			t.Errorf("%s.CanGrant(%s) = %v, want %v", c.by, c.to, got, c.want)
		}
	}
}

// TestRefuseHandsTheSinkTheDenial: the sink gets the principal, verb,
// resource, target and reason; a sink error is not a plain denial.
func TestRefuseHandsTheSinkTheDenial(t *testing.T) {
	sink := &memSink{}
	az := New(sink)
	ctx := context.Background()
	p := Principal{TenantID: "t1", UserID: "u1", Role: Viewer, APIKeyID: "k1"}
	tg := Target{AgentID: "bot", ID: "x"}
	err := az.Deny(ctx, p, Update, Users, tg, "cannot grant a role above one's own")
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("got %v, want ErrDenied", err)
	}
	want := Denial{Principal: p, Verb: Update, Resource: Users, Target: tg, Reason: "cannot grant a role above one's own"}
	if len(sink.denials) != 1 || sink.denials[0] != want {
		t.Fatalf("denials: %+v, want %+v", sink.denials, want)
	}
	err = az.Refuse(ctx, Denial{Principal: p, Verb: Execute, Resource: Skills, Reason: "r", Via: "model"})
	if !errors.Is(err, ErrDenied) || len(sink.denials) != 2 || sink.denials[1].Via != "model" {
		t.Fatalf("refuse: %v, %+v", err, sink.denials)
	}
	// No tenant: denied without reaching the sink.
	if err := az.Check(ctx, Principal{UserID: "u1", Role: Owner}, Read, Agents, Target{}); !errors.Is(err, ErrDenied) || len(sink.denials) != 2 {
		t.Fatalf("no tenant: %v, %d denials", err, len(sink.denials))
	}
	sink.err = errors.New("audit down")
	if err := az.Check(ctx, p, Delete, Agents, Target{}); err == nil || errors.Is(err, ErrDenied) {
		t.Fatalf("unstored denial: got %v, want an internal error", err)
	}
}

// TestDeniedMessage: a denial says in plain words what the role does not
// allow and which role would, and still matches ErrDenied.
func TestDeniedMessage(t *testing.T) {
	for _, c := range []struct {
		e    DeniedError
		want string
	}{
		{DeniedError{Viewer, Create, Messages}, "Your role (viewer) does not allow sending messages to agents; the operator role or higher does."},
		{DeniedError{Admin, Create, Users}, "Your role (admin) does not allow creating users; only an owner may."},
		{DeniedError{Operator, Read, Injection}, "Your role (operator) does not allow viewing the prompt-injection policy and reviews; the admin role or higher does."},
		{DeniedError{Owner, Update, AuditLog}, "Your role (owner) does not allow changing the audit trail."},
		{DeniedError{Viewer, Verb("frob"), Agents}, "Your role (viewer) does not allow this action."},
	} {
		if got := c.e.Message(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
		if !errors.Is(&c.e, ErrDenied) {
			t.Errorf("%+v does not match ErrDenied", c.e)
		}
	}
}
