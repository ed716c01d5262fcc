package audit

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// bareLabel is a node's label without a leading word that repeats its
// kind ("spec fraud.cue" of a spec is "fraud.cue", a run labelled "run"
// is ""): the kind is shown beside it.
func bareLabel(n Node) string {
	if n.Label == n.Kind {
		return ""
	}
	if s, ok := strings.CutPrefix(n.Label, n.Kind+" "); ok {
		return s
	}
	return n.Label
}

// kindLabel names a node by its kind and bare label, each word once:
// "run e2e", "dataset raw". It holds the whole label.
func kindLabel(n Node) string {
	if b := bareLabel(n); b != "" {
		return n.Kind + " " + b
	}
	return n.Kind
}

// longHex is a run of hex digits long enough to be a digest or a commit.
var longHex = regexp.MustCompile(`[0-9a-f]{40,}`)

// shortHex is how many hex digits a shortened digest keeps.
const shortHex = 12

// shortDigests shortens every digest or commit in s to its first 12 hex
// digits and "…" (sha256:0123456789ab…): cut at the end, never in the
// middle. It reports whether it shortened anything.
func shortDigests(s string) (string, bool) {
	if !longHex.MatchString(s) {
		return s, false
	}
	return longHex.ReplaceAllStringFunc(s, func(h string) string { return h[:shortHex] + "…" }), true
}

// unbreakable matches what wrapping keeps on one line: a digest, whole
// or shortened, with its algorithm.
var unbreakable = regexp.MustCompile(`(?:[a-zA-Z0-9]+:)?[0-9a-f]{12,}…?`)

// wrapText breaks s into lines of at most width runes: at spaces, then
// inside a longer word after one of / @ : , = _ ; never inside a
// digest unless the digest alone is wider than the line.
func wrapText(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		for utf8.RuneCountInString(w) > width {
			if line != "" {
				lines, line = append(lines, line), ""
			}
			head, rest := splitWord(w, width)
			lines, w = append(lines, head), rest
		}
		switch {
		case line == "":
			line = w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			lines, line = append(lines, line), w
		}
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

// splitWord splits a word wider than width at the last break after a
// separator that fits, outside digests; else at width, moved back to
// the start of a digest it would cut.
func splitWord(w string, width int) (string, string) {
	r := []rune(w)
	keep := make([]bool, len(r)+1) // keep[i]: no break before rune i
	for _, m := range unbreakable.FindAllStringIndex(w, -1) {
		from, to := utf8.RuneCountInString(w[:m[0]]), utf8.RuneCountInString(w[:m[1]])
		for i := from + 1; i < to; i++ {
			keep[i] = true
		}
	}
	for i := width; i > 0; i-- {
		if !keep[i] && strings.ContainsRune("/@:,=_", r[i-1]) {
			return string(r[:i]), string(r[i:])
		}
	}
	i := width
	for i > 0 && keep[i] {
		i--
	}
	if i == 0 {
		i = width
	}
	return string(r[:i]), string(r[i:])
}
