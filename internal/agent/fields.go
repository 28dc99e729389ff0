package agent

import (
	"slices"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// apply validates the fields set in in and copies them onto a.
func apply(a *store.Agent, in Input) error {
	if in.Name != nil {
		if err := validate.Name("name", *in.Name, validate.MaxNameLen); err != nil {
			return err
		}
		a.Name = *in.Name
	}
	if in.ClearDescription {
		if in.Description != nil {
			return apperr.Field("description", "cannot be both set and cleared")
		}
		a.Description = nil
	}
	if in.Description != nil {
		if err := validate.First(validate.MaxLen("description", *in.Description, validate.MaxShortText),
			validate.Prose("description", *in.Description)); err != nil {
			return err
		}
		d := *in.Description
		a.Description = &d
	}
	if in.SystemPrompt != nil {
		if err := validate.First(validate.Text("systemPrompt", *in.SystemPrompt, validate.MaxLongText),
			validate.Prose("systemPrompt", *in.SystemPrompt)); err != nil {
			return err
		}
		a.SystemPrompt = *in.SystemPrompt
	}
	if in.ModelProvider != nil {
		if !slices.Contains(Providers, *in.ModelProvider) {
			return apperr.Field("modelProvider", "must be one of anthropic, openai")
		}
		a.ModelProvider = *in.ModelProvider
	}
	if in.ModelID != nil {
		if err := validate.Name("modelId", *in.ModelID, validate.MaxNameLen); err != nil {
			return err
		}
		a.ModelID = *in.ModelID
	}
	if in.MaxContextTokens != nil {
		if err := validate.IntRange("maxContextTokens", *in.MaxContextTokens, MinContextTokens, MaxContextTokensLimit); err != nil {
			return err
		}
		a.MaxContextTokens = *in.MaxContextTokens
	}
	if in.EnabledSkillIDs != nil {
		ids, err := uniqueList("enabledSkillIds", in.EnabledSkillIDs, func(f, v string) error {
			return validate.Slug(f, v, validate.MaxIDLen)
		})
		if err != nil {
			return err
		}
		a.EnabledSkillIDs = ids
	}
	if in.AllowedChannels != nil {
		chs, err := uniqueList("allowedChannels", in.AllowedChannels, func(f, v string) error {
			if !slices.Contains(Channels, v) {
				return apperr.Field(f, "names an unknown channel")
			}
			return nil
		})
		if err != nil {
			return err
		}
		a.AllowedChannels = chs
	}
	if in.Limits != nil {
		if err := validLimits(*in.Limits); err != nil {
			return err
		}
		a.Limits = *in.Limits
	}
	return nil
}

func uniqueList(field string, in []string, check func(field, v string) error) ([]string, error) {
	if len(in) > MaxListItems {
		return nil, apperr.Field(field, "has too many items")
	}
	out := make([]string, 0, len(in))
	for _, v := range in {
		if err := check(field, v); err != nil {
			return nil, err
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// changed lists the fields that differ between old and new (all set fields
// when old is nil). Values are not recorded: a system prompt can be long and
// may hold business data the audit log has no need for.
func changed(old, new *store.Agent) []string {
	var f []string
	if old == nil {
		old = &store.Agent{}
	}
	add := func(name string, diff bool) {
		if diff {
			f = append(f, name)
		}
	}
	add("name", old.Name != new.Name)
	add("description", !equalPtr(old.Description, new.Description))
	add("systemPrompt", old.SystemPrompt != new.SystemPrompt)
	add("modelProvider", old.ModelProvider != new.ModelProvider)
	add("modelId", old.ModelID != new.ModelID)
	add("maxContextTokens", old.MaxContextTokens != new.MaxContextTokens)
	add("enabledSkillIds", !slices.Equal(old.EnabledSkillIDs, new.EnabledSkillIDs))
	add("allowedChannels", !slices.Equal(old.AllowedChannels, new.AllowedChannels))
	add("limits", old.Limits != new.Limits)
	if f == nil {
		f = []string{}
	}
	return f
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
