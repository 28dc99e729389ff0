// Package e2e holds the end-to-end tests: each starts the whole of Komand
// (app.New and the HTTP server, through internal/app/apptest) on SQLite,
// and on a fresh PostgreSQL database when KOMAND_TEST_POSTGRES_DSN is set,
// and drives it over HTTP as a client, a chat platform or a model provider
// would. They cover the flows that cross packages: tenancy and RBAC over
// the API, sessions and turns, vault credentials and external vaults,
// skills and the sandbox, channels (Slack, Telegram, webhooks, the web
// widget), prompt-injection screening, CRM, invitations, replicas, Redis
// and failing stores.
//
// Each service package has unit tests of its own beside its code; the
// gateway's tests cover only the gateway's own code (client addresses,
// decoding, serving). A flow that needs the whole app belongs here, in a
// new file named after the flow.
package e2e
