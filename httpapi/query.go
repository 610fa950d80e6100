package httpapi

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// Express parses query strings (and body-parser urlencoded bodies) with qs.
// Only one question matters here: is a parameter a single plain string? qs
// turns a repeated key into an array and a bracketed key ("fromIndex[]",
// "fromIndex[a]") into an array or object, and both then fail
// ParseIntPipe's typeof check.

type qsPair struct{ key, value string }

// qsPairs splits like qs.parse: '&'-separated, first "]=" or "=" splits key
// from value, a part without "=" has the value "", '+' is a space, and a
// part whose percent-decoding fails is kept as is. Only the first limit
// parts count (qs's parameterLimit).
func qsPairs(s string, limit int) []qsPair {
	parts := strings.SplitN(s, "&", limit+1)
	if len(parts) > limit {
		parts = parts[:limit]
	}
	out := make([]qsPair, 0, len(parts))
	for _, part := range parts {
		if part == "" {
			continue
		}
		pos := strings.Index(part, "]=")
		if pos >= 0 {
			pos++
		} else {
			pos = strings.IndexByte(part, '=')
		}
		if pos < 0 {
			out = append(out, qsPair{key: qsDecode(part)})
			continue
		}
		out = append(out, qsPair{key: qsDecode(part[:pos]), value: qsDecode(part[pos+1:])})
	}
	return out
}

// qsDecode is qs's decoder: '+' to space, then decodeURIComponent, keeping
// the input when that throws.
func qsDecode(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if d, ok := decodeURIComponent(s); ok {
		return d
	}
	return s
}

// decodeURIComponent fails, like JavaScript's, on a malformed escape or on
// escapes that do not form valid UTF-8.
func decodeURIComponent(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	d, err := url.PathUnescape(s)
	if err != nil || !utf8.ValidString(d) {
		return "", false
	}
	return d, true
}

// qsParent returns the top-level name a qs key assigns to, and whether the
// key nests below it. qs splits a key into the text before its first
// complete "[...]" group and the groups; with no text before, the first
// group's content is the name ("[a]=1" sets a to "1").
func qsParent(key string) (name string, nested bool) {
	start, end := nextBracketGroup(key, 0)
	if start < 0 {
		return key, false
	}
	if start > 0 {
		return key[:start], true
	}
	next, _ := nextBracketGroup(key, end)
	return key[1 : end-1], next >= 0
}

// nextBracketGroup finds the first "[...]" (no brackets inside) at or after
// from and returns its bounds, or -1.
func nextBracketGroup(key string, from int) (start, end int) {
	for i := from; i < len(key); i++ {
		if key[i] != '[' {
			continue
		}
		j := i + 1
		for j < len(key) && key[j] != '[' && key[j] != ']' {
			j++
		}
		if j < len(key) && key[j] == ']' {
			return i, j + 1
		}
	}
	return -1, -1
}

// queryParamLimit is Express's qs parameterLimit for query strings.
const queryParamLimit = 1000

// singleQueryValue returns the value of name when the query string gives it
// exactly once as a plain string, which is the only shape ParseIntPipe
// accepts.
func singleQueryValue(rawQuery, name string) (string, bool) {
	value, count := "", 0
	for _, p := range qsPairs(rawQuery, queryParamLimit) {
		parent, nested := qsParent(p.key)
		if parent != name {
			continue
		}
		if nested {
			return "", false
		}
		value = p.value
		count++
	}
	if count != 1 {
		return "", false
	}
	return value, true
}
