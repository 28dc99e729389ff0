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
//     French, Spanish, Italian, Dutch and Portuguese, and for the main
//     concepts in 20 more languages (lexicon_more.go; Chinese and
//     Japanese runs, written without spaces, are split into the lexicon's
//     words, wide.go), matched with small gaps within one sentence, plus
//     chat-template and delimiter markers.
//     Weights are log-odds; the strongest rule of each category counts.
//     Phrases quoted (quotation marks, HTML code spans) or introduced by a
//     cue word ("such as", "like", "z. B.") in text that discusses attacks
//     (training material, tickets), and phrases right after a negation,
//     weigh less;
//   - a logistic-regression classifier (model.go) over hashed character
//     3–5-grams and word uni- and bigrams of the normalised words (and,
//     for data, a data-only copy of the word features), with the rules'
//     weight per category as learned features, scored in sentence windows
//     (up to three sentences; the most suspicious window counts), trained
//     by `go generate ./internal/injection` from the training split of
//     testdata/corpus.jsonl and the public training data in
//     $KOMAND_TRAINING_DATA (train.go; docs/injection.md), and embedded
//     (model.bin). Attacked documents train with the inserted attack's
//     span: the windows over it are positives, the rest of the document
//     negatives, so being an e-mail or a table is not what is learnt.
//
// The score is calibrated per source (Platt scaling on the scores of
// leave-one-source-out folds), so it reads as a probability and the
// default policy's thresholds (DefaultThresholds) are operating points
// measured on sources the model never saw.
//
// Screen is one pass over the text for each signal, with its buffers
// reused between calls (pooled scratch): ASCII runs skip the
// Unicode folding, words are looked up in a byte trie of the lexicon,
// markers are found from their first byte or colon, and only chunks that
// can hold an encoding (16+ bytes without a space, or a '%' or '\') are
// scanned for one.
//
// Sources weigh differently: data (skill output, external content) is
// scored twice, as a user's message and as data (with the data-only rules,
// such as text that addresses "the AI reading this", its own weights and
// its own calibration), and its score is the higher of the two, so the
// same words never score lower in data than from a user. The result is a
// score in [0, 1], a verdict of "injection" from the source's default warn threshold
// (where a detection is recorded; unless Options say otherwise: the
// tenant's Policy decides whether a detection is warned about or blocked), categories and
// spans with byte offsets into the original text. Remote adds an optional
// external classifier.
//
// Policy is the tenant's block/warn/escalate document; the session package
// applies it. WrapData, Neutralize and ScrubPrompt are the controls that
// hold when the detector misses: untrusted text reaches the model only in
// a data block with a random boundary, with template tokens defused, and
// without the agent's system prompt.
package injection
