package skill

import "github.com/komand-ai/komand/internal/apperr"

// publicMessage returns the public message of an apperr (a validation or
// limit failure the caller can act on).
func publicMessage(err error) (string, bool) {
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal {
		return e.Message, true
	}
	return "", false
}
