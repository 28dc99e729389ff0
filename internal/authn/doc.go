// Package authn authenticates Komand's callers and issues their credentials.
//
// Three kinds of credential exist:
//
//   - Passwords, checked once at login. They are stored as argon2id hashes in
//     PHC string form (see Hasher). Hashing is memory-hard on purpose, so the
//     number of hashes computed at once is bounded process-wide and failed
//     logins are throttled with exponential delays per (account, address)
//     and per address before any hash is computed (throttle.go); an account
//     is never locked.
//   - Access tokens: short-lived HS256 JWTs naming the user, its tenant (tid)
//     and its login session (sid, the refresh-token family). They are
//     verified on every request, and the session is also checked in the store,
//     so logout, refresh-token reuse and deactivation take effect at once
//     instead of when the token expires.
//   - Opaque random secrets: refresh tokens ("kmr_…", rotated on every use,
//     with reuse detection) and API keys ("kmd_…", long-lived machine
//     credentials). Only their SHA-256 is stored. Invitation tokens ("kmi_…",
//     one-time, with which an invited user sets a first password; package
//     user spends them) share the format and the hashing.
//
// Whatever the credential, the Principal handed to the rest of the system is
// built from the user's current row in the store: role, email, name and the
// active flag are never taken from a token, so a role change or a
// deactivation applies to the very next request.
//
// Errors that reach clients are *apperr.Error values with deliberately
// uniform messages ("invalid email or password", "invalid or expired
// credentials"): the cause is logged or audited, never shown, so a client
// cannot learn whether an account exists, is inactive, or which check failed.
//
// authn decides who the caller is, not what it may do: callers of
// CreateAPIKey (CLI, API) are responsible for the authz check.
package authn
