// Command web-fetch is an example Komand skill that fetches a web page
// through the platform's egress broker. It declares network:outbound for
// the hosts it may reach; the platform refuses every other host and every
// private, loopback or metadata address, whatever the model asks for.
//
// With the installation setting auth-credential (the name of a vault
// credential granted to this skill on this agent) each request carries it
// by reference in the Authorization header (scheme auth-scheme, default
// Bearer): the platform reads the credential and sets the header, so the
// value never enters the module, and only over https.
package main

import (
	"errors"
	"strings"

	"github.com/komand-ai/komand/sdk/skill"
)

type input struct {
	URL      string `json:"url"`
	MaxChars int    `json:"maxChars"`
}

type output struct {
	URL       string `json:"url"`
	Status    int    `json:"status"`
	Content   string `json:"content"`
	Truncated bool   `json:"truncated"`
}

func main() {
	skill.Run(func(c *skill.Context, in input) (output, error) {
		if !strings.HasPrefix(in.URL, "https://") && !strings.HasPrefix(in.URL, "http://") {
			return output{}, errors.New("the url must start with http:// or https://")
		}
		req := skill.Request{Method: "GET", URL: in.URL, Headers: map[string]string{"Accept": "text/html, text/plain, application/json"}}
		if name, ok := c.Config("auth-credential"); ok && name != "" {
			scheme, ok := c.Config("auth-scheme")
			if !ok {
				scheme = "Bearer"
			}
			req.Auth = &skill.Auth{Credential: name, Scheme: scheme}
		}
		resp, err := c.HTTP(req)
		if err != nil {
			return output{}, err
		}
		max := in.MaxChars
		if max <= 0 || max > 20000 {
			max = 20000
		}
		body := []rune(resp.Body)
		out := output{URL: in.URL, Status: resp.Status, Truncated: resp.Truncated}
		if len(body) > max {
			body, out.Truncated = body[:max], true
		}
		out.Content = string(body)
		return out, nil
	})
}
