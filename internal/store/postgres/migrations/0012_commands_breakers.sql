-- 0012_commands_breakers: slash commands from integrations and circuit
-- breakers (issue 16).
--
-- allow_commands: a Webhook or Slack account whose text may run slash
-- commands (off by default: an integration's text is data for the model).
-- limits: an agent's circuit breakers and token prices, a JSON object of
-- the API's "limits" fields ({} = the platform defaults).
-- The session's usage counters (tool calls, model tokens, busy time) are
-- kept with the session, so the per-session breakers hold across restarts
-- and replicas.
--
-- Only columns are added, to tables whose row-level security (the tenant
-- isolation policy of 0001, 0002, 0004) and grants (SELECT, INSERT, UPDATE
-- on the whole table) already cover them.
ALTER TABLE komand_channel_accounts ADD COLUMN allow_commands boolean NOT NULL DEFAULT false;
ALTER TABLE komand_agents ADD COLUMN limits jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(limits) = 'object');
ALTER TABLE komand_sessions ADD COLUMN tool_calls bigint NOT NULL DEFAULT 0 CHECK (tool_calls >= 0);
ALTER TABLE komand_sessions ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0);
ALTER TABLE komand_sessions ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0);
ALTER TABLE komand_sessions ADD COLUMN busy_ms bigint NOT NULL DEFAULT 0 CHECK (busy_ms >= 0);
