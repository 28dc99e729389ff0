// Package agentattack is the end-to-end prompt-injection attack benchmark
// (issue 16, section 4). Its test starts the whole of Komand (app.New and
// the HTTP server, as internal/e2e does) on SQLite with an "obedient"
// model: an OpenAI-compatible Chat Completions server, spoken to over real
// HTTP, that follows every instruction it finds anywhere in its context —
// the user's message, a webhook's text, a tool's output, a recalled
// memory, an earlier turn — so that each attack is really attempted by the
// model and only Komand's controls stand between it and its goal.
//
// Each scenario plants an attack through one channel (a fetched page, a
// skill's JSON output, a CRM note, a memory, a generic-webhook delivery, a
// Telegram or Slack message, a public widget visitor, a forged or replayed
// confirmation) and defines its success from outside the agent: the
// exfiltration server received a secret, a memory row changed, the reply
// carries the system prompt, a credential or an image URL with data.
// Benign tasks check that the same agent still does its job, counting the
// confirmations its user had to give.
//
// Everything runs twice: with the default policy and the embedded detector,
// and with a detector that finds nothing (only the deterministic controls
// act). Run it:
//
//	go test ./bench/agentattack -count=1 -v                 # asserts 0 successful attacks
//	go test ./bench/agentattack -count=1 -run TestAgentAttack -args -report  # prints the table
//	go test ./bench/agentattack -run '^$' -bench . -benchtime 1x             # rates as benchmark metrics
package agentattack
