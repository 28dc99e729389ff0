// Command crm-contact-lookup is an example Komand skill: it finds contacts
// in the tenant's Komand CRM through the "database" platform tool, which
// it declares (declaredToolAccess) and which needs crm:read granted. The
// skill never sees a database, a connection string or another tenant.
package main

import (
	"errors"
	"strings"

	"github.com/komand-ai/komand/sdk/skill"
)

type input struct {
	Query string `json:"query"`
	Limit int    `json:"limit"`
}

type contact struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Company string `json:"company,omitempty"`
}

type output struct {
	Contacts []contact `json:"contacts"`
	Count    int       `json:"count"`
}

func main() {
	skill.Run(func(c *skill.Context, in input) (output, error) {
		q := strings.TrimSpace(in.Query)
		if q == "" {
			return output{}, errors.New("give a name, e-mail or company to look for")
		}
		limit := in.Limit
		if limit <= 0 || limit > 20 {
			limit = 10
		}
		var res struct {
			Contacts []contact `json:"contacts"`
		}
		if err := c.Tool("database", map[string]any{"query": q, "limit": limit}, &res); err != nil {
			return output{}, err
		}
		if res.Contacts == nil {
			res.Contacts = []contact{}
		}
		return output{Contacts: res.Contacts, Count: len(res.Contacts)}, nil
	})
}
