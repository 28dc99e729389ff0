// Package validate holds the input rules of security.md's "Input Validation"
// table, shared by the HTTP boundary, the CLI and the domain services so the
// same input gets the same answer everywhere. Every failure is an
// *apperr.Error of kind Invalid whose message names the offending field and
// never echoes the offending value (it may be huge, or hostile).
package validate

import (
	"errors"
	"net/mail"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/komand-ai/komand/internal/apperr"
)

// Length limits, in characters (Unicode code points).
const (
	MaxIDLen     = 128    // route parameters that are identifiers
	MaxNameLen   = 256    // names, emails, other short route parameters
	MaxShortText = 10_000 // descriptions, chat messages
	MaxLongText  = 50_000 // system prompts and other long text bodies
	MaxPageSize  = 100
	// MaxOffset is the deepest row a page number reaches (page*pageSize at
	// most this, so page at most MaxOffset/pageSize); deeper rows are
	// reached by following meta.nextCursor, so no listing skips more than
	// this many rows.
	MaxOffset      = 10_000
	DefaultPage    = 1
	DefaultPerPage = 50
)

var (
	slugRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)
	uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// Required rejects an empty or whitespace-only value (a JSON null decodes to
// the empty string, so null is rejected too).
func Required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return apperr.Field(field, "is required")
	}
	return nil
}

// MaxLen rejects a value longer than max characters, or one that is not
// valid UTF-8.
func MaxLen(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return apperr.Field(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(v) > max {
		return apperr.Field(field, "must be at most "+itoa(max)+" characters")
	}
	return nil
}

// Text checks a required text field with a maximum length.
func Text(field, v string, max int) error {
	if err := Required(field, v); err != nil {
		return err
	}
	return MaxLen(field, v, max)
}

// Slug checks an identifier made of lowercase letters, digits and hyphens
// (agentId, skillId, tenant slug): required, at most max characters, no
// leading or trailing hyphen.
func Slug(field, v string, max int) error {
	if err := Required(field, v); err != nil {
		return err
	}
	if len(v) > max {
		return apperr.Field(field, "must be at most "+itoa(max)+" characters")
	}
	if !slugRe.MatchString(v) {
		return apperr.Field(field, "must contain only lowercase letters, digits and hyphens")
	}
	return nil
}

// UUID checks a server-issued identifier.
func UUID(field, v string) error {
	if err := Required(field, v); err != nil {
		return err
	}
	if len(v) > MaxIDLen || !uuidRe.MatchString(v) {
		return apperr.Field(field, "is not a valid identifier")
	}
	return nil
}

// Email checks and normalises (trim, lowercase) an email address.
func Email(field, v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if err := Name(field, v, MaxNameLen); err != nil {
		return "", err
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return "", apperr.Field(field, "must be a valid email address")
	}
	return v, nil
}

// Pagination checks 1 ≤ pageSize ≤ MaxPageSize and 1 ≤ page ≤
// MaxOffset/pageSize. A page out of range, however large, is told the range
// for its pageSize and where the rows past it are.
func Pagination(page, pageSize int) error {
	if pageSize < 1 || pageSize > MaxPageSize {
		return apperr.Field("pageSize", "must be between 1 and "+itoa(MaxPageSize))
	}
	if maxPage := MaxOffset / pageSize; page < 1 || page > maxPage {
		return apperr.Field("page", "must be between 1 and "+itoa(maxPage)+" with pageSize "+itoa(pageSize)+
			" (page numbers reach the first "+itoa(MaxOffset)+" rows; follow meta.nextCursor with ?cursor= for the rest)")
	}
	return nil
}

// IntRange checks lo ≤ v ≤ hi.
func IntRange(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return apperr.Field(field, "must be between "+itoa(lo)+" and "+itoa(hi))
	}
	return nil
}

// First returns the first non-nil error, so callers can list checks in order.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// hostPatternRe is a DNS name or IPv4 address, optionally "*." + a name.
var hostPatternRe = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Why a host allowlist entry is refused (see NormalHost).
var (
	ErrNotHost     = errors.New("not a host name")
	ErrWildcardTLD = errors.New("a wildcard over a whole top-level domain")
)

// NormalHost normalises and checks a host allowlist entry — a skill's
// network:outbound scope, a credential grant's host: lower case, no
// trailing dot; an IP address in its canonical form, a host name
// ("api.example.com"), or "*." and a name of at least two labels
// ("*.example.com", never "*.com").
func NormalHost(p string) (string, error) {
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(p), "."))
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.String(), nil
	}
	if len(h) > 253 || !hostPatternRe.MatchString(h) {
		return "", ErrNotHost
	}
	if rest, ok := strings.CutPrefix(h, "*."); ok && !strings.Contains(rest, ".") {
		return "", ErrWildcardTLD
	}
	return h, nil
}

// HostAllowed says whether host (lower case, no port) matches one of the
// patterns: the same name, or a name below the domain of a "*." pattern.
func HostAllowed(host string, patterns []string) bool {
	for _, a := range patterns {
		a = strings.ToLower(a)
		if a == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(a, "*."); ok && strings.HasSuffix(host, "."+suffix) {
			return true
		}
	}
	return false
}
