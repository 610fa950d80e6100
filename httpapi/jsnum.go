package httpapi

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// This file reimplements the JavaScript number conversions the original's
// query and body handling relied on, so that odd inputs ("1.5", " 12",
// "0x10", "1e3") get the same answers.

// isJSWhitespace reports StrWhiteSpaceChar: ECMAScript WhiteSpace (including
// every Zs space) and LineTerminator, which Number() and parseInt() skip.
func isJSWhitespace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x00A0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// parseIndexParam is Nest 7's ParseIntPipe followed by DefaultValuePipe(0),
// as the original applied them to fromIndex and toIndex:
//
//	isNumeric = typeof v === 'string' && !isNaN(parseFloat(v)) && isFinite(v)
//	result    = parseInt(v, 10), and NaN becomes 0
//
// ok is false when the pipe would answer "Validation failed (numeric string
// is expected)". The result is an integer-valued float64 (JS number).
func parseIndexParam(v string) (value float64, ok bool) {
	trimmed := strings.TrimFunc(v, isJSWhitespace)
	if trimmed == "" {
		// Number("  ") is 0, but parseFloat("  ") is NaN.
		return 0, false
	}
	n, isNumber := jsStringToNumber(trimmed)
	if !isNumber || math.IsInf(n, 0) {
		return 0, false
	}
	// A finite, non-empty numeric literal always has a parseFloat prefix
	// (decimal digits, or the "0" of 0x/0o/0b), so isNaN(parseFloat(v)) is
	// false here and needs no separate check.
	n, isNumber = jsParseInt10(v)
	if !isNumber {
		return 0, true
	}
	return n, true
}

// jsStringToNumber is Number(s) for an already trimmed, non-empty s: the
// StringNumericLiteral grammar. ok is false where JS gives NaN.
func jsStringToNumber(s string) (float64, bool) {
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			return parseNonDecimal(s[2:], base)
		}
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	if body == "Infinity" {
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	if !isStrUnsignedDecimalLiteral(body) {
		return 0, false
	}
	// The grammar check above guarantees Go's parser accepts the text and
	// reads it the same way; overflow yields ±Inf, like JS.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// isStrUnsignedDecimalLiteral checks: digits [. digits?] [exp] | . digits [exp]
func isStrUnsignedDecimalLiteral(s string) bool {
	i := 0
	intDigits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		intDigits++
	}
	fracDigits := 0
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			fracDigits++
		}
	}
	if intDigits == 0 && fracDigits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		expDigits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			expDigits++
		}
		if expDigits == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseNonDecimal reads 0x/0o/0b digits with round-to-nearest like JS.
func parseNonDecimal(digits string, base int) (float64, bool) {
	for _, c := range digits {
		if v := hexValue(int(c)); v < 0 || v >= base {
			return 0, false
		}
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return 0, false
	}
	f, _ := new(big.Float).SetInt(n).Float64()
	return f, true
}

// jsParseInt10 is parseInt(s, 10): leading whitespace, an optional sign,
// then the longest run of decimal digits. ok is false where JS gives NaN.
func jsParseInt10(s string) (float64, bool) {
	s = strings.TrimLeftFunc(s, isJSWhitespace)
	negative := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		negative = s[0] == '-'
		s = s[1:]
	}
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	if negative {
		f = -f
	}
	return f, true
}

// indexArgs turns the two JS numbers into the int64 arguments of
// Service.Messages without changing the outcome of its checks: values beyond
// int64 saturate, and a reversed pair that saturates to equal values is kept
// reversed so it still fails the "not less than" check.
func indexArgs(from, to float64) (int64, int64) {
	f, t := saturateInt64(from), saturateInt64(to)
	if from > to && f == t {
		if t == math.MinInt64 {
			f = t + 1
		} else {
			t--
		}
	}
	return f, t
}

func saturateInt64(f float64) int64 {
	switch {
	case f >= math.MaxInt64: // 2^63 after rounding
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	default:
		return int64(f)
	}
}

// jsNumberToString is Number.prototype.toString() for finite numbers: the
// shortest round-tripping digits, in fixed notation for 1e-7 <= |x| < 1e21
// and exponential notation otherwise.
func jsNumberToString(f float64) string {
	if f == 0 {
		return "0" // also for -0
	}
	if math.IsNaN(f) {
		return "NaN"
	}
	if math.IsInf(f, 0) {
		if f < 0 {
			return "-Infinity"
		}
		return "Infinity"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// 'e' with precision -1 gives the shortest digits: d.ddde±x.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mantissa, expText, _ := strings.Cut(e, "e")
	digits := strings.Replace(mantissa, ".", "", 1)
	exp, _ := strconv.Atoi(expText)
	k := len(digits)
	n := exp + 1 // position of the decimal point relative to the digits
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	expSign := "+"
	if n-1 < 0 {
		expSign = "-"
	}
	absExp := strconv.Itoa(abs(n - 1))
	if k == 1 {
		return sign + digits + "e" + expSign + absExp
	}
	return sign + digits[:1] + "." + digits[1:] + "e" + expSign + absExp
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
