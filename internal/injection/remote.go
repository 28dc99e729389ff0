package injection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Remote is an optional external classifier: an HTTP endpoint in front of
// a model such as Llama Prompt Guard 2. Komand POSTs
//
//	{"text": "…", "source": "user" | "skill" | "external"}
//
// and reads either {"score": 0.97} or the Hugging Face text-classification
// shape [{"label": "INJECTION", "score": 0.97}, …] (also nested one level,
// as text-embeddings-inference returns it), where the score of the label
// INJECTION, JAILBREAK, MALICIOUS or LABEL_1 counts. Anything else, a
// status other than 200, a score outside [0, 1] or no answer within the
// timeout is an error, and the local score stands alone.
type Remote struct {
	URL     string
	APIKey  string // "Authorization: Bearer …" when set
	Timeout time.Duration
	Client  *http.Client
}

// maxRemoteText bounds the text sent; maxRemoteBody the answer read.
const (
	maxRemoteText = 64 << 10
	maxRemoteBody = 64 << 10
)

// Score asks the endpoint for text's score.
func (r *Remote) Score(ctx context.Context, text string, src Source) (float64, error) {
	if len(text) > maxRemoteText {
		text = strings.ToValidUTF8(text[:maxRemoteText], "")
	}
	body, _ := json.Marshal(map[string]string{"text": text, "source": string(src)})
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if r.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+r.APIKey)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("classifier answered %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRemoteBody+1))
	if err != nil {
		return 0, err
	}
	if len(raw) > maxRemoteBody {
		return 0, errors.New("classifier answer too large")
	}
	return parseRemote(raw)
}

func parseRemote(raw []byte) (float64, error) {
	ok := func(s float64) (float64, error) {
		if math.IsNaN(s) || s < 0 || s > 1 {
			return 0, errors.New("classifier score outside [0, 1]")
		}
		return s, nil
	}
	var obj struct {
		Score *float64 `json:"score"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Score != nil {
		return ok(*obj.Score)
	}
	type labelled struct {
		Label string  `json:"label"`
		Score float64 `json:"score"`
	}
	var list []labelled
	if json.Unmarshal(raw, &list) != nil {
		var nested [][]labelled
		if json.Unmarshal(raw, &nested) != nil || len(nested) != 1 {
			return 0, errors.New("classifier answer not understood")
		}
		list = nested[0]
	}
	best, found := 0.0, false
	for _, l := range list {
		switch strings.ToUpper(l.Label) {
		case "INJECTION", "JAILBREAK", "MALICIOUS", "LABEL_1":
			s, err := ok(l.Score)
			if err != nil {
				return 0, err
			}
			best, found = max(best, s), true
		}
	}
	if !found {
		// Only a benign label: its complement is the injection score.
		for _, l := range list {
			if u := strings.ToUpper(l.Label); u == "BENIGN" || u == "SAFE" || u == "LABEL_0" {
				s, err := ok(l.Score)
				if err != nil {
					return 0, err
				}
				return 1 - s, nil
			}
		}
		return 0, errors.New("classifier answer has no injection label")
	}
	return best, nil
}

// CatExternal is the category a verdict the external classifier decided
// carries.
const CatExternal = "external_classifier"

// Combined is the local detector plus the external classifier: the higher
// score counts. It is the Screener the server uses when
// Injection__ClassifierUrl is set.
type Combined struct {
	Local  *Detector
	Remote *Remote
	Log    *slog.Logger
}

// Screen scores text with both.
func (c *Combined) Screen(text string, src Source) Result {
	res := c.Local.Screen(text, src)
	s, err := c.Remote.Score(context.Background(), text, src)
	if err != nil {
		c.Log.Warn("external prompt-injection classifier failed; using the local score", "err", err)
		return res
	}
	if s > res.Score {
		res.Score = math.Round(s*1e4) / 1e4
		if res.Score >= c.Local.ThresholdFor(src) {
			res.Verdict = VerdictInjection
		}
		if !slices.Contains(res.Categories, CatExternal) {
			res.Categories = append(res.Categories, CatExternal)
		}
	}
	return res
}
