package channel

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
)

// The outbox. A Slack or Telegram reply is sent after the platform's
// request was acknowledged, so a failed send cannot be reported to
// anybody: it is kept instead. Each reply becomes a store.Delivery row
// (tenant-scoped, naming the channel account, never its bot token, which
// is read from the vault at every attempt) before its first attempt, made
// at once by the goroutine that produced the reply. A failed attempt is
// retried by the delivery worker (RunDeliveries) with exponential backoff:
// InitialBackoff doubling up to MaxBackoff, each delay drawn from
// [d/2, d] so that replies failed together do not retry together, and no
// sooner than a Retry-After the platform asked for. A reply is given up
// after MaxAttempts attempts, once it is MaxAge old, or at once when the
// platform refused it for good (a 4xx, Slack's ok:false, the account
// deleted). Whatever the outcome, a MessageSent entry records it
// ("delivery": "delivered" or "failed", the attempts and the status
// class) and the row, with the reply's text, is deleted.
//
// A claim leases a row to one worker (across replicas: FOR UPDATE SKIP
// LOCKED on PostgreSQL), so each reply is sent by one process; a process
// that dies mid-attempt leaves its rows to others when the lease ends, and
// one shut down releases its in-flight rows for the next process at once.
// A send is bounded by attemptTimeout, well inside the lease, so a lease
// never ends under a live attempt. Delivery is at least once: only a crash
// between the platform's answer and the row's removal sends a reply twice.

// DeliveryOptions configure the outbox (config.DeliveryConfig).
type DeliveryOptions struct {
	MaxAttempts    int           // default 10
	MaxAge         time.Duration // default 1 h
	InitialBackoff time.Duration // default 2 s
	MaxBackoff     time.Duration // default 5 min
	PollInterval   time.Duration // default 1 s
	// Jitter returns the delay to wait for a nominal delay d; nil draws
	// it uniformly from [d/2, d].
	Jitter func(d time.Duration) time.Duration
}

const (
	// attemptTimeout bounds one send (the vault read and the HTTP call).
	attemptTimeout = 30 * time.Second
	// leaseFor is how long a claim holds a delivery: several attempt
	// timeouts, so only a dead worker loses one.
	leaseFor = 4 * attemptTimeout
	// claimBatch is how many of a tenant's deliveries one claim takes;
	// they are attempted at once, so the batch ends within attemptTimeout.
	claimBatch = 16
	// tenantsPerRound bounds the tenants served per pass of a round.
	tenantsPerRound = 100
)

func (o DeliveryOptions) withDefaults() DeliveryOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.MaxAge <= 0 {
		o.MaxAge = time.Hour
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 2 * time.Second
	}
	if o.MaxBackoff < o.InitialBackoff {
		o.MaxBackoff = max(o.InitialBackoff, 5*time.Minute)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	}
	return o
}

// backoff is the delay after the attempt-th failed attempt: the jittered
// exponential delay, at least retryAfter (both capped at MaxBackoff).
func (o DeliveryOptions) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := o.InitialBackoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(o.Jitter(min(d, o.MaxBackoff)), o.MaxBackoff)
	return max(d, min(retryAfter, o.MaxBackoff))
}

// Status classes of a delivery attempt, as the outbox row and the
// MessageSent entry record them. They say what kind of answer the
// platform gave, never its body.
const (
	ClassDelivered        = "2xx"               // accepted
	ClassUnreachable      = "unreachable"       // no HTTP answer (refused, reset, timed out)
	ClassRateLimited      = "http_429"          // retried, no sooner than its Retry-After
	ClassServerError      = "http_5xx"          // retried
	ClassClientError      = "http_4xx"          // refused for good
	ClassAPIError         = "api_error"         // an HTTP 200 refusal (Slack ok:false): for good
	ClassBadResponse      = "bad_response"      // a 2xx that is not the API's: perhaps sent, not retried
	ClassTokenUnavailable = "token_unavailable" // the bot token could not be read: retried
	ClassAccountDeleted   = "account_deleted"   // the channel account is gone: given up
	ClassStoreUnavailable = "store_unavailable" // the account could not be read: retried
	ClassExpired          = "expired"           // older than MaxAge when claimed: given up unsent
	ClassObsolete         = "obsolete"          // a review decided before it was posted: not sent
)

// deliveryError is a failed attempt: its class, whether another attempt
// may succeed, the wait the platform asked for, and a message for the log
// (never the token, the text or the platform's body).
type deliveryError struct {
	class      string
	retry      bool
	retryAfter time.Duration
	msg        string
}

func (e *deliveryError) Error() string { return e.msg }

// classify turns an HTTP answer that is not a success into an attempt's
// error.
func classify(what string, status int, retryAfter time.Duration) *deliveryError {
	e := &deliveryError{msg: fmt.Sprintf("%s: status %d", what, status), retryAfter: retryAfter}
	switch {
	case status == 429:
		e.class, e.retry = ClassRateLimited, true
	case status >= 500:
		e.class, e.retry = ClassServerError, true
	case status >= 400:
		e.class = ClassClientError
	default:
		e.class = ClassBadResponse
	}
	return e
}

