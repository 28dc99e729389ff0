package agent

import (
	"math"
	"strconv"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/store"
)

// Bounds of an agent's limits (the API's "limits" object; 0 in a count
// field means the platform default, see session.DefaultLimits). A price
// is US dollars per million tokens; the cost ceiling dollars per session.
const (
	MaxToolCallsPerTurnLimit    = 1000
	MinTokensLimit              = 1000
	MaxTokensPerTurnLimit       = 100_000_000
	MaxTurnSecondsLimit         = 1800
	MaxToolCallsPerSessionLimit = 1_000_000
	MaxTokensPerSessionLimit    = 10_000_000_000
	MaxSessionSecondsLimit      = 30 * 24 * 3600
	MaxPricePerMTok             = 10_000.0
	MaxCostPerSessionLimit      = 1_000_000.0
)

// validLimits checks an agent's limits; errors name "limits.<field>".
func validLimits(l store.AgentLimits) error {
	counts := []struct {
		field  string
		v      int
		lo, hi int
	}{
		{"maxToolCallsPerTurn", l.MaxToolCallsPerTurn, 1, MaxToolCallsPerTurnLimit},
		{"maxTokensPerTurn", l.MaxTokensPerTurn, MinTokensLimit, MaxTokensPerTurnLimit},
		{"maxTurnSeconds", l.MaxTurnSeconds, 1, MaxTurnSecondsLimit},
		{"maxToolCallsPerSession", l.MaxToolCallsPerSession, 1, MaxToolCallsPerSessionLimit},
		{"maxTokensPerSession", l.MaxTokensPerSession, MinTokensLimit, MaxTokensPerSessionLimit},
		{"maxSessionSeconds", l.MaxSessionSeconds, 1, MaxSessionSecondsLimit},
	}
	for _, c := range counts {
		if c.v != 0 && (c.v < c.lo || c.v > c.hi) {
			return apperr.Field("limits."+c.field, "must be 0 (the default) or between "+
				strconv.Itoa(c.lo)+" and "+strconv.Itoa(c.hi))
		}
	}
	amounts := []struct {
		field string
		v, hi float64
	}{
		{"inputPricePerMTok", l.InputPricePerMTok, MaxPricePerMTok},
		{"outputPricePerMTok", l.OutputPricePerMTok, MaxPricePerMTok},
		{"maxCostPerSession", l.MaxCostPerSession, MaxCostPerSessionLimit},
	}
	for _, a := range amounts {
		if math.IsNaN(a.v) || a.v < 0 || a.v > a.hi {
			return apperr.Field("limits."+a.field, "must be between 0 and "+strconv.FormatFloat(a.hi, 'f', -1, 64))
		}
	}
	if l.MaxCostPerSession > 0 && l.InputPricePerMTok == 0 && l.OutputPricePerMTok == 0 {
		return apperr.Field("limits.maxCostPerSession", "needs inputPricePerMTok or outputPricePerMTok to count the cost")
	}
	return nil
}
