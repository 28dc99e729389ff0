package skill

import (
	"strings"
	"testing"
)

func contractWith(edit string) []byte {
	base := `{"skillId":"crm-lookup","name":"CRM","description":"Looks up","version":"1.2.3","publisherId":"komand-official",
		"inputSchema":{"type":"object"},"outputSchema":{"type":"object"},"requiredPermissions":[],"declaredToolAccess":[]`
	return []byte(base + edit + "}")
}

func TestParseContract(t *testing.T) {
	c, err := ParseContract(contractWith(`,"requiredPermissions":["crm:read",{"resource":"network","access":"outbound","scope":"API.Example.com."},"network:outbound:*.example.org"]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := permStrings(c.RequiredPermissions); strings.Join(got, " ") != "crm:read network:outbound:api.example.com network:outbound:*.example.org" {
		t.Fatalf("permissions %v", got)
	}
	if c.Runtime != RuntimeWASM {
		t.Fatalf("runtime %q", c.Runtime)
	}
	for name, raw := range map[string][]byte{
		"isVerified from the submitter":    contractWith(`,"isVerified":true`),
		"signatureHash from the submitter": contractWith(`,"signatureHash":"sha256:00"`),
		"traversal skillId":                []byte(strings.Replace(string(contractWith("")), `"crm-lookup"`, `"../../etc"`, 1)),
		"upper-case skillId":               []byte(strings.Replace(string(contractWith("")), `"crm-lookup"`, `"CRM"`, 1)),
		"version with v":                   []byte(strings.Replace(string(contractWith("")), `"1.2.3"`, `"v1.2.3"`, 1)),
		"pre-release version":              []byte(strings.Replace(string(contractWith("")), `"1.2.3"`, `"1.2.3-rc1"`, 1)),
		"leading zero":                     []byte(strings.Replace(string(contractWith("")), `"1.2.3"`, `"01.2.3"`, 1)),
		"network without host":             contractWith(`,"requiredPermissions":["network:outbound"]`),
		"wildcard top-level":               contractWith(`,"requiredPermissions":["network:outbound:*.com"]`),
		"bare wildcard":                    contractWith(`,"requiredPermissions":["network:outbound:*"]`),
		"host with a path":                 contractWith(`,"requiredPermissions":["network:outbound:example.com/admin"]`),
		"duplicate permission":             contractWith(`,"requiredPermissions":["crm:read","crm:read"]`),
		"bad permission":                   contractWith(`,"requiredPermissions":["crm"]`),
		"tool without its grant":           contractWith(`,"declaredToolAccess":["database"]`),
		"unknown tool":                     contractWith(`,"declaredToolAccess":["shell"]`),
		"unknown runtime":                  contractWith(`,"runtime":"host"`),
		"timeout past 30 minutes":          contractWith(`,"limits":{"timeoutSeconds":1801}`),
		"schema with remote $ref":          []byte(strings.Replace(string(contractWith("")), `"inputSchema":{"type":"object"}`, `"inputSchema":{"type":"object","$ref":"https://evil.example/s.json"}`, 1)),
		"non-object input schema":          []byte(strings.Replace(string(contractWith("")), `"inputSchema":{"type":"object"}`, `"inputSchema":{"type":"string"}`, 1)),
		"control characters":               []byte(strings.Replace(string(contractWith("")), `"Looks up"`, `"Looks\u001b[2J up"`, 1)),
		"trailing data":                    append(contractWith(""), []byte(`{}`)...),
	} {
		if _, err := ParseContract(raw); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestContractDisplayFields (issue 15): a skill's name and description,
// shown in the registry, the console and the model's tool list, follow
// validate's rule for human-readable text; the message names the field.
func TestContractDisplayFields(t *testing.T) {
	replace := func(old, new string) []byte {
		return []byte(strings.Replace(string(contractWith("")), old, new, 1))
	}
	for raw, field := range map[string]string{
		string(replace(`"CRM"`, `"CRM\u202eevil"`)):       "name",
		string(replace(`"CRM"`, `"C\u200bRM"`)):           "name",
		string(replace(`"CRM"`, `"CRM\nline"`)):           "name",
		string(replace(`"CRM"`, `"C\u0000RM"`)):           "name",
		string(replace(`"Looks up"`, `"Looks\u2067 up"`)): "description",
		string(replace(`"Looks up"`, `"Looks\ufeff up"`)): "description",
		string(replace(`"Looks up"`, `"Looks\r up"`)):     "description",
		string(replace(`"Looks up"`, `"Looks\u0085 up"`)): "description",
	} {
		_, err := ParseContract([]byte(raw))
		if err == nil || !strings.HasPrefix(err.Error(), field+": must ") {
			t.Errorf("%s: %v, want a refusal naming %s", raw, err, field)
		}
	}
	if _, err := ParseContract(replace(`"Looks up"`, `"Looks up\ncontacts\tby name \u200f"`)); err != nil {
		t.Errorf("a multi-line description was refused: %v", err)
	}
}
