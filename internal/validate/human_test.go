package validate

import (
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/apperr"
)

// TestHumanTextHostile: what an attacker puts in a display name to hide,
// reorder or spoof text is refused, in both strictness levels, with the
// field named.
func TestHumanTextHostile(t *testing.T) {
	for name, v := range map[string]string{
		"NUL":                   "a\x00b",
		"BEL":                   "a\x07b",
		"ESC (terminal escape)": "a\x1b[31mb",
		"DEL":                   "a\x7fb",
		"C1 NEL":                "a\u0085b",
		"C1 CSI":                "a\u009bb",
		"lone CR":               "a\rb",
		"CR at the end":         "ab\r",
		"LRE":                   "a\u202ab",
		"RLE":                   "a\u202bb",
		"PDF":                   "a\u202cb",
		"LRO":                   "a\u202db",
		"RLO (Trojan Source)":   "invoice\u202egpj.exe",
		"LRI":                   "a\u2066b",
		"RLI":                   "a\u2067b",
		"FSI":                   "a\u2068b",
		"PDI":                   "a\u2069b",
		"ZWSP":                  "ad\u200bmin",
		"word joiner":           "ad\u2060min",
		"invisible times":       "a\u2062b",
		"BOM":                   "\ufeffadmin",
		"soft hyphen":           "ad\u00admin",
		"Mongolian vowel sep.":  "a\u180eb",
		"CGJ":                   "a\u034fb",
		"Hangul filler":         "\u3164",
		"Hangul choseong fill.": "a\u115fb",
		"tag characters":        "hi\U000e0069\U000e0067\U000e006e\U000e006f\U000e0072\U000e0065",
		"interlinear anchor":    "a\ufff9b",
		"line separator":        "a\u2028b",
		"paragraph separator":   "a\u2029b",
		"ZWJ between Latin":     "ad\u200dmin",
		"ZWNJ between Latin":    "ad\u200cmin",
		"ZWJ at the start":      "\u200dadmin",
		"ZWJ at the end":        "admin\u200d",
		"ZWJ Latin after emoji": "\U0001f469\u200da",
		"ZWJ across scripts":    "\u0645\u200c\u0915",
		"ZWNJ before Latin":     "\u0645\u200cab",
		"two ZWNJ":              "\u0645\u200c\u200c\u06cc",
		"invalid UTF-8":         "a\xffb",
	} {
		for _, check := range []func(string, string) error{Line, Prose} {
			err := check("name", v)
			pe, ok := apperr.As(err)
			if !ok || pe.Kind != apperr.Invalid || pe.Field != "name" || !strings.HasPrefix(pe.Message, "name: must ") {
				t.Errorf("%s (%q): %v, want a validation error naming the field", name, v, err)
			}
		}
	}
}

// TestLineRefusesWhatProseAllows: tabs, newlines and the bidi marks are
// for multi-line text only.
func TestLineRefusesWhatProseAllows(t *testing.T) {
	for _, v := range []string{"a\nb", "a\tb", "a\r\nb", "\u05e9\u05dc\u05d5\u05dd\u200f!", "a\u200eb", "\u0627\u061c1"} {
		if err := Line("name", v); err == nil {
			t.Errorf("Line accepted %q", v)
		}
		if err := Prose("description", v); err != nil {
			t.Errorf("Prose refused %q: %v", v, err)
		}
	}
}

// TestHumanTextLanguages: real names and text in scripts that need
// joiners, combining marks or emoji sequences pass both levels.
func TestHumanTextLanguages(t *testing.T) {
	for name, v := range map[string]string{
		"Latin accents":         "Zoë Ångström-Núñez",
		"decomposed accent":     "Zoe\u0308",
		"Persian with ZWNJ":     "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", // می‌خواهم
		"Persian ZWNJ after ha": "\u062e\u0627\u0646\u0647\u200c\u0627\u06cc",       // خانه‌ای
		"Hindi with ZWJ":        "\u0915\u094d\u200d\u0937",                         // क्‍ष
		"Hindi with ZWNJ":       "\u0915\u094d\u200c\u0937",                         // क्‌ष
		"chillu at a word end":  "\u0d28\u0d4d\u200d \u0d28\u0d4d\u200d",
		"Malayalam chillu ZWJ":  "\u0d28\u0d4d\u200d\u0d28",
		"Sinhala yansaya":       "\u0dc1\u0dca\u200d\u0dbb\u0dd3", // ශ්‍රී
		"Arabic":                "\u0645\u062d\u0645\u062f",
		"Hebrew":                "\u05e9\u05dc\u05d5\u05dd",
		"CJK":                   "\u6771\u4eac\u30b5\u30dd\u30fc\u30c8",
		"Korean":                "\ud55c\uad6d\uc5b4",
		"emoji ZWJ sequence":    "Dev team \U0001f469\u200d\U0001f4bb",
		"emoji with skin tone":  "\U0001f468\U0001f3fd\u200d\U0001f52c lab",
		"emoji with VS16":       "\u2764\ufe0f\u200d\U0001f525",
		"rainbow flag":          "\U0001f3f3\ufe0f\u200d\U0001f308",
		"Arabic number sign":    "\u0600\u0661\u0662",
		"plain":                 "Support (EU) #2 – 24/7",
	} {
		for _, check := range []func(string, string) error{Line, Prose} {
			if err := check("name", v); err != nil {
				t.Errorf("%s (%q): %v", name, v, err)
			}
		}
	}
}

// TestName: required, bounded, and Line.
func TestName(t *testing.T) {
	if err := Name("name", "Support", 10); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "   ", strings.Repeat("a", 11), "a\u202eb", "a\nb"} {
		if Name("name", v, 10) == nil {
			t.Errorf("Name accepted %q", v)
		}
	}
}

// TestStripLine: a platform-supplied name loses what Line refuses and
// keeps its visible text, joiners a language needs included.
func TestStripLine(t *testing.T) {
	for in, want := range map[string]string{
		"Eve\u202egnp.exe":         "Evegnp.exe",
		"ad\u200bmin\u200d":        "admin",
		"a\x00b\nc\u2066d":         "abcd",
		"\u0645\u06cc\u200c\u062e": "\u0645\u06cc\u200c\u062e",
		"Zoë":                      "Zoë",
		"a\xffb":                   "a\ufffdb",
	} {
		got := StripLine(in)
		if got != want || Line("name", got) != nil {
			t.Errorf("StripLine(%q) = %q, want %q", in, got, want)
		}
	}
}