// outPayload is a delivery's payload: the reply and where it goes. Op is
// "" for a reply; the other operations post a review to a review
// destination or answer a click on its buttons (review.go).
type outPayload struct {
	Op   string `json:"op,omitempty"`
	Text string `json:"text"`
	// Telegram
	ChatID     int64  `json:"chatId,omitempty"`
	MessageID  int64  `json:"messageId,omitempty"`  // opTelegramEdit
	CallbackID string `json:"callbackId,omitempty"` // opTelegramAnswer
	// Slack
	SlackChannel string `json:"slackChannel,omitempty"`
	ThreadTS     string `json:"threadTs,omitempty"`
	MessageTS    string `json:"messageTs,omitempty"` // opSlackUpdate
	SlackUser    string `json:"slackUser,omitempty"` // opSlackEphemeral
	// opReview
	ReviewID string `json:"reviewId,omitempty"`
}

// Operations of a delivery other than a reply.
const (
	opReview         = "review"          // a held review with its buttons (Slack or Telegram)
	opSlackUpdate    = "slack_update"    // chat.update: the review message, buttons replaced by the outcome
	opSlackEphemeral = "slack_ephemeral" // chat.postEphemeral: a refusal only the clicking member sees
	opTelegramAnswer = "telegram_answer" // answerCallbackQuery
	opTelegramEdit   = "telegram_edit"   // editMessageText: the review message, keyboard removed
)

// QueuesReplies reports whether a channel's replies go through the outbox
// (sent after the inbound request was answered) rather than in the
// response to the request.
func QueuesReplies(channel string) bool { return channel == Slack || channel == Telegram }

// deliver queues a reply and makes its first attempt at once. Should the
// outbox itself be unavailable, the reply is still attempted once.
func (s *Service) deliver(ctx context.Context, a store.ChannelAccount, sessionID, messageID string, p outPayload) {
	s.attempt(ctx, s.enqueue(ctx, a, sessionID, messageID, p))
}

// enqueue stores a delivery, leased for its first attempt (no lease when
// the outbox is unavailable: it is then attempted once).
func (s *Service) enqueue(ctx context.Context, a store.ChannelAccount, sessionID, messageID string, p outPayload) store.Delivery {
	body, _ := json.Marshal(p)
	now := s.now().UTC().Truncate(time.Microsecond)
	d := store.Delivery{TenantID: a.TenantID, ID: uuid.NewString(), Channel: a.Channel, ChannelAccountID: a.ID,
		AgentID: a.AgentID, SessionID: sessionID, MessageID: messageID, RequestID: requestid.From(ctx), Payload: body,
		Attempts: 1, NextAttemptAt: now, LeaseToken: uuid.NewString(), LeaseUntil: now.Add(leaseFor), CreatedAt: now}
	if err := s.outbox.EnqueueDelivery(ctx, d); err != nil {
		s.log.ErrorContext(ctx, "outbox unavailable: the reply is sent once, without retries", "account", a.ID, "err", err)
		d.LeaseToken = "" // no row to update
	}
	return d
}

// attempt sends one claimed delivery and records what happened: removed
// and audited once sent or given up, rescheduled otherwise.
func (s *Service) attempt(ctx context.Context, d store.Delivery) {
	ctx = requestid.With(ctx, d.RequestID)
	o := s.delivery
	if d.Attempts > o.MaxAttempts || s.now().Sub(d.CreatedAt) > o.MaxAge {
		// Claimed after its time (the server was down, or attempts died
		// with their process): given up without another send.
		s.outcome(ctx, d, d.Attempts-1, &deliveryError{class: cmp.Or(d.LastErrorClass, ClassExpired), msg: "given up unsent"})
		return
	}
	err := s.sendDelivery(ctx, d)
	if err == nil {
		s.outcome(ctx, d, d.Attempts, nil)
		return
	}
	var de *deliveryError
	if !errors.As(err, &de) {
		de = &deliveryError{class: ClassUnreachable, retry: true, msg: err.Error()}
	}
	if ctx.Err() != nil {
		// Shut down mid-attempt: released for the next process at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if d.LeaseToken != "" {
			if err := s.outbox.RetryDelivery(rctx, d.TenantID, d.ID, d.LeaseToken, s.now(), d.LastErrorClass); err != nil {
				s.log.WarnContext(rctx, "delivery not released at shutdown; retried when its lease ends", "delivery", d.ID, "err", err)
			}
		}
		return
	}
	next := s.now().Add(o.backoff(d.Attempts, de.retryAfter)).UTC().Truncate(time.Microsecond)
	if !de.retry || d.Attempts >= o.MaxAttempts || next.Sub(d.CreatedAt) > o.MaxAge || d.LeaseToken == "" {
		s.outcome(ctx, d, d.Attempts, de)
		return
	}
	s.log.WarnContext(ctx, "reply not delivered; retrying", "channel", d.Channel, "account", d.ChannelAccountID,
		"delivery", d.ID, "attempts", d.Attempts, "class", de.class, "next", next, "err", de.msg)
	if err := s.outbox.RetryDelivery(ctx, d.TenantID, d.ID, d.LeaseToken, next, de.class); err != nil {
		s.log.ErrorContext(ctx, "delivery not rescheduled", "delivery", d.ID, "err", err)
	}
}

