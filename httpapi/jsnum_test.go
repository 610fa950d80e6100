package httpapi

import (
	"math"
	"strings"
	"testing"
)

// The expectations were produced by running Nest 7.6's ParseIntPipe then
// DefaultValuePipe(0) on Node 20 with the same inputs.
func TestParseIndexParam(t *testing.T) {
	const fail = "fail"
	tests := []struct {
		in   string
		want string // JS String() of the result, or fail
	}{
		{"1", "1"}, {"20", "20"}, {"0", "0"}, {"-1", "-1"}, {"-0", "0"},
		{"1.5", "1"}, {"1.9", "1"},
		{" 12", "12"}, {"12 ", "12"}, {" 12 ", "12"}, {"\t7\n", "7"},
		{"\u00a03", "3"}, {"3\u3000", "3"}, {"\ufeff4", "4"}, {"\u20285", "5"},
		{"\u180e6", fail}, // not whitespace since Unicode 6.3
		{"abc", fail}, {"", fail}, {" ", fail}, {" \n ", fail},
		{"12abc", fail}, {"abc12", fail},
		{"1e3", "1"}, {"1E3", "1"}, {"1e-400", "1"}, {"1e400", fail}, {"1e21", "1"},
		{"99999999999999999999999", "1e+23"},
		{"0x10", "0"}, {"0X1f", "0"}, {"0o7", "0"}, {"0b11", "0"},
		{"0b2", fail}, {"0x", fail}, {"-0x10", fail},
		{"+5", "5"}, {"+-5", fail}, {"--5", fail}, {"+", fail},
		{".5", "0"}, {"-.5", "0"}, {"5.", "5"}, {".", fail}, {"+.5e3", "0"},
		{"Infinity", fail}, {"-Infinity", fail}, {"NaN", fail},
		{"1_000", fail}, {"\u0661", fail}, {"1n", fail},
		{"00012", "12"}, {"0012.5e1", "12"}, {"1.5e1", "1"}, {"12e", fail}, {"1e+2", "1"},
		{"9007199254740993", "9007199254740992"},
		{"123456789012345678901234567890", "1.2345678901234568e+29"},
		{"0x" + strings.Repeat("f", 300), fail},
		{"0b" + strings.Repeat("1", 1100), fail},
		{"0.0000001", "0"}, {"5e-1", "5"},
	}
	for _, tc := range tests {
		got, ok := parseIndexParam(tc.in)
		gotText := fail
		if ok {
			gotText = jsNumberToString(got)
		}
		if gotText != tc.want {
			t.Errorf("parseIndexParam(%q) = %s, want %s", tc.in, gotText, tc.want)
		}
	}
}

func TestIndexArgsKeepsOutcome(t *testing.T) {
	tests := []struct {
		from, to         float64
		wantFrom, wantTo int64
	}{
		{1, 20, 1, 20},
		{0, 20, 0, 20},
		{5, 2, 5, 2},
		{1, 1e22, 1, math.MaxInt64},
		{1e22, 1e22, math.MaxInt64, math.MaxInt64},
		// Both saturate, but the pair was reversed: it must stay reversed.
		{1e23, 1e22, math.MaxInt64, math.MaxInt64 - 1},
		{-1e22, -1e23, math.MinInt64 + 1, math.MinInt64},
	}
	for _, tc := range tests {
		f, to := indexArgs(tc.from, tc.to)
		if f != tc.wantFrom || to != tc.wantTo {
			t.Errorf("indexArgs(%g, %g) = (%d, %d), want (%d, %d)", tc.from, tc.to, f, to, tc.wantFrom, tc.wantTo)
		}
		if (tc.from > tc.to) != (f > to) || (tc.from <= 0) != (f <= 0) || (tc.to <= 0) != (to <= 0) {
			t.Errorf("indexArgs(%g, %g) = (%d, %d) changes the outcome of the range checks", tc.from, tc.to, f, to)
		}
	}
}

// Expectations from String(x) on Node 20.
func TestJSNumberToString(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {-1, "-1"}, {1.5, "1.5"}, {123, "123"},
		{1e21, "1e+21"}, {1e20, "100000000000000000000"}, {123456789012345680000, "123456789012345680000"},
		{1.2345678901234568e+29, "1.2345678901234568e+29"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"},
		{0.000001, "0.000001"}, {0.1, "0.1"}, {-0.5, "-0.5"}, {5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"}, {100, "100"}, {1234.5678, "1234.5678"},
		{9007199254740992, "9007199254740992"}, {0.30000000000000004, "0.30000000000000004"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {math.NaN(), "NaN"},
	}
	for _, tc := range tests {
		if got := jsNumberToString(tc.in); got != tc.want {
			t.Errorf("jsNumberToString(%g) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSingleQueryValue(t *testing.T) {
	tests := []struct {
		query string
		want  string
		ok    bool
	}{
		{"fromIndex=1&toIndex=20", "1", true},
		{"toIndex=20", "", false},
		{"", "", false},
		{"fromIndex=1&fromIndex=2", "", false},
		{"fromIndex=1&fromIndex", "", false},
		{"fromIndex", "", true},
		{"fromIndex[]=1", "", false},
		{"fromIndex[a]=1", "", false},
		{"fromIndex[=1", "", false}, // key "fromIndex[" is another name
		{"fromIndex]=1&fromIndex=3", "3", true},
		{"[fromIndex]=4", "4", true},     // qs: no parent, the group names the key
		{"[fromIndex][a]=4", "", false},  // ... and a second group nests
		{"[fromIndex]x=5", "5", true},    // text between groups is dropped
		{"from%49ndex=6", "6", true},     // keys are percent-decoded
		{"fromIndex=%37", "7", true},     // so are values
		{"fromIndex=%zz", "%zz", true},   // a bad escape is kept verbatim
		{"fromIndex=%FF", "%FF", true},   // as is an escape that is not UTF-8
		{"fromIndex=1+2", "1 2", true},   // '+' is a space
		{"fromIndex=a=b", "a=b", true},   // the first '=' splits
		{"fromIndex]=1", "", false},      // "fromIndex]" is another name
		{"x=1;fromIndex=2", "", false},   // ';' is not a separator
		{"&&fromIndex=8&&", "8", true},   // empty parts are skipped
		{"fromIndex%5B%5D=1", "", false}, // brackets may be encoded
	}
	for _, tc := range tests {
		got, ok := singleQueryValue(tc.query, "fromIndex")
		if got != tc.want || ok != tc.ok {
			t.Errorf("singleQueryValue(%q) = (%q, %v), want (%q, %v)", tc.query, got, ok, tc.want, tc.ok)
		}
	}

	// Only the first 1000 parts count, as with qs's parameterLimit.
	padded := strings.Repeat("a=1&", queryParamLimit) + "fromIndex=1"
	if _, ok := singleQueryValue(padded, "fromIndex"); ok {
		t.Error("a parameter after the 1000th part was read")
	}
}
