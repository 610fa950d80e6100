package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestAppendIsEncodingJSONWithoutHTMLEscaping: the same bytes as
// encoding/json's encoder with SetEscapeHTML(false).
func TestAppendIsEncodingJSONWithoutHTMLEscaping(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r\b\f", "\x00\x1f\x7f",
		"<a href='x'>&</a>", "line\u2028para\u2029", "é 漢 🎉", "bad \xff utf-8 \xc3",
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := Append([]byte("x"), s); string(got) != "x"+string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("Append(%q) = %s, encoding/json %s", s, got[1:], want.Bytes())
		}
	}
}
