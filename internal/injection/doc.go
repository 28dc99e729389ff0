// Package injection is Komand's prompt-injection detector and the
// deterministic controls that do not depend on it (security.md, "Prompt
// Injection Detection").
//
// Screen normalises text first (Unicode NFKD with marks dropped,
// Cyrillic/Greek/full-width/mathematical look-alikes folded to Latin,
// zero-width and bidi controls removed, spaced-out letters joined,
// leetspeak read as letters), decodes embedded base64, hex, URL-encoded,
// reversed and ROT13 text and screens each decoded span too, then scores
// it with two kinds of evidence:
//
//   - rules: short sequences of concepts ("ignore" … "previous" …
//     "instructions"), each concept a word list in English, German,
//     French, Spanish, Italian, Dutch and Portuguese, matched with small
//     gaps within one sentence, plus chat-template and delimiter markers.
//     Weights are log-odds; the strongest rule of each category counts.
//     Phrases quoted (quotation marks, HTML code spans) or introduced by a
//     cue word ("such as", "like", "z. B.") in text that discusses attacks
//     (training material, tickets), and phrases right after a negation,
//     weigh less;
//   - a logistic-regression classifier over hashed character 3–5-grams of
//     the normalised words, trained by `go generate ./internal/injection`
//     from testdata/corpus.jsonl (its training split, with the L2
//     strength chosen by 5-fold cross-validation on that split) with the
//     rules as a fixed offset, and embedded (model.bin). Long text is
//     scored in windows; the most suspicious window counts.
//
// Screen is one pass over the text for each signal, with its buffers
// reused between calls (pooled scratch): ASCII runs skip the
// Unicode folding, words are looked up in a byte trie of the lexicon,
// markers are found from their first byte or colon, and only chunks that
// can hold an encoding (16+ bytes without a space, or a '%' or '\') are
// scanned for one.
//
// Sources weigh differently: the same words count more in skill output and
// external data than in a user's message, and some rules (text that
// addresses "the AI reading this") count only in data. The result is a
// score in [0, 1], a verdict at the threshold (DefaultThreshold unless the
// tenant's Policy says otherwise), categories and spans with byte offsets
// into the original text. Remote adds an optional external classifier.
//
// Policy is the tenant's block/warn/escalate document; the session package
// applies it. WrapData, Neutralize and ScrubPrompt are the controls that
// hold when the detector misses: untrusted text reaches the model only in
// a data block with a random boundary, with template tokens defused, and
// without the agent's system prompt.
package injection