// sendDelivery resolves the delivery's account and bot token and sends it.
func (s *Service) sendDelivery(ctx context.Context, d store.Delivery) error {
	a, err := s.st.GetChannelAccount(ctx, d.TenantID, d.ChannelAccountID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &deliveryError{class: ClassAccountDeleted, msg: "the channel account was deleted"}
	case err != nil:
		return &deliveryError{class: ClassStoreUnavailable, retry: true, msg: "channel account unavailable: " + err.Error()}
	}
	var p outPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return &deliveryError{class: ClassBadResponse, msg: "delivery payload unreadable"}
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	switch {
	case p.Op == opReview:
		return s.sendReview(actx, a, p)
	case p.Op != "":
		return s.sendAnswer(actx, a, p)
	case d.Channel == Slack:
		return s.slackPost(actx, a, p.SlackChannel, p.ThreadTS, p.Text)
	case d.Channel == Telegram:
		return s.telegramSend(actx, a, p.ChatID, p.Text)
	}
	return &deliveryError{class: ClassClientError, msg: "no outbound adapter for " + d.Channel}
}

// outcome ends a delivery: the row is removed (only by the lease's holder,
// so a delivery is ended once) and MessageSent records how it ended.
func (s *Service) outcome(ctx context.Context, d store.Delivery, attempts int, failed *deliveryError) {
	ctx = context.WithoutCancel(ctx)
	if d.LeaseToken != "" {
		if err := s.outbox.RemoveDelivery(ctx, d.TenantID, d.ID, d.LeaseToken); err != nil {
			if failed != nil && errors.Is(err, store.ErrNotFound) {
				s.log.WarnContext(ctx, "delivery lease lost; its new holder ends it", "delivery", d.ID)
				return
			}
			s.log.ErrorContext(ctx, "delivery not removed from the outbox", "delivery", d.ID, "err", err)
		}
	}
	details := map[string]any{"channel": d.Channel, "channelAccountId": d.ChannelAccountID, "messageId": d.MessageID,
		"deliveryId": d.ID, "attempts": attempts}
	if failed == nil {
		details["delivery"], details["statusClass"] = "delivered", ClassDelivered
	} else {
		details["delivery"], details["statusClass"], details["outcome"] = "failed", failed.class, "failed"
		s.log.ErrorContext(ctx, "reply not delivered; given up", "channel", d.Channel, "account", d.ChannelAccountID,
			"delivery", d.ID, "attempts", attempts, "class", failed.class, "err", failed.msg)
	}
	if err := s.audit.Record(ctx, audit.Event{TenantID: d.TenantID, Action: audit.MessageSent, ActorID: "channel:" + d.ChannelAccountID,
		AgentID: d.AgentID, SessionID: d.SessionID, Details: details}); err != nil {
		s.log.ErrorContext(ctx, "delivery outcome not audited", "delivery", d.ID, "err", err)
	}
}

// DeliverDue makes one round of the delivery worker: it claims the
// deliveries due now, tenant by tenant, attempts each claimed batch at
// once, and repeats until none is due. It returns the deliveries it
// attempted.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		now := s.now().UTC().Truncate(time.Microsecond)
		tenants, err := s.outbox.DueDeliveryTenants(ctx, now, tenantsPerRound)
		if err != nil {
			return n, err
		}
		claimed := 0
		for _, t := range tenants {
			ds, err := s.outbox.ClaimDeliveries(ctx, t, uuid.NewString(), now, now.Add(leaseFor), claimBatch)
			if err != nil {
				s.log.ErrorContext(ctx, "outbox claim", "tenant", t, "err", err)
				continue
			}
			var wg sync.WaitGroup
			for _, d := range ds {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.recoverDispatch(ctx, d.ChannelAccountID)
					s.attempt(ctx, d)
				}()
			}
			wg.Wait()
			claimed += len(ds)
		}
		if claimed == 0 {
			return n, nil
		}
		n += claimed
	}
	return n, ctx.Err()
}

// RunDeliveries runs the delivery worker until ctx ends: a round at every
// tick (nil: every PollInterval). It returns when ctx is cancelled and
// its round has finished (in-flight attempts are released).
func (s *Service) RunDeliveries(ctx context.Context, ticks <-chan time.Time) {
	if ticks == nil {
		t := time.NewTicker(s.delivery.PollInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		if _, err := s.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "delivery worker", "err", err)
		}
	}
}
